"""Erasure (GDPR Art. 17): delete every confirmed image everywhere, prove it, certify it.

Per image, in an order a dead worker can resume from:
1. the ledger row (ErasureRecord) is written first, with ``removed_from`` empty: "being erased";
2. matching's delete service removes file, faces, embeddings, row and index entries (safe to redo);
3. the ledger row is completed with what was removed and when.
A retry finds the rows: an empty one whose image is still there is erased again, one whose image
is gone is completed. One ledger row per image, whatever happens.

A large erasure goes in chunks of settings.ERASURE_CHUNK images, one task run each, so that no run
holds the request long enough to look like a dead worker (STUCK_AFTER). A run with images left over
moves the request FULFILLING -> APPROVED ("erasure_chunk_done", its audit row counting the images
erased so far) and enqueues ``request_fulfil`` once that commits. The next run then claims the
request like any other, by the usual conditional UPDATE: no second kind of claim, no way for the
chunk run to be mistaken for (or to take over from) a live worker. Between chunks the request waits
in APPROVED for a free worker, which the recovery job presumes lost only after STUCK_QUEUED_AFTER,
and re-enqueues it if so (the ledger says where to resume). An erasure under way no longer waits for
the same person's access answer (``erasure_waits_for``). The last chunk goes on as below.

Then the requester's selfies search the collection again: nothing may remain at or above the
REVIEW threshold (apart from images staff decided are not them), or the erasure fails loudly and is
retried, then held for staff. Only then the certificate, the notices to recipients and the answer.
Nothing else in the collection is touched: only the images of this request's matches are deleted.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from matching.models import Image
from matching.services.deletion import image_delete
from matching.services.index import index_sync_if_changed
from matching.services.thresholds import thresholds_current
from rights.lifecycle import enqueue
from rights.lifecycle.audit import SYSTEM, audit_record
from rights.lifecycle.clock import request_due_in_force
from rights.lifecycle.language import language_of, setting_text
from rights.lifecycle.ledger_copy import ledger_copy_append
from rights.lifecycle.linking import access_requests_same_verified_person, requests_same_person
from rights.lifecycle.transitions import request_transition
from rights.models import (
    Answer,
    AuditAction,
    AuditEvent,
    DataRequest,
    ErasureRecord,
    Match,
    RequestKind,
    RequestStatus,
)
from rights.pipeline.answers import answer_store, request_answered
from rights.pipeline.failures import request_hold
from rights.pipeline.search import bands_record, collection_candidates, search_bands
from rights.queries import (
    matches_confirmed,
    request_identifiers,
    search_coverage,
    search_thresholds,
    selfies_usable_vectors,
)
from rights.recipients.notices import notices_counts, notices_create_for_erasure, notices_recipients_told

logger = logging.getLogger(__name__)

# What a completed deletion removed, when an interrupted run did it and could not say.
REMOVED_EVERYWHERE = ["file", "faces", "embeddings", "image", "index"]
ALREADY_GONE = "already erased before this request"
WAIT_ACTION = AuditAction.ERASURE_WAITING_FOR_ACCESS
CHUNK_ACTION = AuditAction.ERASURE_CHUNK_DONE


class ErasureVerificationFailed(RuntimeError):
    """After the deletions, a search with the requester's selfies still finds images."""

    safe_for_audit = True  # its message holds counts and image ids only

    def __init__(self, request_id: int, image_ids: list[int]) -> None:
        super().__init__(
            f"request {request_id}: {len(image_ids)} image(s) still match the requester after erasure "
            f"(image ids {image_ids[:50]})"
        )
        self.request_id = request_id
        self.image_ids = image_ids


def erasure_waits_for(*, request: DataRequest, now: datetime | None = None) -> list[int]:
    """The access requests this erasure waits for; empty when it may go ahead. The one rule.

    It waits only for open access requests surely of the same person (the same verified email, or
    linked by staff: a face-only link may be someone filing with the victim's photo), and never once
    its own due date in force is within ERASURE_ACCESS_WAIT_CUTOFF_DAYS: the erasure then goes
    ahead and the access answer lists those images as no longer held.
    """
    if request.kind not in (RequestKind.ERASURE, RequestKind.OBJECTION):
        return []
    if ErasureRecord.objects.filter(request_id=request.id).exists():
        # Under way (between two chunks, or retried): some images are already gone and the access
        # answer lists them as no longer held; waiting now would only delay the rest.
        return []
    now = now or timezone.now()
    cutoff = timedelta(days=settings.ERASURE_ACCESS_WAIT_CUTOFF_DAYS)
    if request_due_in_force(request=request, now=now) - now <= cutoff:
        return []
    return access_requests_same_verified_person(request=request)


