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

The database is the record. A crash between a database commit and the index write is repaired by
``index_sync``, which adds whatever the database has and the index lacks and removes ids whose
faces are gone; ids in the index without a face are harmless to searches (``faces_search`` drops
them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from django.conf import settings

from matching.services.index import shards
from matching.services.index.scan import GEMM_FROM, snapshot_range_search
from matching.services.index.store import (
    DIM,
    IndexSyncResult,
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
    "index_cache_clear",
    "index_ids",
    "index_load",
    "index_maintain",
    "index_range_search",
    "index_rebuild",
    "index_remove",
    "index_sync",
    "index_sync_if_changed",
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


def index_sync(*, full: bool = False) -> IndexSyncResult:
    """Reconcile the index with the database: add missing faces, drop ids whose faces are gone.

    Cheap when nothing is missing: the Face table's (count, sum of ids), one aggregate query, is
    compared with the manifest's first (see ``index_sync_if_changed``); only a difference, or
    ``full``, reads every id. The database is read while holding the writer lock: every id already
    in the index was then committed before we look, so no concurrent ingestion is taken for an orphan.
    """
    if shards.shards_remote():
        return shards.shards_sync()
    from matching.models import Face

    folder = index_folder()
    with writer_lock(folder):
        snapshot = snapshot_open(folder)
        manifest = snapshot.manifest
        if not full and manifest.version != 0:
            db_figures = _db_fingerprint()
            if (manifest.total, manifest.id_sum) == db_figures:
                return IndexSyncResult(
                    added=0, removed=0, total=manifest.total, version=manifest.version, database=db_figures[0]
                )
        in_index = snapshot.ids()
        in_db = np.fromiter(
            shards.shard_faces(Face.objects.all()).values_list("pk", flat=True).iterator(chunk_size=CHUNK),
            dtype=np.int64,
        )
        missing = np.setdiff1d(in_db, in_index)
        orphans = np.setdiff1d(in_index, in_db)
        manifest, added, removed = snapshot.manifest, 0, 0
        for ids, vectors in db_faces(missing) if missing.size else ():
            manifest, count = segments_add(folder=folder, ids=ids, vectors=vectors)
            added += count
        if orphans.size:
            manifest, removed = segments_remove(folder=folder, ids=orphans, layout=_layout())
        if manifest.version == 0:  # an empty collection: write the empty manifest once
            manifest = segments_init(folder=folder)
        if added or removed:
            logger.info("index: sync added %s, removed %s (version %s)", added, removed, manifest.version)
    return IndexSyncResult(
        added=added, removed=removed, total=manifest.total, version=manifest.version, database=int(in_db.size)
    )


def _db_fingerprint() -> tuple[int, int]:
    """(count, sum of ids) of this index's Face rows, in one aggregate query."""
    from django.db.models import Count, Sum

    from matching.models import Face

    row = shards.shard_faces(Face.objects.all()).aggregate(count=Count("pk"), total=Sum("pk"))
    return int(row["count"] or 0), int(row["total"] or 0)


def index_sync_if_changed() -> IndexSyncResult:
    """``index_sync`` only when the Face table and the index differ; cheap when nothing changed.

    Compares (count, sum of ids) of the Face table (one aggregate query) with the same figures the
    manifest holds. Ids only grow, so a face added and another removed cannot leave both equal
    unless the index both lacks committed faces and holds deleted ones of exactly the same sum; the
    writers keep the index in step, and a crash between their database commit and index write
    shows here as a difference, which the full sync then repairs.
    """
    if shards.shards_remote():
        return shards.shards_sync_if_changed()
    _, snapshot = index_load()
    db_figures = _db_fingerprint()
    manifest = snapshot.manifest
    if manifest.version != 0 and (manifest.total, manifest.id_sum) == db_figures:
        return IndexSyncResult(
            added=0, removed=0, total=manifest.total, version=manifest.version, database=db_figures[0]
        )
    return index_sync()  # compares again under the writer lock, then repairs


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


def index_cache_clear() -> None:
    """Forget the mapped segments (tests; a process that moved INDEX_DIR)."""
    readers_clear()
