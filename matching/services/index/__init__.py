"""The face index: an exact, rebuildable cache of every Face embedding, shared by all processes.

Exactness is the point: a rights answer must list every image of the person, so every stored
vector is compared with every query and the search is by range (every face above a threshold).

The index is a set of immutable sealed segments plus one growing segment under a versioned
manifest (store.py). Readers memory-map the segments, so all processes on a machine share one copy
through the page cache, and on a new manifest open only the segments they lack. An addition appends
to the growing segment; a removal rewrites only the segments holding the faces and unlinks the old
files before it returns (the vectors are gone from disk when the erasure is verified); sealing and
merging run in the background (``index_maintain``, a Celery task). Past one machine, shards by face
id are served by Celery workers (shards.py).

The database is the record. Writers record each face's owed index change in the transaction that
adds or deletes its row (``IndexPending``, pending.py) and clear it after the index write, so a
crash in between is repaired by the next search's ``index_sync_if_changed`` at the cost of the
faces concerned. ``index_sync`` compares the whole Face table (nightly, after a restore); ids in the
index without a face are harmless to searches (``faces_search`` drops them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from django.conf import settings

from matching.services.index import shards
from matching.services.index.exact import unit_length_check
from matching.services.index.pending import pending_clear, pending_owed, pending_record
from matching.services.index.scan import GEMM_FROM, snapshot_range_search
from matching.services.index.store import (
    DIM,
    IndexSyncResult,
    Manifest,
    Snapshot,
    readers_clear,
    snapshot_open,
    writer_lock,
)
from matching.services.index.writer import (
    Layout,
    MaintainResult,
    segments_add,
    segments_init,
    segments_maintain,
    segments_rebuild,
    segments_remove,
    vectors_matrix,
)

logger = logging.getLogger(__name__)

__all__ = [
    "BATCH_FROM",
    "DIM",
    "IndexSyncResult",
    "MaintainResult",
    "Snapshot",
    "index_add",
    "index_add_owed",
    "index_cache_clear",
    "index_coverage",
    "index_ids",
    "index_kernels_compile",
    "index_load",
    "index_maintain",
    "index_range_search",
    "index_rebuild",
    "index_remove",
    "index_remove_owed",
    "index_sync",
    "index_sync_if_changed",
    "pending_clear",
    "pending_record",
]

BATCH_FROM = GEMM_FROM  # the batch size from which one matrix product serves the whole batch
CHUNK = 20_000  # faces read from the database at a time when rebuilding / syncing


def index_folder() -> Path:
    folder = Path(settings.INDEX_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _layout() -> Layout:
    return Layout(seal_faces=max(1, int(settings.INDEX_SEGMENT_FACES)), codes=bool(settings.INDEX_CODES))


def index_load() -> tuple[int, Snapshot]:
    """(version, snapshot) of this machine's index: segments memory-mapped, shared, read-only."""
    snapshot = snapshot_open(index_folder())
    return snapshot.version, snapshot


def index_face_count() -> int:
    """Faces the index holds, from its manifest (no scan of the vectors or the Face table); sharded,
    every shard's total."""
    if shards.shards_remote():
        return shards.shards_sync_if_changed().total
    return index_load()[1].ntotal


def index_ids(*, index: Snapshot) -> np.ndarray:
    return index.ids()


def _ids_array(ids: Iterable[int]) -> np.ndarray:
    return np.fromiter((int(i) for i in ids), dtype=np.int64)


def index_add(*, ids: Iterable[int], vectors: np.ndarray) -> int:
    """Add faces (id = Face.pk); ids already present are left alone. Returns how many were added.

    Costs the faces added (an append to the growing segment and a new manifest), not the collection.
    """
    id_array = _ids_array(ids)
    matrix = vectors_matrix(vectors)
    if id_array.size != matrix.shape[0]:
        raise ValueError("ids and vectors differ in length")
    if id_array.size == 0:
        return 0
    unit_length_check(vectors=matrix)
    if shards.shards_remote():
        return shards.shards_add(ids=id_array)
    folder = index_folder()
    with writer_lock(folder):
        manifest, added = segments_add(folder=folder, ids=id_array, vectors=matrix)
    logger.info("index: added %s faces (version %s)", added, manifest.version)
    return added


def index_remove(*, ids: Iterable[int]) -> int:
    """Remove faces physically: when this returns, no segment file on disk holds their vectors."""
    id_array = _ids_array(ids)
    if id_array.size == 0:
        return 0
    if shards.shards_remote():
        return shards.shards_remove(ids=id_array)
    folder = index_folder()
    with writer_lock(folder):
        manifest, removed = segments_remove(folder=folder, ids=id_array, layout=_layout())
    logger.info("index: removed %s faces (version %s)", removed, manifest.version)
    return removed