def erasures_waiting_resume(*, request: DataRequest) -> list[int]:
    """Enqueue the same person's approved erasures/objections that waited for this access answer."""
    waiting = list(
        requests_same_person(request=request)
        .filter(kind__in=[RequestKind.ERASURE, RequestKind.OBJECTION], status=RequestStatus.APPROVED)
        .values_list("id", flat=True)
    )
    for request_id in waiting:
        enqueue.request_fulfil_enqueue(request_id=request_id)
    return waiting


def erasure_must_wait(*, request: DataRequest) -> bool:
    """True while ``erasure_waits_for`` names an access request: that one is answered first.

    The erasure stays APPROVED; the access answer re-enqueues it, and so does the recovery job once
    the cut-off comes (it asks the same rule).
    """
    open_ids = erasure_waits_for(request=request)
    if not open_ids:
        return False
    already = AuditEvent.objects.filter(request_id=request.id, action=WAIT_ACTION).exists()
    if not already:
        with transaction.atomic():
            audit_record(
                actor=SYSTEM,
                action=WAIT_ACTION,
                request_id=request.id,
                reason="the same person's access request is answered first",
                detail={"access_request_ids": open_ids},
            )
    logger.info("request %s: erasure waits for access request(s) %s", request.id, open_ids)
    return True


def _ledger_open(*, request: DataRequest, match: Match) -> ErasureRecord:
    """Step 1: the ledger row, written before anything is deleted."""
    image = Image.objects.filter(sha256=match.image_sha256).only("pk", "source_url").first()
    record, _ = ErasureRecord.objects.get_or_create(
        request=request,
        image_sha256=match.image_sha256,
        defaults={
            "image_id": image.pk if image else (match.image_id or 0),
            "source_url": (image.source_url if image else "")[:2000],
            # Not there when we start: nothing of it is left for this erasure to remove.
            "removed_from": [] if image else [ALREADY_GONE],
            "erased_at": timezone.now(),
        },
    )
    return record


def _image_erase(*, record: ErasureRecord) -> ErasureRecord:
    """Steps 2 and 3 for one image; does nothing more for a row already completed."""
    if record.removed_from:
        return record
    image_id = Image.objects.filter(sha256=record.image_sha256).values_list("pk", flat=True).first()
    if image_id is None:
        # The row was opened while the image existed: an earlier run of this erasure deleted it and
        # stopped before completing the row.
        removed = REMOVED_EVERYWHERE
    else:
        # The ledger's copy outside the database first: a restore from backup must not bring it back.
        ledger_copy_append(
            request_id=record.request_id,
            image_id=image_id,
            image_sha256=record.image_sha256,
            source="erasure",
        )
        # Named by the request: ingestion refuses these bytes ever after, saying which request erased them.
        result = image_delete(image_id=image_id, erased_by=str(record.request_id))
        removed = result.removed_from or [ALREADY_GONE]
    record.removed_from = removed
    record.erased_at = timezone.now()
    with transaction.atomic():  # the ledger row and its audit row, together or not at all
        record.save(update_fields=["removed_from", "erased_at"])
        audit_record(
            actor=SYSTEM,
            action=AuditAction.IMAGE_ERASED,
            request_id=record.request_id,
            detail={"image_sha256": record.image_sha256, "ledger_id": record.id, "removed_from": removed},
        )
    logger.info("request %s: image %s erased (%s)", record.request_id, record.image_id, ",".join(removed))
    return record


def erasure_images_delete(*, request: DataRequest, limit: int | None = None) -> int:
    """Delete up to ``limit`` (None: all) of the request's confirmed images not erased yet, one
    ledger row each; returns how many are left for a later run. Safe to run again."""
    done = set(
        ErasureRecord.objects.filter(request=request)
        .exclude(removed_from=[])
        .values_list("image_sha256", flat=True)
    )
    todo = {m.image_sha256: m for m in matches_confirmed(request=request) if m.image_sha256 not in done}
    now_done = list(todo.values()) if limit is None else list(todo.values())[:limit]
    for match in now_done:
        _image_erase(record=_ledger_open(request=request, match=match))
    return len(todo) - len(now_done)


def erasure_ledger(*, request: DataRequest) -> list[ErasureRecord]:
    """The ledger rows of the request's confirmed images: what the certificate lists."""
    hashes = {m.image_sha256 for m in matches_confirmed(request=request)}
    return [r for r in ErasureRecord.objects.filter(request=request) if r.image_sha256 in hashes]


