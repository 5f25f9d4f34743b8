"""Keeping the collection within what it may hold: the objection list and the retention period.

- Suppression check: ingestion refuses faces on the suppression list, but an image can slip in
  around an objection (ingested by a batch that loaded the list before the objection's template
  was added, or collected before the objection took effect and not yet searched). Every run checks
  the faces ingested since the last run against every template, and every template added since
  the last run against the whole collection; a face at or above MATCH_THRESHOLD gets its image
  deleted through matching's delete service, counted as an ``IngestionSkip``, ledgered as an
  erasure of the objecting request and notified to the image's recipients.
- Retention: when settings.COLLECTION_RETENTION_DAYS > 0, images collected longer ago than that
  are deleted, in chunks; images still part of an open request are left until it closes.
- The agent's mandate file: deleted settings.AGENT_EVIDENCE_RETENTION_DAYS after its request
  closes (at the end of this module), its sha256 kept on the audit row.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from matching.models import Face, Image, IngestionSkip, SuppressedFace
from matching.services.deletion import ImageDeletion, images_delete
from matching.services.search import faces_search
from matching.services.suppression import suppression_templates
from rights.lifecycle.audit import SYSTEM, audit_record
from rights.lifecycle.ledger_copy import ledger_copy_append
from rights.models import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    AuditAction,
    DataRequest,
    ErasureRecord,
    JobCursor,
    Match,
    RequestStatus,
)
from rights.recipients.notices import notices_create_for_erasure

logger = logging.getLogger(__name__)

FACE_CURSOR = "suppression_check.face"
TEMPLATE_CURSOR = "suppression_check.template"
FACE_CHUNK = 5000
RETENTION_CHUNK = 500
# Recorded with each hash retention deletes: ingestion refuses the bytes "(retention period ended)".
RETENTION_ERASED_BY = "retention period ended"


@dataclass(frozen=True)
class SuppressionCheckResult:
    faces_checked: int
    templates_checked: int
    images_deleted: int
    images_taken: int = 0  # matched, but another worker held the image: left for the next run


def _cursor(name: str) -> JobCursor:
    cursor, _ = JobCursor.objects.select_for_update().get_or_create(name=name)
    return cursor


def _request_id_for(reference: str) -> int | None:
    """The rights request behind a suppression reference ("request:<id>"), if it still exists."""
    prefix, _, raw_id = reference.partition(":")
    if prefix != "request" or not raw_id.isdigit():
        return None
    return DataRequest.objects.filter(id=int(raw_id)).values_list("id", flat=True).first()


def _new_faces_hits(
    *, after_id: int, template_ids: list[int], matrix: np.ndarray
) -> tuple[int, int, dict[int, tuple[int, float]]]:
    """(faces checked, highest face id seen, image id -> (template id, score)) for faces > after_id."""
    hits: dict[int, tuple[int, float]] = {}
    checked = 0
    last_id = after_id
    while True:
        rows = list(
            Face.objects.filter(id__gt=last_id)
            .order_by("id")
            .values_list("id", "image_id", "embedding")[:FACE_CHUNK]
        )
        if not rows:
            break
        vectors = np.frombuffer(b"".join(bytes(r[2]) for r in rows), dtype="<f4").reshape(len(rows), -1)
        scores = vectors @ matrix.T
        best = scores.argmax(axis=1)
        for (_, image_id, _), column, row_scores in zip(rows, best, scores, strict=True):
            score = float(row_scores[column])
            if score >= settings.MATCH_THRESHOLD and score > hits.get(image_id, (0, -1.0))[1]:
                hits[image_id] = (template_ids[int(column)], score)
        checked += len(rows)
        last_id = rows[-1][0]
    return checked, last_id, hits


def _new_templates_hits(*, after_id: int) -> tuple[int, int, dict[int, tuple[int, float]]]:
    """(templates checked, highest template id seen, image id -> (template id, score)) over the collection."""
    rows = list(SuppressedFace.objects.filter(id__gt=after_id).order_by("id").values_list("id", "embedding"))
    if not rows:
        return 0, after_id, {}
    vectors = np.frombuffer(b"".join(bytes(r[1]) for r in rows), dtype="<f4").reshape(len(rows), -1)
    hits: dict[int, tuple[int, float]] = {}
    for (template_id, _), face_hits in zip(rows, faces_search(vectors=vectors), strict=True):
        for hit in face_hits:
            if hit.score >= settings.MATCH_THRESHOLD and hit.score > hits.get(hit.image_id, (0, -1.0))[1]:
                hits[hit.image_id] = (template_id, hit.score)
    return len(rows), rows[-1][0], hits


def _suppressed_images_delete(*, hits: dict[int, tuple[int, float]], now: datetime) -> tuple[int, int]:
    """Delete each image, count it as a skip, ledger it under the objecting request, notify recipients.

    Returns (deleted, taken). Each image is deleted in one transaction with its skip, ledger and
    audit rows, under a lock on its row: an image another worker holds (an erasure deleting it, a
    concurrent run) is skipped and counted as taken, not waited for.
    """
    references = dict(
        SuppressedFace.objects.filter(id__in={t for t, _ in hits.values()}).values_list("id", "reference")
    )
    deleted = taken = 0
    notify: set[int] = set()
    for image_id, (template_id, score) in sorted(hits.items()):
        request_id = _request_id_for(references.get(template_id, ""))
        with transaction.atomic():
            mine = (
                Image.objects.select_for_update(skip_locked=True)
                .filter(id=image_id)
                .values_list("sha256", flat=True)
                .first()
            )
            if mine is None:
                taken += Image.objects.filter(id=image_id).exists()  # else: already gone
                continue
            if request_id is not None:
                # Ledgered below: its copy outside the database first (rights.upkeep.replay).
                ledger_copy_append(
                    request_id=request_id, image_id=image_id, image_sha256=mine, source="suppression"
                )
            # Its own transaction becomes a savepoint of this one (see retention_delete_chunk).
            erased_by = str(request_id) if request_id is not None else ""  # named in a refusal at ingestion
            outcome: ImageDeletion = images_delete(image_ids=[image_id], erased_by=erased_by)[0]
            if not outcome.found:
                continue
            # The image is gone like one refused at ingestion: counted the same way, hash only.
            IngestionSkip.objects.create(
                sha256=outcome.sha256,
                suppression_id=template_id if template_id in references else None,
                score=score,
            )
            if request_id is not None:
                ErasureRecord.objects.get_or_create(
                    request_id=request_id,
                    image_sha256=outcome.sha256,
                    defaults={
                        "image_id": image_id,
                        "source_url": outcome.source_url,
                        "removed_from": outcome.removed_from,
                        "erased_at": now,
                    },
                )
                notify.add(request_id)
            audit_record(
                actor=SYSTEM,
                action=AuditAction.SUPPRESSED_IMAGE_DELETED,
                request_id=request_id,
                detail={
                    "image_id": image_id,
                    "image_sha256": outcome.sha256,
                    "template_id": template_id,
                    "score": round(score, 4),
                    "removed_from": outcome.removed_from,
                },
            )
        deleted += 1
        logger.info("suppression check: image %s deleted (template %s)", image_id, template_id)
    for request_id in sorted(notify):
        notices_create_for_erasure(request_id=request_id)
    return deleted, taken


def suppression_check(*, now: datetime | None = None) -> SuppressionCheckResult:
    """Check faces and templates added since the last run; delete images of people who objected.

    The cursors only move forward once the run's deletions are done, so a run that dies half-way
    is redone (deleting an image already gone is a no-op). Faces are read from
    settings.SUPPRESSION_CHECK_OVERLAP ids below the face cursor: ids are handed out when a row is
    inserted, not when it commits, so a concurrent ingestion can commit a face with a lower id
    after a run moved the cursor past it. Re-checking a face is idempotent (its image, had it
    matched, would be gone), so the overlap only costs reading it again.
    """
    now = now or timezone.now()
    with transaction.atomic():
        face_after = _cursor(FACE_CURSOR).position
        template_after = _cursor(TEMPLATE_CURSOR).position
    template_ids, matrix = suppression_templates()
    if not template_ids:
        # Nothing to check against: faces ingested until now need no later check (a template added
        # later is checked against the whole collection).
        highest_face = Face.objects.aggregate(m=Max("id"))["m"] or face_after
        JobCursor.objects.filter(name=FACE_CURSOR, position__lt=highest_face).update(position=highest_face)
        return SuppressionCheckResult(faces_checked=0, templates_checked=0, images_deleted=0)

    faces_checked, face_last, hits = _new_faces_hits(
        after_id=max(face_after - settings.SUPPRESSION_CHECK_OVERLAP, 0),
        template_ids=template_ids,
        matrix=matrix,
    )
    templates_checked, template_last, template_hits = _new_templates_hits(after_id=template_after)
    for image_id, (template_id, score) in template_hits.items():
        if score > hits.get(image_id, (0, -1.0))[1]:
            hits[image_id] = (template_id, score)
    deleted, taken = _suppressed_images_delete(hits=hits, now=now) if hits else (0, 0)

    if not taken:
        # Conditional on position: a concurrent run that got further is never moved back. With an
        # image taken by another worker the cursors stay, so the next run checks it again.
        JobCursor.objects.filter(name=FACE_CURSOR, position__lt=face_last).update(position=face_last)
        JobCursor.objects.filter(name=TEMPLATE_CURSOR, position__lt=template_last).update(
            position=template_last
        )
    result = SuppressionCheckResult(
        faces_checked=faces_checked,
        templates_checked=templates_checked,
        images_deleted=deleted,
        images_taken=taken,
    )
    logger.info(
        "suppression check faces=%s templates=%s deleted=%s taken=%s",
        faces_checked,
        templates_checked,
        deleted,
        taken,
    )
    return result


@dataclass(frozen=True)
class RetentionResult:
    deleted: int
    more: bool  # another chunk is waiting (the job re-enqueues itself)


def retention_cutoff(*, now: datetime) -> datetime | None:
    if settings.COLLECTION_RETENTION_DAYS <= 0:
        return None
    return now - timedelta(days=settings.COLLECTION_RETENTION_DAYS)


def _expired_images(*, cutoff: datetime, limit: int) -> list[int]:
    in_open_requests = Match.objects.filter(request__status__in=OPEN_STATUSES, image__isnull=False).values(
        "image_id"
    )
    return list(
        Image.objects.filter(collected_at__lt=cutoff)
        .exclude(id__in=in_open_requests)
        .order_by("collected_at", "id")
        .values_list("id", flat=True)[:limit]
    )


def retention_delete_chunk(*, now: datetime | None = None, chunk: int = RETENTION_CHUNK) -> RetentionResult:
    """Delete up to ``chunk`` collection images older than the retention period.

    Returns whether more remain, so the caller re-enqueues itself instead of holding a worker for
    a deletion of unbounded length. Does nothing when no retention period is set.
    """
    now = now or timezone.now()
    cutoff = retention_cutoff(now=now)
    if cutoff is None:
        return RetentionResult(deleted=0, more=False)
    candidates = _expired_images(cutoff=cutoff, limit=chunk + 1)
    batch, more = candidates[:chunk], len(candidates) > chunk
    if not batch:
        return RetentionResult(deleted=0, more=False)
    # One transaction for the chunk: images_delete's own per-image transactions become savepoints
    # in it, so the rows' deletion and the audit row naming them (with their hashes) commit together
    # or not at all. What is outside the database cannot join it: the files go before the rows and
    # the index entries just before the commit. If the commit fails, those images keep their rows
    # (still past retention, so the next run deletes them again, a missing file being no error) and
    # lose only their index entries (index_sync restores them), and no audit row claims otherwise.
    with transaction.atomic():
        deleted_now = images_delete(image_ids=batch, erased_by=RETENTION_ERASED_BY)
        outcomes = [outcome for outcome in deleted_now if outcome.found]
        deleted = len(outcomes)
        if deleted:
            audit_record(
                actor=SYSTEM,
                action=AuditAction.RETENTION_IMAGES_DELETED,
                detail={
                    "images": deleted,
                    "collected_before": cutoff.isoformat(),
                    "retention_days": settings.COLLECTION_RETENTION_DAYS,
                    "image_ids": [outcome.image_id for outcome in outcomes],
                    "image_sha256s": [outcome.sha256 for outcome in outcomes],
                },
            )
    logger.info("retention: %s images collected before %s deleted; more=%s", deleted, cutoff.date(), more)
    return RetentionResult(deleted=deleted, more=more)


# --- The agent's mandate file ---------------------------------------------------------------------
#
# It proves that disclosing to the agent (or acting on the agent's word) was authorised, so it is
# kept while that can still be challenged: settings.AGENT_EVIDENCE_RETENTION_DAYS after the request
# closes (the request's own record is kept without a set end: nothing deletes or anonymises it),
# and never while the request is open. A request closed without ever being confirmed (EXPIRED)
# disclosed nothing on the mandate's authority: its file goes at once. What stays is the record
# that the file existed and which bytes it was: its sha256 on the audit row.


def agent_evidence_cutoff(*, now: datetime) -> datetime:
    return now - timedelta(days=settings.AGENT_EVIDENCE_RETENTION_DAYS)


def _agent_evidence_due(*, now: datetime) -> Q:
    closed = Q(status__in=CLOSED_STATUSES, closed_at__isnull=False) & ~Q(agent_evidence="")
    return closed & (
        Q(closed_at__lte=agent_evidence_cutoff(now=now)) | Q(status=RequestStatus.EXPIRED, closed_at__lte=now)
    )


def _file_sha256(field_file: FieldFile) -> str | None:
    """The stored file's sha256, or None when the file is already gone from storage."""
    digest = hashlib.sha256()
    try:
        with field_file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except (FileNotFoundError, OSError):
        return None
    return digest.hexdigest()