def index_add_owed(*, ids: Iterable[int], vectors: np.ndarray) -> int:
    """``index_add`` for faces a writer recorded as owed (``pending_record``), then the record cleared."""
    id_array = _ids_array(ids)
    added = index_add(ids=id_array, vectors=vectors)
    pending_clear(face_ids=id_array, removal=False)
    return added


def index_remove_owed(*, ids: Iterable[int]) -> int:
    """``index_remove`` for faces a deletion recorded as owed (``pending_record``), then the record
    cleared."""
    id_array = _ids_array(ids)
    removed = index_remove(ids=id_array)
    pending_clear(face_ids=id_array, removal=True)
    return removed


def db_faces(ids: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids, vectors) chunks of this index's Face rows (this shard's), all or those with the given ids."""
    from matching.models import Face

    rows_of = shards.shard_faces(Face.objects.all())
    if ids is None:
        last = 0
        while True:
            rows = list(rows_of.filter(pk__gt=last).order_by("pk").values_list("pk", "embedding")[:CHUNK])
            if not rows:
                return
            last = rows[-1][0]
            yield _rows_to_arrays(rows)
    else:
        for start in range(0, ids.size, CHUNK):
            part = [int(i) for i in ids[start : start + CHUNK]]
            rows = list(rows_of.filter(pk__in=part).order_by("pk").values_list("pk", "embedding"))
            if rows:
                yield _rows_to_arrays(rows)


def _rows_to_arrays(rows: list[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray]:
    ids = np.fromiter((pk for pk, _ in rows), dtype=np.int64, count=len(rows))
    vectors = np.frombuffer(b"".join(bytes(blob) for _, blob in rows), dtype="<f4").reshape(len(rows), DIM)
    return ids, np.ascontiguousarray(vectors, dtype=np.float32)


def index_rebuild() -> IndexSyncResult:
    """Build the index afresh from every Face row, in chunks, as sealed segments; replace the old one."""
    if shards.shards_remote():
        return shards.shards_rebuild()
    folder = index_folder()
    with writer_lock(folder):
        manifest = segments_rebuild(folder=folder, chunks=db_faces(), layout=_layout())
    logger.info("index: rebuilt with %s faces (version %s)", manifest.total, manifest.version)
    return IndexSyncResult(
        added=manifest.total,
        removed=0,
        total=manifest.total,
        version=manifest.version,
        database=manifest.total,
    )


def index_sync() -> IndexSyncResult:
    """Reconcile the index with the whole Face table: add missing faces, drop ids whose faces are gone.

    Reads every id (the cost of the collection): for a restore, a rebuild's check and the nightly
    reconcile (``matching.tasks.index_reconcile``). Searches call ``index_sync_if_changed``, which
    costs the change. The database is read while holding the writer lock: every id already in the
    index was then committed before we look, so no concurrent ingestion is taken for an orphan.
    """
    if shards.shards_remote():
        return shards.shards_sync()
    from matching.models import Face

    folder = index_folder()
    with writer_lock(folder):
        owed_before = pending_owed(limit=None)
        snapshot = snapshot_open(folder)
        in_index = snapshot.ids()
        in_db = np.fromiter(
            shards.shard_faces(Face.objects.all()).values_list("pk", flat=True).iterator(chunk_size=CHUNK),
            dtype=np.int64,
        )
        missing = np.setdiff1d(in_db, in_index)
        orphans = np.setdiff1d(in_index, in_db)
        manifest, added, removed = _changes_apply(
            folder=folder, manifest=snapshot.manifest, add=missing, remove=orphans
        )
        # Owed changes recorded before the read above are now in the index; later ones stay owed.
        pending_clear(face_ids=owed_before[0], removal=False)
        pending_clear(face_ids=owed_before[1], removal=True)
        if added or removed:
            logger.info("index: sync added %s, removed %s (version %s)", added, removed, manifest.version)
    return IndexSyncResult(
        added=added, removed=removed, total=manifest.total, version=manifest.version, database=int(in_db.size)
    )


def _changes_apply(
    *, folder: Path, manifest: Manifest, add: np.ndarray, remove: np.ndarray
) -> tuple[Manifest, int, int]:
    """Add these faces (vectors read from their Face rows, where they still exist) and remove those.
    Under the writer lock. An empty collection's index gets its empty manifest written once."""
    added = removed = 0
    for ids, vectors in db_faces(add) if add.size else ():
        manifest, count = segments_add(folder=folder, ids=ids, vectors=vectors)
        added += count
    if remove.size:
        manifest, removed = segments_remove(folder=folder, ids=remove, layout=_layout())
    if manifest.version == 0:
        manifest = segments_init(folder=folder)
    return manifest, added, removed


