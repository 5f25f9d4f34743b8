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
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from matching.models import Image
from matching.services.deletion import images_delete
from matching.services.index import index_sync
from rights.lifecycle.audit import SYSTEM, audit_record
from rights.lifecycle.ledger_copy import LedgerCopyMissing, LedgerCopyReading, ledger_copy_entries
from rights.models import OPEN_STATUSES, DataRequest, ErasureRecord, RequestStatus
from rights.pipeline.failures import request_hold

logger = logging.getLogger(__name__)

REPLAY_ACTION = "erasures_replayed"
HOLD_ACTION = "held_after_restore"
HOLD_REASON = (
    "Restored from a backup taken before this request's erasure: its images were erased again by the "
    "ledger replay. Its notices and answer may already have gone out before the restore; check before "
    "approving it again (approving re-sends them)."
)
CHUNK = 500  # hashes looked up (and images deleted) per query: bounded memory at any ledger size
_AUDITED_HASHES = 1000  # hashes listed in the audit row; the count is always exact


def _database_hashes() -> Iterator[str]:
    yield from ErasureRecord.objects.order_by("id").values_list("image_sha256", flat=True).iterator(CHUNK)


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    chunk: list[str] = []
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
    deleted_hashes: list[str]
    bad_lines: list[int]  # line numbers of the copy that are not ledger entries (left as they are)
    held_request_ids: list[int]  # open again in the restored database though erased since: held
    index_removed: int  # index entries without a face row, removed by the final index sync


def _present_delete(hashes: list[str]) -> tuple[list[str], int]:
    present = dict(Image.objects.filter(sha256__in=hashes).values_list("id", "sha256"))
    if not present:
        return [], 0
    outcomes = [o for o in images_delete(image_ids=sorted(present)) if o.found]
    for outcome in outcomes:
        logger.info("erasures replay: image %s deleted again", outcome.image_id)
    return [o.sha256 for o in outcomes], sum(o.faces for o in outcomes)


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
    deleted: list[str] = []
    faces = 0
    copy_requests: set[int] = set()

    def copy_hashes() -> Iterator[str]:
        for sha, request_id in ledger_copy_entries(path=path, reading=reading):
            if request_id is not None:
                copy_requests.add(request_id)
            yield sha

    if use_copy:
        for chunk in _chunks(copy_hashes()):
            hashes, count = _present_delete(chunk)
            deleted += hashes
            faces += count
    database_rows = 0
    for chunk in _chunks(_database_hashes()):
        database_rows += len(chunk)
        hashes, count = _present_delete(chunk)
        deleted += hashes
        faces += count
    # The restored index may hold vectors of faces the restored database never had (an index backed
    # up after the database dump): the sync drops every id without a face row.
    synced = index_sync()
    held = _requests_hold(request_ids=copy_requests)
    result = ReplayResult(
        copy_lines=reading.lines,
        database_rows=database_rows,
        images_deleted=len(deleted),
        faces_deleted=faces,
        deleted_hashes=deleted,
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
                "image_hashes": deleted[:_AUDITED_HASHES],
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