def erasure_chunk_done(*, request_id: int, remaining: int) -> bool:
    """FULFILLING -> APPROVED with the progress audited, and the next chunk enqueued on commit.

    The count is read from the ledger inside the transition's transaction. False (nothing
    enqueued) when the request is no longer FULFILLING: whoever moved it owns what comes next.
    """
    with transaction.atomic():
        erased = ErasureRecord.objects.filter(request_id=request_id).exclude(removed_from=[]).count()
        moved = request_transition(
            request_id=request_id,
            from_statuses=[RequestStatus.FULFILLING],
            to_status=RequestStatus.APPROVED,
            actor=SYSTEM,
            action=CHUNK_ACTION,
            reason="a chunk of the erasure is done; the next one is enqueued",
            detail={"erased_so_far": erased, "remaining": remaining, "chunk": settings.ERASURE_CHUNK},
        )
        if moved:
            enqueue.request_fulfil_enqueue(request_id=request_id)
    logger.info("request %s: erasure chunk done (%s erased, %s left)", request_id, erased, remaining)
    return moved


def erasure_verify(*, request: DataRequest) -> dict[str, Any]:
    """Search the whole collection again with the requester's selfies and identifiers.

    Images staff rejected as not the requester stay, and do not count.
    """
    rejected = set(
        request.matches.filter(decision=Match.Decision.REJECTED).values_list("image_sha256", flat=True)
    )
    vectors = selfies_usable_vectors(request=request)
    # The bands collection_candidates applies, counted like the request's search: the index after its sync.
    bands = search_bands(selfies=int(vectors.shape[0]), indexed_faces=index_sync_if_changed().total)
    candidates = collection_candidates(vectors=vectors, identifiers=request_identifiers(request=request))
    hashes = dict(Image.objects.filter(pk__in=list(candidates)).values_list("pk", "sha256"))
    remaining = sorted(image_id for image_id, sha in hashes.items() if sha not in rejected)
    return {
        "searched_at": timezone.now().isoformat(),
        "selfies_used": int(vectors.shape[0]),
        "identifiers_used": len(request_identifiers(request=request)),
        "threshold": bands.review,  # the lowest score searched down to: the review band's
        "thresholds": bands_record(bands=bands),
        "collection_size": Image.objects.count(),
        "remaining": remaining,
        "kept_as_not_you": len([sha for sha in hashes.values() if sha in rejected]),
    }


def erasure_sources_disclosed(*, request: DataRequest) -> bool:
    """Whether the certificate may say where each erased image was published. The one rule.

    Only after the approval an access answer needs: a member of staff approved this request, or
    access answers need no approval here (ACCESS_REQUIRES_APPROVAL off). Otherwise a stranger with
    someone's photo and their own mailbox would learn where that person's images are published.
    """
    if not settings.ACCESS_REQUIRES_APPROVAL:
        return True
    return AuditEvent.objects.filter(
        request_id=request.id, action=AuditAction.REQUEST_APPROVED, actor__startswith="staff:"
    ).exists()


def _authority_in(*, language: str) -> str:
    """The supervisory authority, as the certificate names it to the requester (in their language)."""
    with language_of(language=language):
        return setting_text(name="SUPERVISORY_AUTHORITY")


