"""The search step of a request: check the selfies, search the whole collection, apply the policy.

Runs in the worker (the web process never loads the face models). A request is searched against
the WHOLE collection, whatever the collection date of an image (CNIL SAN-2022-019: a search limited
to recent images is a partial answer), and the span it covered is recorded on the request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from matching.models import Face, Image
from matching.services.embedding import DetectedFace, embedding_to_bytes, faces_detect
from matching.services.imaging import ImageRejected, image_decode
from matching.services.index import index_coverage
from matching.services.search import (
    FaceHit,
    faces_group,
    faces_search,
    images_by_identifiers,
    person_search,
)
from matching.services.thresholds import MAX_FUSED, Thresholds, thresholds_current, thresholds_why_shown
from rights.lifecycle import enqueue
from rights.lifecycle.audit import SYSTEM, audit_record
from rights.lifecycle.claims import request_claim
from rights.lifecycle.emails import email_send, url_for
from rights.lifecycle.language import language_of
from rights.lifecycle.linking import requests_link_by_face
from rights.lifecycle.transitions import request_transition
from rights.models import AuditAction, DataRequest, Match, RequestKind, RequestStatus, Selfie
from rights.queries import collection_span, request_identifiers, search_thresholds, selfies_usable

logger = logging.getLogger(__name__)

# Said to the person in their request's language (selfie_check runs under it), then stored.
NO_FACE = gettext_noop(
    "We found no face in this photo. Please send a photo of your face, looking at the camera, "
    "in good light, with nothing covering it."
)
UNCLEAR_FACE = gettext_noop(
    "We found a face in this photo, but not clearly enough to compare it. Please send a sharper, "
    "well-lit photo of your face, looking at the camera."
)
TOO_SMALL = gettext_noop(
    "The face is too small in this photo (%(size)s pixels across; we need at least %(minimum)s). "
    "Please send a photo taken closer, where your face fills more of the picture."
)
SEVERAL_FACES = gettext_noop(
    "We found %(count)s faces in this photo, so we cannot tell which one is you. Please send a photo "
    "in which only your face appears."
)
UNREADABLE = gettext_noop("We could not read this photo: %(message)s")


@dataclass(frozen=True)
class SelfieVerdict:
    face: DetectedFace | None
    problem: str


def _face_px(face: DetectedFace) -> int:
    x1, y1, x2, y2 = face.bbox
    return int(min(x2 - x1, y2 - y1))


def selfie_face_pick(*, faces: list[DetectedFace]) -> SelfieVerdict:
    """Exactly one clear face of a usable size, or the problem in words the person understands.

    A face below SELFIE_MIN_DET_SCORE is a doubtful find (a poster, a pattern, a blurred passer-by)
    and one smaller than SELFIE_MIN_FACE_PX cannot be the subject of a selfie: neither counts. Two
    or more usable faces are refused whatever their sizes: if we searched the wrong one we would
    disclose a stranger's images.
    """
    if not faces:
        return SelfieVerdict(None, gettext(NO_FACE))
    clear = [f for f in faces if f.det_score >= settings.SELFIE_MIN_DET_SCORE]
    if not clear:
        return SelfieVerdict(None, gettext(UNCLEAR_FACE))
    usable = [f for f in clear if _face_px(f) >= settings.SELFIE_MIN_FACE_PX]
    if len(usable) > 1:
        return SelfieVerdict(None, gettext(SEVERAL_FACES) % {"count": len(usable)})
    if not usable:
        largest = max(_face_px(f) for f in clear)
        minimum = settings.SELFIE_MIN_FACE_PX
        return SelfieVerdict(None, gettext(TOO_SMALL) % {"size": largest, "minimum": minimum})
    return SelfieVerdict(usable[0], "")


def selfie_check(*, selfie: Selfie) -> Selfie:
    """Detect the face of one PENDING selfie: USABLE with its box and embedding, or REJECTED."""
    with language_of(language=selfie.request.language):
        try:
            with selfie.file.open("rb") as handle:
                data = handle.read()
            decoded = image_decode(data=data)
        except ImageRejected as exc:
            verdict = SelfieVerdict(None, gettext(UNREADABLE) % {"message": exc.message})
        except (FileNotFoundError, ValueError):
            missing = gettext("the file is missing. Please send it again.")
            verdict = SelfieVerdict(None, gettext(UNREADABLE) % {"message": missing})
        else:
            verdict = selfie_face_pick(faces=faces_detect(rgb=decoded.rgb))
    if verdict.face is not None:
        selfie.status = Selfie.Status.USABLE
        selfie.problem = ""
        selfie.face_bbox = [round(float(v), 1) for v in verdict.face.bbox]
        selfie.embedding = embedding_to_bytes(vector=verdict.face.embedding)
    else:
        selfie.status = Selfie.Status.REJECTED
        selfie.problem = verdict.problem
        selfie.face_bbox = None
        selfie.embedding = None
    with transaction.atomic():
        selfie.save(update_fields=["status", "problem", "face_bbox", "embedding"])
        audit_record(
            actor=SYSTEM,
            action=AuditAction.SELFIE_CHECKED,
            request_id=selfie.request_id,
            detail={"selfie_id": selfie.id, "status": selfie.status},
        )
    logger.info("selfie %s of request %s: %s", selfie.id, selfie.request_id, selfie.status)
    return selfie


@dataclass(frozen=True)
class Candidate:
    image_id: int
    face_id: int | None
    bbox: list[float] | None
    score: float | None
    band: str
    query: int | None = None  # which row of ``vectors`` scored best (None: found by identifier)


def collection_candidates(*, vectors: np.ndarray, identifiers: list[str]) -> dict[int, Candidate]:
    """Every image of the whole collection a face or an identifier points to, best face hit per image.

    Used both to search and, after an erasure, to verify that nothing is left.
    """
    best: dict[int, Candidate] = {}
    if vectors.shape[0]:
        for query, hits in _face_hits(vectors=vectors):
            for hit in hits:
                current = best.get(hit.image_id)
                if current is None or (current.score or 0.0) < hit.score:
                    best[hit.image_id] = Candidate(
                        image_id=hit.image_id,
                        face_id=hit.face_id,
                        bbox=[round(float(v), 1) for v in hit.bbox],
                        score=round(float(hit.score), 4),
                        band=hit.band,
                        query=query,
                    )
    if identifiers:
        for image in images_by_identifiers(identifiers=identifiers):
            # A face hit on the same image says more (which face, how sure) than the identifier.
            best.setdefault(
                image.pk,
                Candidate(image_id=image.pk, face_id=None, bbox=None, score=None, band=Match.Band.IDENTIFIER),
            )
    return best


def _face_hits(*, vectors: np.ndarray) -> list[tuple[int, list[FaceHit]]]:
    """(selfie row, its hits): up to MAX_FUSED selfies fused into one query, each hit credited to
    the selfie closest to its face; more selfies are searched one by one (bench/decision.py: fusing
    finds more of the person for a third of the strangers)."""
    if vectors.shape[0] > MAX_FUSED:
        return list(enumerate(faces_search(vectors=vectors)))
    hits = person_search(vectors=vectors).hits
    stored = dict(Face.objects.filter(pk__in=[h.face_id for h in hits]).values_list("pk", "embedding"))
    by_selfie: dict[int, list[FaceHit]] = {}
    for hit in hits:
        blob = stored.get(hit.face_id)
        closest = int(np.argmax(vectors @ np.frombuffer(bytes(blob), dtype="<f4"))) if blob else 0
        by_selfie.setdefault(closest, []).append(hit)
    return sorted(by_selfie.items())


def search_bands(*, selfies: int, indexed_faces: int) -> Thresholds:
    """The bands a search with this many selfies uses (the ones ``collection_candidates`` applies)."""
    return thresholds_current(indexed_faces=indexed_faces, selfies=selfies if selfies <= MAX_FUSED else 1)


def bands_record(*, bands: Thresholds) -> dict[str, object]:
    """The record of the bands a search used and why (the search's audit row, the verification)."""
    return {
        "match": bands.match,
        "review": bands.review,
        "faces_planned_for": bands.faces_planned_for,
        "selfies": bands.selfies,
        "match_expected_strangers": round(bands.match_expected_strangers, 6),
        "review_expected_strangers": round(bands.review_expected_strangers, 3),
        "extrapolated": bands.extrapolated,
        "why": bands.why,
    }


def request_bands(*, request: DataRequest) -> dict[str, object]:
    """The bands the request's search used (as recorded) beside the bands in force now for as many
    selfies, each with the strangers per request it is expected to bring (for the request page)."""
    recorded = search_thresholds(request=request)
    selfies = int((recorded or {}).get("selfies") or 1)
    if recorded:  # the recorded "why" is English: the page says it in the staff member's language
        recorded = {**recorded, "why": thresholds_why_shown(record=recorded)}
    return {"recorded": recorded, "current": thresholds_current(selfies=selfies)}


def _matches_record(
    *, request: DataRequest, candidates: dict[int, Candidate], selfie_ids: list[int]
) -> dict[str, int]:
    """One Match per image (unique per request and sha256), keeping the best score and any decision.

    A face match records which selfie matched (``selfie_ids[candidate.query]``), shown beside the
    candidate on the review screen; an identifier match has none.
    """
    hashes = dict(Image.objects.filter(pk__in=list(candidates)).values_list("pk", "sha256"))
    counts = {"new": 0, "updated": 0}
    rank = {Match.Band.MATCH: 2, Match.Band.REVIEW: 1, Match.Band.IDENTIFIER: 0}
    with transaction.atomic():
        existing = {m.image_sha256: m for m in request.matches.select_for_update()}
        for image_id, cand in sorted(candidates.items()):
            sha = hashes.get(image_id)
            if sha is None:  # deleted between the search and now
                continue
            match = existing.get(sha)
            selfie_id = selfie_ids[cand.query] if cand.query is not None else None
            if match is None:
                Match.objects.create(
                    request=request,
                    image_id=image_id,
                    image_sha256=sha,
                    face_id=cand.face_id,
                    face_bbox=cand.bbox,
                    score=cand.score,
                    band=cand.band,
                    selfie_id=selfie_id,
                )
                counts["new"] += 1
            elif (cand.score or -1.0) > (match.score or -1.0) or rank[cand.band] > rank[match.band]:
                match.image_id = image_id
                match.face_id, match.face_bbox, match.score = cand.face_id, cand.bbox, cand.score
                match.selfie_id = selfie_id
                match.band = cand.band if rank[cand.band] >= rank[match.band] else match.band
                match.save(update_fields=["image", "face_id", "face_bbox", "score", "band", "selfie"])
                counts["updated"] += 1
        _groups_record(request=request)
    return counts


def _groups_record(*, request: DataRequest) -> None:
    """Set each face candidate's group from ``faces_group`` over all the request's candidate faces
    (best first), so a re-search regroups the old rows with the new; identifier finds keep none."""
    rows = list(request.matches.filter(face_id__isnull=False).order_by("-score", "id"))
    groups = faces_group(face_ids=[m.face_id for m in rows])
    changed = []
    for match in rows:
        group = groups.get(match.face_id)  # None: the face left the collection since
        if match.group != group:
            match.group = group
            changed.append(match)
    Match.objects.bulk_update(changed, ["group"])


def request_search_run(*, request_id: int) -> str | None:
    """Take a QUEUED request and carry the search through; returns the status it ends in.

    None when the request is gone or not QUEUED (another worker has it, or it is done); a
    SEARCHING claim left by a dead worker is taken over. An exception leaves it SEARCHING; the
    task puts it back to QUEUED to retry (``fulfilment.search_failed``).
    """
    taken = request_claim(
        request_id=request_id, from_status=RequestStatus.QUEUED, status=RequestStatus.SEARCHING, step="search"
    )
    if not taken:
        return None
    request = DataRequest.objects.get(id=request_id)

    for selfie in request.selfies.filter(status=Selfie.Status.PENDING).order_by("id"):
        selfie_check(selfie=selfie)
    selfie_ids, vectors = selfies_usable(request=request)
    if vectors.shape[0] == 0:
        return _needs_selfie(request=request)

    requests_link_by_face(request=request)

    # What this search covers: the index's vectors after its sync, beside the collection's faces
    # counted at the same moment. Unequal means the search did not cover the whole collection.
    coverage = index_coverage()
    span = collection_span()
    bands = search_bands(selfies=int(vectors.shape[0]), indexed_faces=coverage.total)
    candidates = collection_candidates(vectors=vectors, identifiers=request_identifiers(request=request))
    counts = _matches_record(request=request, candidates=candidates, selfie_ids=selfie_ids)
    DataRequest.objects.filter(id=request_id).update(
        searched_at=timezone.now(),
        searched_collection_from=span["from"],
        searched_collection_to=span["to"],
        searched_collection_size=span["size"],
        searched_index_faces=coverage.total,
        searched_collection_faces=coverage.database,
    )
    if coverage.total != coverage.database:
        logger.error(
            "request %s: searched index held %s faces, the collection %s",
            request_id,
            coverage.total,
            coverage.database,
        )
    return _policy_apply(
        request=request,
        detail={
            **counts,
            "collection_size": span["size"],
            "index_faces": coverage.total,
            "collection_faces": coverage.database,
            # The record of the bands used and why (read back by queries.search_coverage).
            "thresholds": bands_record(bands=bands),
        },
    )


def _needs_selfie(*, request: DataRequest) -> str:
    last = request.selfies.filter(status=Selfie.Status.REJECTED).order_by("-id").first()
    if last is not None:
        problem = last.problem
    else:
        with language_of(language=request.language):
            problem = gettext(NO_FACE)
    moved = request_transition(
        request_id=request.id,
        from_statuses=[RequestStatus.SEARCHING],
        to_status=RequestStatus.NEEDS_SELFIE,
        actor=SYSTEM,
        action=AuditAction.SELFIE_UNUSABLE,
        reason=problem,
        fields={"selfie_problem": problem},
    )
    if moved:
        request.refresh_from_db()
        _requester_email_needs_selfie(request=request, problem=problem)
    return RequestStatus.NEEDS_SELFIE


def _requester_email_needs_selfie(*, request: DataRequest, problem: str) -> None:
    # The status page asks for the photo too: a mail outage must not undo the move.
    try:
        email_send(
            to=request.email,
            template="needs_selfie",
            context={
                "request": request,
                "problem": problem,
                "status_url": url_for("public:status", token=request.public_token),
                "upload_url": url_for("public:selfie_upload", token=request.public_token),
            },
            request_id=request.id,
            language=request.language,
        )
    except Exception as exc:
        # The type only: a mail server's error text may quote the address.
        logger.error("request %s: needs_selfie email could not be sent (%s)", request.id, type(exc).__name__)


def _policy_apply(*, request: DataRequest, detail: dict[str, object]) -> str:
    """REVIEW when a person must look first; otherwise APPROVED and fulfilment enqueued."""
    awaiting_review = request.matches.filter(
        decision=Match.Decision.PENDING, band__in=[Match.Band.REVIEW, Match.Band.IDENTIFIER]
    ).count()
    reasons = []
    if awaiting_review:
        reasons.append(f"{awaiting_review} candidate(s) need staff review")
    if request.kind == RequestKind.ACCESS and settings.ACCESS_REQUIRES_APPROVAL:
        reasons.append("an access answer discloses images and needs staff approval")
    detail = {**detail, "awaiting_review": awaiting_review}
    to_status = RequestStatus.REVIEW if reasons else RequestStatus.APPROVED
    with transaction.atomic():
        request_transition(
            request_id=request.id,
            from_statuses=[RequestStatus.SEARCHING],
            to_status=to_status,
            actor=SYSTEM,
            action=AuditAction.SEARCH_DONE,
            reason="; ".join(reasons) if reasons else "approved by policy: nothing needs staff review",
            detail=detail,
            fields={"selfie_problem": ""},
        )
        if to_status == RequestStatus.APPROVED:
            enqueue.request_fulfil_enqueue(request_id=request.id)
    return to_status
