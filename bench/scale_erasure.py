"""bench/scale.py's erasure stage: a confirmed erasure in the large collection, timed from approval.

For each round, one real lfw-dev person (a different one each round): their photos but one are
ingested into the collection with the real models (new bytes, so never a duplicate of an earlier
run), an erasure request is made with the remaining photo as the selfie and searched like any
other (``request_search_run``), a reviewer confirms the person's candidates and rejects the rest,
and the clock starts. Then what the worker does once the approval's task reaches it:
``request_fulfil_run`` claims the request, deletes the images (files, rows, index segments
rewritten), searches again to verify, and issues the certificate. The broker's hand-over to the
worker is not in the figure (on Redis a few milliseconds); everything after it is.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

LFW = Path(__file__).resolve().parent.parent.parent / "shared" / "faces" / "lfw-dev"


def _people(count: int, *, photos: int) -> list[list[Path]]:
    """``count`` people of lfw-dev with at least ``photos`` photos each (their first ``photos``)."""
    people = []
    for folder in sorted(p for p in LFW.iterdir() if p.is_dir()):
        images = sorted(folder.glob("*.jpg"))
        if len(images) >= photos:
            people.append(images[:photos])
        if len(people) == count:
            break
    return people


def _erasure_round(photos: list[Path], tag: str) -> dict[str, float | int]:
    from django.contrib.auth.models import Permission, User

    from matching.services.imaging import image_decode
    from matching.services.ingestion import ADDED, IngestItem, images_ingest
    from rights.models import Answer, RequestKind, RequestStatus
    from rights.pipeline.fulfil import request_fulfil_run
    from rights.pipeline.search import request_search_run
    from rights.staff.review import matches_decide, request_approve
    from tests.factories import request_make

    items = [IngestItem(name=p.name, data=p.read_bytes() + tag.encode()) for p in photos[1:]]
    theirs = {o.image_id for o in images_ingest(items=items) if o.status == ADDED}
    staff, created = User.objects.get_or_create(username="bench_reviewer", defaults={"is_staff": True})
    if created:
        staff.user_permissions.add(
            *Permission.objects.filter(codename__in=["review_match", "approve_request"])
        )
    staff = User.objects.get(pk=staff.pk)
    selfie = image_decode(data=photos[0].read_bytes()).clean_bytes
    request = request_make(kind=RequestKind.ERASURE, status=RequestStatus.QUEUED, selfies=[selfie])
    search_start = time.perf_counter()
    request_search_run(request_id=request.id)
    search_s = time.perf_counter() - search_start
    pending = list(request.matches.filter(decision="pending").exclude(band="match"))
    confirm = [m.id for m in pending if m.image_id in theirs]
    reject = [m.id for m in pending if m.image_id not in theirs]
    if confirm:
        matches_decide(match_ids=confirm, decision="confirmed", user=staff)
    if reject:
        matches_decide(match_ids=reject, decision="rejected", user=staff)

    start = time.perf_counter()
    request.refresh_from_db()
    if request.status == RequestStatus.REVIEW:
        request_approve(request_id=request.id, user=staff)
    approved_s = time.perf_counter() - start
    outcome = request_fulfil_run(request_id=request.id)
    total_s = time.perf_counter() - start

    request.refresh_from_db()
    if request.status != RequestStatus.ANSWERED:
        raise SystemExit(f"erasure did not complete: {outcome}, {request.status}, {request.hold_reason!r}")
    certificate = Answer.objects.get(request=request, kind=Answer.Kind.ERASURE_CERTIFICATE)
    verification = certificate.payload["verification"]
    if verification["images_found_after"] != 0:
        raise SystemExit(f"erasure not verified: {verification}")
    return {
        "approval_to_certificate_s": total_s,
        "approve_s": approved_s,
        "search_s": search_s,
        "images_ingested": len(theirs),
        "images_erased": int(certificate.payload["erased_count"]),
        "collection_after": int(verification["collection_size_after"]),
    }


def erasure_measure(*, rounds: int = 3, photos: int = 6) -> dict[str, object]:
    """The figures of ``rounds`` confirmed erasures (median and worst), each of one person's photos."""
    runs = [
        _erasure_round(person, f"erasure-bench-{time.time_ns()}") for person in _people(rounds, photos=photos)
    ]
    times = [r["approval_to_certificate_s"] for r in runs]
    return {
        "erasure_approval_to_certificate_s": round(statistics.median(times), 3),
        "erasure_approval_to_certificate_max_s": round(max(times), 3),
        "erasure_rounds": [
            {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in runs
        ],
    }