def _db_newest_face_id() -> int:
    """The newest Face id of this index (its shard's), -1 when none: one step down the primary key."""
    from matching.models import Face

    newest = shards.shard_faces(Face.objects.all()).order_by("-pk").values_list("pk", flat=True).first()
    return -1 if newest is None else int(newest)


def index_sync_if_changed() -> IndexSyncResult:
    """Bring the index up to date at the cost of the change, not of the collection.

    First a look at the newest Face id, then the changes still owed (``IndexPending``: a writer that
    died, or is still between its commit and its index write), applied under the writer lock. Face
    ids only grow, so a newest id the index still lacks after that is a face added without the
    outbox (a direct insert, a restore): only then does the full ``index_sync`` run. What neither
    sees (a face lost from the middle of the index by other means) the nightly reconcile repairs.
    """
    if shards.shards_remote():
        return shards.shards_sync_if_changed()
    folder = index_folder()
    newest = _db_newest_face_id()  # before the owed rows: a face committed by then is owed or held
    manifest = index_load()[1].manifest
    added = removed = 0
    if _pending_any():
        with writer_lock(folder):
            manifest, added, removed = _owed_apply(folder=folder)
    if manifest.version == 0 or newest > manifest.max_id:
        return index_sync()
    return IndexSyncResult(added=added, removed=removed, total=manifest.total, version=manifest.version)


def index_coverage() -> IndexSyncResult:
    """The index brought up to date with the Face rows counted at the same moment, under the writer
    lock: ``database == total`` proves a rights search covers the whole collection.

    Counts the table, the cost of one search (which reads every vector anyway): once per request,
    never per ingestion batch. A count the owed changes cannot explain runs the full ``index_sync``.
    """
    if shards.shards_remote():
        return shards.shards_coverage()
    from matching.models import Face

    folder = index_folder()
    with writer_lock(folder):
        counted = shards.shard_faces(Face.objects.all()).count()  # before the owed rows, as above
        manifest, added, removed = _owed_apply(folder=folder)
    if manifest.version == 0 or manifest.total != counted:
        return index_sync()
    return IndexSyncResult(
        added=added, removed=removed, total=manifest.total, version=manifest.version, database=counted
    )


def _pending_any() -> bool:
    additions, removals = pending_owed(limit=1)
    return bool(additions.size or removals.size)


def _owed_apply(*, folder: Path) -> tuple[Manifest, int, int]:
    """Apply every owed change (``IndexPending``), chunk by chunk, and clear it. Under the writer lock."""
    manifest = snapshot_open(folder).manifest
    added = removed = 0
    while True:
        additions, removals = pending_owed()
        if not additions.size and not removals.size:
            return manifest, added, removed
        manifest, count_added, count_removed = _changes_apply(
            folder=folder, manifest=manifest, add=additions, remove=removals
        )
        pending_clear(face_ids=additions, removal=False)
        pending_clear(face_ids=removals, removal=True)
        added, removed = added + count_added, removed + count_removed
        logger.info("index: owed changes applied: %s added, %s removed", count_added, count_removed)


def index_maintain(*, seal_all: bool = False) -> MaintainResult:
    """Background upkeep: seal a full growing segment, merge small sealed ones (never on a request)."""
    folder = index_folder()
    with writer_lock(folder):
        result = segments_maintain(folder=folder, layout=_layout(), seal_all=seal_all)
    if result.sealed or result.merged:
        logger.info(
            "index: sealed %s faces, merged %s segments (version %s)",
            result.sealed,
            result.merged,
            result.version,
        )
    return result


def index_range_search(*, vectors: np.ndarray, threshold: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each query vector, (ids, scores) of EVERY indexed face with inner product >= threshold, best first.

    Exhaustive and exact: every stored vector is compared with every query (on every shard).
    """
    matrix = vectors_matrix(vectors)
    if matrix.shape[0] == 0:
        return []
    if shards.shards_remote():
        return shards.shards_range_search(queries=matrix, threshold=threshold)
    _, snapshot = index_load()
    return snapshot_range_search(snapshot=snapshot, queries=matrix, threshold=threshold, use_codes=True)


def index_kernels_compile() -> None:
    """Compile the kernels this process's searches will run (0.1 s for the llvm ones, about 1 s
    for numba's codes kernel where a CPU has no AVX2): a worker does it at start."""
    from matching.services.index.codes_int import codes_kernel_choose, numba_kernel
    from matching.services.index.codes_llvm import llvm_kernels
    from matching.services.index.exact import exact_kernel

    exact_kernel()
    if settings.INDEX_CODES:
        if codes_kernel_choose(batch=1) == "llvm":
            llvm_kernels()
        else:
            numba_kernel()


def index_cache_clear() -> None:
    """Forget the mapped segments (tests; a process that moved INDEX_DIR)."""
    readers_clear()
