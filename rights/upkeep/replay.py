"""The erasure ledger's copy outside the database, and its replay after a restore from backup.

A restore brings back the database as it was at the backup: the images erased since are back in
it (and their files in media, their vectors in the index), and so are the ledger rows that would
say so -- those are gone too. So every erasure is also appended, before the image is deleted, to
``settings.ERASURE_LEDGER_FILE``: one JSON line per image (`at`, `request_id`, `image_id`,
`image_sha256`, `source`), written with O_APPEND and fsynced. The file lives beside the audit
anchors, on their own volume, shipped off the host; a restore never puts an older copy over it.
A line means "approved for erasure": an erasure that died before its deletion is replayed too.

``erasures_replay`` then deletes again, through matching's delete service (file, faces,
embeddings, index entries), every image whose hash the copy or the restored database ledger
names. It sends nothing to requesters or recipients: their answers and notices went out before
the restore. A request the copy names that the restored database shows open again is held for
staff (the privacy officer is alerted), so that no worker carries it out again by itself and
re-sends its notices. Audited (one row with the counts, the hashes deleted again and the requests
held); safe to run again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from matching.models import Image
from matching.services.deletion import images_delete
from matching.services.erased import erased_image_record, erased_images_find
from matching.services.index import index_sync
from rights.lifecycle.audit import SYSTEM, audit_record
from rights.lifecycle.ledger_copy import (
    LedgerCopyEntry,
    LedgerCopyMissing,
    LedgerCopyReading,
    ledger_copy_entries,
)
from rights.models import OPEN_STATUSES, AuditAction, DataRequest, ErasureRecord, RequestStatus
from rights.pipeline.failures import request_hold

logger = logging.getLogger(__name__)

REPLAY_ACTION = AuditAction.ERASURES_REPLAYED
HOLD_ACTION = AuditAction.HELD_AFTER_RESTORE
HOLD_REASON = (
    "Restored from a backup taken before this request's erasure: its images were erased again by the "
    "ledger replay. Its notices and answer may already have gone out before the restore; check before "
    "approving it again (approving re-sends them)."
)
CHUNK = 500  # hashes looked up (and images deleted) per query: bounded memory at any ledger size
_AUDITED_HASHES = 1000  # hashes listed in the audit row; the count is always exact


def _database_entries() -> Iterator[LedgerCopyEntry]:
    rows = ErasureRecord.objects.order_by("id").values_list("image_sha256", "request_id", "erased_at")
    for sha, request_id, erased_at in rows.iterator(CHUNK):
        yield LedgerCopyEntry(image_sha256=sha, request_id=request_id, at=erased_at)


def _chunks(values: Iterable[LedgerCopyEntry]) -> Iterator[list[LedgerCopyEntry]]:
    chunk: list[LedgerCopyEntry] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass(frozen=True)
class ReplayResult:
    copy_lines: int  # entries read from the ledger copy
    database_rows: int  # ledger rows in the (restored) database
    images_deleted: int  # images found again and deleted
    faces_deleted: int
    erased_hashes_recorded: int  # hashes ingestion had forgotten to refuse (ErasedImage), recorded again
    deleted_hashes: list[str]
    bad_lines: list[int]  # line numbers of the copy that are not ledger entries (left as they are)
    held_request_ids: list[int]  # open again in the restored database though erased since: held
    index_removed: int  # index entries without a face row, removed by the final index sync


@dataclass
class _Tally:
    deleted: list[str] = field(default_factory=list)
    faces: int = 0
    recorded: int = 0


def _chunk_replay(*, entries: list[LedgerCopyEntry], tally: _Tally) -> None:
    """Record the chunk's hashes as erased where the restored database forgot them (ingestion then
    refuses those bytes again), and delete the images that came back."""
    known = erased_images_find(hashes=[e.image_sha256 for e in entries])
    for entry in entries:
        if entry.image_sha256 not in known:
            reference = "" if entry.request_id is None else str(entry.request_id)
            known[entry.image_sha256] = erased_image_record(
                sha256=entry.image_sha256, reference=reference, erased_at=entry.at
            )
            tally.recorded += 1
    present = dict(
        Image.objects.filter(sha256__in=[e.image_sha256 for e in entries]).values_list("id", "sha256")
    )
    if not present:
        return
    for outcome in images_delete(image_ids=sorted(present)):
        if outcome.found:
            logger.info("erasures replay: image %s deleted again", outcome.image_id)
            tally.deleted.append(outcome.sha256)
            tally.faces += outcome.faces


def _requests_hold(*, request_ids: set[int]) -> list[int]:
    """Requests the copy says were erased, open in the restored database: held for staff, so that no
    worker carries them out again by itself and re-sends their notices."""
    reopened = DataRequest.objects.filter(id__in=request_ids, status__in=OPEN_STATUSES).exclude(
        status=RequestStatus.HELD
    )
    from_statuses = [s for s in OPEN_STATUSES if s != RequestStatus.HELD]
    return [
        request_id
        for request_id in sorted(reopened.values_list("id", flat=True))
        if request_hold(
            request_id=request_id, from_statuses=from_statuses, reason=HOLD_REASON, action=HOLD_ACTION
        )
    ]


def erasures_replay(*, ledger_file: Path | None = None, use_copy: bool = True) -> ReplayResult:
    """Delete again every image the ledger copy or the database ledger names; hold the requests it
    names that are open again. Audited; sends nothing to requesters or recipients.

    Raises LedgerCopyMissing (nothing deleted, nothing written) when ``use_copy`` and the copy is
    not there: replaying only the restored database would silently keep the latest erasures undone.
    """
    path = Path(ledger_file or settings.ERASURE_LEDGER_FILE)
    if use_copy and not path.is_file():
        raise LedgerCopyMissing(str(path))
    reading = LedgerCopyReading()
    tally = _Tally()
    copy_requests: set[int] = set()

    def copy_entries() -> Iterator[LedgerCopyEntry]:
        for entry in ledger_copy_entries(path=path, reading=reading):
            if entry.request_id is not None:
                copy_requests.add(entry.request_id)
            yield entry

    if use_copy:
        for chunk in _chunks(copy_entries()):
            _chunk_replay(entries=chunk, tally=tally)
    database_rows = 0
    for chunk in _chunks(_database_entries()):
        database_rows += len(chunk)
        _chunk_replay(entries=chunk, tally=tally)
    # The restored index may hold vectors of faces the restored database never had (an index backed
    # up after the database dump): the sync drops every id without a face row.
    synced = index_sync()
    held = _requests_hold(request_ids=copy_requests)
    result = ReplayResult(
        copy_lines=reading.lines,
        database_rows=database_rows,
        images_deleted=len(tally.deleted),
        faces_deleted=tally.faces,
        erased_hashes_recorded=tally.recorded,
        deleted_hashes=tally.deleted,
        bad_lines=reading.bad_lines,
        index_removed=synced.removed,
        held_request_ids=held,
    )
    with transaction.atomic():
        audit_record(
            actor=SYSTEM,
            action=REPLAY_ACTION,
            reason="erasure ledger replayed (after a restore from backup)",
            detail={
                "ledger_copy": str(path) if use_copy else None,
                "copy_lines": result.copy_lines,
                "database_rows": result.database_rows,
                "images_deleted": result.images_deleted,
                "faces_deleted": result.faces_deleted,
                "erased_hashes_recorded": result.erased_hashes_recorded,
                "image_hashes": tally.deleted[:_AUDITED_HASHES],
                "bad_lines": result.bad_lines[:100],
                "held_request_ids": held,
            },
        )
    logger.info(
        "erasures replay: %s copy lines, %s ledger rows, %s images deleted again, %s bad lines",
        result.copy_lines,
        result.database_rows,
        result.images_deleted,
        len(result.bad_lines),
    )
    return result
