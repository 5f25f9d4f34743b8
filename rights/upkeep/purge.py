"""Purge of the data a requester gave us for verification, once it has served its purpose.

settings.SELFIE_RETENTION_DAYS after a request closes (answered or refused), we delete its
selfie files, their embeddings and face boxes, and the face templates kept on the suppression
list unless the person consented to keep them (objection). Access-answer archives (copies of the
person's images) are deleted once their download link has expired; the answer's payload stays:
it is the record of what was answered. Confirmation tokens are signed and never stored, so
there is nothing of them to delete.

The request's record, its matches (hashes), erasure ledger and audit trail stay. Each purge
writes a ``PurgeRecord`` with counts, never the data itself, and an audit row.

A request whose email address is never confirmed never closes by itself: settings.
UNCONFIRMED_EXPIRY_DAYS after receipt (never before its confirmation link has expired) it moves
to EXPIRED, a closed status, and its selfies are purged at once rather than after the grace
period. Nothing was searched or answered with them, so there is nothing they could still prove,
and the person never even confirmed they sent them. The status page says the request expired
and that the person can simply ask again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from matching.services.suppression import suppression_remove
from rights.lifecycle.audit import SYSTEM, audit_record
from rights.lifecycle.transitions import request_transition
from rights.models import Answer, AuditAction, DataRequest, PurgeRecord, RequestStatus, Selfie

logger = logging.getLogger(__name__)


def suppression_reference(*, request_id: int) -> str:
    """The opaque label under which a request's face templates are kept on the suppression list."""
    return f"request:{request_id}"


def purge_cutoff(*, now: datetime) -> datetime:
    return now - timedelta(days=settings.SELFIE_RETENTION_DAYS)


def _purge_due(*, now: datetime) -> Q:
    """Closed past the grace period, or expired unconfirmed (no grace period: see the module doc)."""
    return Q(closed_at__isnull=False, purged_at__isnull=True) & (
        Q(closed_at__lte=purge_cutoff(now=now)) | Q(status=RequestStatus.EXPIRED, closed_at__lte=now)
    )


def request_purge(*, request_id: int, now: datetime | None = None) -> PurgeRecord | None:
    """Purge one closed request's verification data if its grace period is over.

    Returns the ledger row, or None when the request is gone, still open, within its grace
    period, or already purged (so running it twice does nothing the second time).
    """
    now = now or timezone.now()
    with transaction.atomic():
        request = (
            # skip_locked: a request another worker is purging right now is its to finish.
            DataRequest.objects.select_for_update(skip_locked=True)
            .filter(_purge_due(now=now), id=request_id)
            .first()
        )
        if request is None or not request.is_closed:
            return None
        counts = {"selfie_files": 0, "selfie_embeddings": 0, "selfie_face_boxes": 0}
        for selfie in Selfie.objects.select_for_update().filter(request=request, purged_at__isnull=True):
            if selfie.file:
                # Storage.delete ignores a file already gone, so a purge that failed midway resumes.
                selfie.file.delete(save=False)
                counts["selfie_files"] += 1
            counts["selfie_embeddings"] += selfie.embedding is not None
            counts["selfie_face_boxes"] += selfie.face_bbox is not None
            selfie.file = ""
            selfie.embedding = None
            selfie.face_bbox = None
            selfie.purged_at = now
            selfie.save(update_fields=["file", "embedding", "face_bbox", "purged_at"])
        counts["suppression_templates"] = (
            0
            if request.suppression_consent
            else suppression_remove(reference=suppression_reference(request_id=request.id))
        )
        counts["answer_archives"] = _answer_archives_delete(
            answers=Answer.objects.filter(request=request, download_expires_at__lte=now)
        )
        request.purged_at = now
        request.save(update_fields=["purged_at"])
        record = PurgeRecord.objects.create(request=request, what=counts, purged_at=now)
        audit_record(
            actor=SYSTEM,
            action=AuditAction.VERIFICATION_DATA_PURGED,
            request_id=request.id,
            detail={"purge_record_id": record.id, **counts},
        )
    logger.info("purged request=%s counts=%s", request_id, counts)
    return record