def request_agent_evidence_purge(*, request_id: int, now: datetime | None = None) -> str | None:
    """Delete one closed request's mandate file once its retention is over, audited with its sha256.

    Returns the sha256 (or "" for a file already missing from storage), None when the request is
    gone, open, has no file, is still within the period, or another worker holds it (so running
    it twice does nothing the second time).
    """
    now = now or timezone.now()
    with transaction.atomic():
        request = (
            DataRequest.objects.select_for_update(skip_locked=True)
            .filter(_agent_evidence_due(now=now), id=request_id)
            .first()
        )
        if request is None or not request.is_closed:
            return None
        name = request.agent_evidence.name
        sha256 = _file_sha256(request.agent_evidence)
        # Storage.delete ignores a file already gone; the row changes in this transaction.
        request.agent_evidence.delete(save=False)
        request.agent_evidence = ""
        request.save(update_fields=["agent_evidence"])
        audit_record(
            actor=SYSTEM,
            action=AuditAction.AGENT_EVIDENCE_PURGED,
            request_id=request.id,
            reason=(
                "The agent's evidence of authority was deleted: the request closed "
                f"{request.closed_at:%Y-%m-%d} and the evidence's retention period ended."
            ),
            detail={
                "sha256": sha256,
                "file_missing": sha256 is None,
                "extension": name.rpartition(".")[2].lower() if "." in name else "",
                "closed_at": request.closed_at.isoformat(),
                "status": request.status,
                "retention_days": settings.AGENT_EVIDENCE_RETENTION_DAYS,
            },
        )
    logger.info("agent evidence purged request=%s missing=%s", request_id, sha256 is None)
    return sha256 or ""


def agent_evidence_purge_due(*, now: datetime | None = None) -> int:
    """Purge every mandate file past its retention; returns how many requests had theirs deleted."""
    now = now or timezone.now()
    due = list(
        DataRequest.objects.filter(_agent_evidence_due(now=now))
        .order_by("closed_at")
        .values_list("id", flat=True)
    )
    return sum(
        1 for request_id in due if request_agent_evidence_purge(request_id=request_id, now=now) is not None
    )