def erasure_certificate_issue(
    *, request: DataRequest, records: list[ErasureRecord], verification: dict[str, Any], extra: dict[str, Any]
) -> Answer:
    """The certificate: what was deleted, counted, with hashes and times, and the verification.

    Source URLs only when ``erasure_sources_disclosed``; otherwise counts, hashes and dates.
    """
    disclosed = erasure_sources_disclosed(request=request)
    erased = [
        {
            "image_sha256": r.image_sha256,
            **({"source_url": r.source_url} if disclosed else {}),
            "removed_from": r.removed_from,
            "erased_at": r.erased_at.isoformat(),
        }
        for r in sorted(records, key=lambda r: (r.erased_at, r.image_sha256))
    ]
    now = timezone.now()
    payload: dict[str, Any] = {
        "kind": "erasure_certificate",
        "organisation": settings.ORGANISATION_NAME,
        "request": {
            "received_at": request.received_at.isoformat(),
            "kind": request.kind,
            "reference": request.public_token[:8],
        },
        "issued_at": now.isoformat(),
        "erased_count": len([e for e in erased if ALREADY_GONE not in e["removed_from"]]),
        "erased": erased,
        "sources_withheld": not disclosed,
        # Who was told, by name, only on a certificate staff approved (like the sources).
        "recipients": {
            **notices_counts(request_id=request.id),
            "told": notices_recipients_told(request_id=request.id) if disclosed else [],
        },
        "searched_collection": search_coverage(request=request),
        "verification": {
            "searched_at": verification["searched_at"],
            "selfies_used": verification["selfies_used"],
            "identifiers_used": verification["identifiers_used"],
            "threshold": verification["threshold"],
            "thresholds": verification["thresholds"],
            "collection_size_after": verification["collection_size"],
            "images_found_after": len(verification["remaining"]),
            "kept_as_not_you": verification["kept_as_not_you"],
            "result": "No image of you remains in the collection.",
        },
        "complaint": _authority_in(language=request.language),
        **extra,
    }
    with language_of(language=request.language):  # the certificate file, in the requester's language
        html = render_to_string("rights/report/erasure_certificate.html", {"certificate": payload})
    with transaction.atomic():
        answer = answer_store(
            request=request,
            kind=Answer.Kind.ERASURE_CERTIFICATE,
            payload=payload,
            content=html.encode(),
            extension="html",
            now=now,
        )
        audit_record(
            actor=SYSTEM,
            action=AuditAction.ERASURE_CERTIFIED,
            request_id=request.id,
            detail={"answer_id": answer.id, "erased": payload["erased_count"], "ledger_rows": len(erased)},
        )
    return answer


def erasure_band_outgrown(*, request: DataRequest) -> list[int]:
    """Undecided match-band matches below the match threshold for the collection's size now.

    Only the match band is deleted without a staff decision, and its threshold rises with the
    collection: a match found when the collection was smaller may no longer be safe to delete
    unseen. The search's fused selfie count picks the curve (``thresholds_current``).
    """
    recorded = search_thresholds(request=request) or {}
    threshold = thresholds_current(selfies=int(recorded.get("selfies") or 1)).match
    pending = request.matches.filter(band=Match.Band.MATCH, decision=Match.Decision.PENDING)
    return sorted(m.id for m in pending if m.score is not None and m.score < threshold)


def erasure_carry_out(*, request_id: int, extra: dict[str, Any] | None = None) -> Answer | None:
    """Delete a chunk; once none is left, verify (raising ErasureVerificationFailed), certify,
    notify recipients, answer. None when a chunk was done and the next one enqueued, or when
    match-band images fell below the current match threshold (sent to review, request HELD)."""
    request = DataRequest.objects.get(id=request_id)
    outgrown = erasure_band_outgrown(request=request)
    if outgrown:
        with transaction.atomic():
            Match.objects.filter(id__in=outgrown).update(band=Match.Band.REVIEW)
            request_hold(
                request_id=request_id,
                from_statuses=[RequestStatus.FULFILLING],
                reason=(
                    f"{len(outgrown)} image(s) in the match band when searched score below the match "
                    "threshold for the collection's current size: they are back in review, and staff "
                    "decide on them before anything is deleted"
                ),
                action=AuditAction.ERASURE_BAND_OUTGROWN,
            )
        return None
    remaining = erasure_images_delete(request=request, limit=settings.ERASURE_CHUNK)
    if remaining:
        erasure_chunk_done(request_id=request_id, remaining=remaining)
        return None
    records = erasure_ledger(request=request)
    verification = erasure_verify(request=request)
    if verification["remaining"]:
        error = ErasureVerificationFailed(request_id, verification["remaining"])
        logger.error("%s", error)
        with transaction.atomic():
            audit_record(
                actor=SYSTEM,
                action=AuditAction.ERASURE_VERIFICATION_FAILED,
                request_id=request_id,
                reason=str(error),
                detail={"remaining_image_ids": verification["remaining"]},
            )
        raise error
    # The notices first, so that the certificate can say how many recipients are told.
    notices_create_for_erasure(request_id=request_id)
    answer = erasure_certificate_issue(
        request=request, records=records, verification=verification, extra=extra or {}
    )
    request_answered(
        request_id=request_id,
        answer_token=answer.download_token,
        detail={"answer_id": answer.id, "erased": answer.payload["erased_count"]},
    )
    logger.info("request %s: erasure certified (%s images)", request_id, answer.payload["erased_count"])
    return answer


def erasure_run(*, request_id: int) -> Answer | None:
    """The fulfilment of an erasure request (FULFILLING): one chunk, or the rest and the answer."""
    if not DataRequest.objects.filter(id=request_id, status=RequestStatus.FULFILLING).exists():
        return None
    return erasure_carry_out(request_id=request_id)