def _answer_archives_delete(*, answers: QuerySet[Answer]) -> int:
    deleted = 0
    for answer in answers.select_for_update().exclude(archive=""):
        answer.archive.delete(save=False)
        answer.archive = ""
        answer.save(update_fields=["archive"])
        deleted += 1
    return deleted


def answer_archives_purge_expired(*, now: datetime | None = None) -> int:
    """Delete answer archives whose download link expired, on requests purged before it did.

    The archive holds copies of the person's images; once no link can reach it, it has no use.
    Each deletion is ledgered per request.
    """
    now = now or timezone.now()
    request_ids = sorted(
        set(
            Answer.objects.filter(download_expires_at__lte=now, request__purged_at__isnull=False)
            .exclude(archive="")
            .values_list("request_id", flat=True)
        )
    )
    total = 0
    for request_id in request_ids:
        with transaction.atomic():
            deleted = _answer_archives_delete(
                answers=Answer.objects.filter(request_id=request_id, download_expires_at__lte=now)
            )
            if not deleted:
                continue
            record = PurgeRecord.objects.create(
                request_id=request_id, what={"answer_archives": deleted}, purged_at=now
            )
            audit_record(
                actor=SYSTEM,
                action=AuditAction.ANSWER_ARCHIVES_PURGED,
                request_id=request_id,
                detail={"purge_record_id": record.id, "answer_archives": deleted},
            )
        total += deleted
    return total


@dataclass(frozen=True)
class PurgeResult:
    requests: int
    answer_archives: int


def requests_purge_due(*, now: datetime | None = None) -> PurgeResult:
    """Purge every closed request past its grace period, then expired archives of purged ones."""
    now = now or timezone.now()
    due = list(
        DataRequest.objects.filter(_purge_due(now=now)).order_by("closed_at").values_list("id", flat=True)
    )
    purged = sum(1 for request_id in due if request_purge(request_id=request_id, now=now) is not None)
    archives = answer_archives_purge_expired(now=now)
    return PurgeResult(requests=purged, answer_archives=archives)


def unconfirmed_expiry_cutoff(*, now: datetime) -> datetime:
    # Never before the confirmation link expires: a link still valid must always confirm.
    wait = max(timedelta(days=settings.UNCONFIRMED_EXPIRY_DAYS), settings.CONFIRMATION_MAX_AGE)
    return now - wait


def request_expire_unconfirmed(*, request_id: int, now: datetime | None = None) -> bool:
    """UNCONFIRMED -> EXPIRED (closed) once past the expiry wait, then purge its selfies at once.

    Returns False, changing nothing, when the request is gone, was confirmed meanwhile, or is not
    old enough. The purge runs after the transition commits; if it fails, the daily purge job
    picks the expired request up (it is due immediately).
    """
    now = now or timezone.now()
    old_enough = DataRequest.objects.filter(
        id=request_id, status=RequestStatus.UNCONFIRMED, received_at__lt=unconfirmed_expiry_cutoff(now=now)
    ).exists()
    if not old_enough:
        return False
    moved = request_transition(
        request_id=request_id,
        from_statuses=[RequestStatus.UNCONFIRMED],
        to_status=RequestStatus.EXPIRED,
        actor=SYSTEM,
        action=AuditAction.EXPIRED_UNCONFIRMED,
        reason=(
            f"The email address was not confirmed within {settings.UNCONFIRMED_EXPIRY_DAYS} days; "
            "the request is closed and its photos deleted."
        ),
    )
    if not moved:
        return False
    logger.info("unconfirmed request expired request=%s", request_id)
    request_purge(request_id=request_id, now=now)
    return True


def requests_expire_unconfirmed(*, now: datetime | None = None) -> int:
    """Expire every request left unconfirmed past the wait (and purge its selfies); returns how many."""
    now = now or timezone.now()
    stale = list(
        DataRequest.objects.filter(
            status=RequestStatus.UNCONFIRMED, received_at__lt=unconfirmed_expiry_cutoff(now=now)
        )
        .order_by("received_at")
        .values_list("id", flat=True)
    )
    return sum(1 for request_id in stale if request_expire_unconfirmed(request_id=request_id, now=now))
