"""The FAISS index: an exact, rebuildable cache of every Face embedding, shared by all processes.

Exactness is the point: a rights answer must list every image of the person, so the index is a
flat inner-product index (every vector compared, no approximation) searched by range, which
returns every face above a threshold instead of a fixed top-k.

On disk, ``faces.index`` under settings.INDEX_DIR is a 16-byte header (magic, version) followed by
the serialised FAISS index. It is replaced atomically (temp file, fsync, rename), so a reader
always opens a whole index. Each process caches the index it loaded and reloads it when the
version on disk changed; writers take an exclusive flock on ``index.lock`` and start from the
latest file, so no change made by another process is lost.

The database is the record. A crash between a database commit and the index write is repaired
by ``index_sync``, which adds whatever the database has and the index lacks; ids in the index
whose faces are gone are harmless to searches (``faces_search`` drops them) and ``index_sync``
removes them.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import struct
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from django.conf import settings

logger = logging.getLogger(__name__)

DIM = 512
_MAGIC = b"FRIDX001"
_HEADER = struct.Struct("<8sQ")  # magic, version
_INDEX_FILE = "faces.index"
_LOCK_FILE = "index.lock"
_CHUNK = 20_000  # faces read from the database at a time when rebuilding / syncing

_cache_lock = threading.RLock()
_cache: dict[str, tuple[int, faiss.Index]] = {}  # index path -> (version, index)


@dataclass(frozen=True)
class IndexSyncResult:
    added: int
    removed: int
    total: int
    version: int
    database: int = -1  # Face rows seen by the sync (-1: not counted)


# index path -> (version, (ntotal, sum of ids)) of the loaded index: the figures a search compares
# with the Face table's, computed once per index version.
_fingerprints: dict[str, tuple[int, tuple[int, int]]] = {}


def _paths() -> tuple[Path, Path]:
    folder = Path(settings.INDEX_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / _INDEX_FILE, folder / _LOCK_FILE


def index_empty() -> faiss.Index:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))


def _read(path: Path) -> tuple[int, faiss.Index | None]:
    """(version, index) from disk; (0, None) when there is no index file yet."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - the fd keeps the file we read whole, even if replaced
    except FileNotFoundError:
        return 0, None
    with handle:
        magic, version = _HEADER.unpack(handle.read(_HEADER.size))
        if magic != _MAGIC:
            raise RuntimeError(f"{path} is not a facerights index; run `manage.py rebuild_index`.")
        payload = np.fromfile(handle, dtype=np.uint8)
    return version, faiss.deserialize_index(payload)


def _version_on_disk(path: Path) -> int:
    try:
        with open(path, "rb") as handle:
            magic, version = _HEADER.unpack(handle.read(_HEADER.size))
    except FileNotFoundError:
        return 0
    return version if magic == _MAGIC else -1


def _write(path: Path, index: faiss.Index, version: int) -> None:
    payload = faiss.serialize_index(index)
    fd, tmp_name = tempfile.mkstemp(prefix=".faces-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(_HEADER.pack(_MAGIC, version))
            payload.tofile(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    # Make the rename itself durable.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def index_load() -> tuple[int, faiss.Index]:
    """The latest index (cached in this process until another process writes a new version).

    The returned index is shared: read from it, never change it (writers go through index_* below).
    """
    path, _ = _paths()
    key = str(path)
    with _cache_lock:
        cached = _cache.get(key)
        on_disk = _version_on_disk(path)
        if cached is not None and cached[0] == on_disk:
            return cached
        version, index = _read(path)
        if index is None:
            version, index = 0, index_empty()
        _cache[key] = (version, index)
        return version, index


def _latest_private_copy(path: Path) -> tuple[int, faiss.Index]:
    """The latest index as a copy this writer may change (readers keep using the cached one)."""
    with _cache_lock:
        cached = _cache.get(str(path))
    if cached is not None and cached[0] == _version_on_disk(path):
        return cached[0], faiss.clone_index(cached[1])  # a memory copy beats re-reading the file
    version, index = _read(path)
    return version, index if index is not None else index_empty()


@contextlib.contextmanager
def _writing() -> Iterator[tuple[int, faiss.Index, list[faiss.Index]]]:
    """Exclusive write access across processes: yields (version, a private copy, [replacement])."""
    path, lock_path = _paths()
    with open(lock_path, "a+b") as lock_handle:
        fcntl.flock(lock_handle.fileno(), fcntl.LOCK_EX)
        try:
            version, index = _latest_private_copy(path)
            holder: list[faiss.Index] = [index]
            yield version, index, holder
            new_version = version + 1
            _write(path, holder[0], new_version)
            with _cache_lock:
                _cache[str(path)] = (new_version, holder[0])
        finally:
            fcntl.flock(lock_handle.fileno(), fcntl.LOCK_UN)


def index_ids(*, index: faiss.Index) -> np.ndarray:
    return faiss.vector_to_array(index.id_map).astype(np.int64, copy=False)


def _as_matrix(vectors: np.ndarray) -> np.ndarray:
    matrix = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(-1, DIM))
    return matrix


def _add_new(index: faiss.Index, ids: np.ndarray, vectors: np.ndarray) -> int:
    # IndexIDMap2 would happily store an id twice: add only ids it does not hold yet.
    if ids.size == 0:
        return 0
    _, first = np.unique(ids, return_index=True)
    ids, vectors = ids[first], vectors[first]
    fresh = ~np.isin(ids, index_ids(index=index))
    if fresh.any():
        index.add_with_ids(np.ascontiguousarray(vectors[fresh]), np.ascontiguousarray(ids[fresh]))
    return int(fresh.sum())


def index_add(*, ids: Iterable[int], vectors: np.ndarray) -> int:
    """Add faces (id = Face.pk) to the shared index; ids already present are left alone. Returns added."""
    id_array = np.fromiter((int(i) for i in ids), dtype=np.int64)
    matrix = _as_matrix(vectors)
    if id_array.size != matrix.shape[0]:
        raise ValueError("ids and vectors differ in length")
    if id_array.size == 0:
        return 0
    with _writing() as (version, index, _):
        added = _add_new(index, id_array, matrix)
    logger.info("index: added %s faces (version %s)", added, version + 1)
    return added


def index_remove(*, ids: Iterable[int]) -> int:
    """Remove faces from the shared index. Returns how many were there."""
    id_array = np.fromiter((int(i) for i in ids), dtype=np.int64)
    if id_array.size == 0:
        return 0
    with _writing() as (version, index, _):
        removed = int(index.remove_ids(faiss.IDSelectorBatch(id_array)))
    logger.info("index: removed %s faces (version %s)", removed, version + 1)
    return removed


def _db_faces(ids: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids, vectors) chunks of Face rows, all of them or those with the given ids."""
    from matching.models import Face

    if ids is None:
        last = 0
        while True:
            rows = list(
                Face.objects.filter(pk__gt=last).order_by("pk").values_list("pk", "embedding")[:_CHUNK]
            )
            if not rows:
                return
            last = rows[-1][0]
            yield _rows_to_arrays(rows)
    else:
        for start in range(0, ids.size, _CHUNK):
            part = [int(i) for i in ids[start : start + _CHUNK]]
            rows = list(Face.objects.filter(pk__in=part).order_by("pk").values_list("pk", "embedding"))
            if rows:
                yield _rows_to_arrays(rows)


def _rows_to_arrays(rows: list[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray]:
    ids = np.fromiter((pk for pk, _ in rows), dtype=np.int64, count=len(rows))
    vectors = np.frombuffer(b"".join(bytes(blob) for _, blob in rows), dtype="<f4").reshape(len(rows), DIM)
    return ids, np.ascontiguousarray(vectors, dtype=np.float32)


def index_rebuild() -> IndexSyncResult:
    """Build the index afresh from every Face row, in chunks, and replace the shared index."""
    with _writing() as (version, _, holder):
        fresh = index_empty()
        for ids, vectors in _db_faces():
            fresh.add_with_ids(vectors, ids)
        holder[0] = fresh
        total = int(fresh.ntotal)
    logger.info("index: rebuilt with %s faces (version %s)", total, version + 1)
    return IndexSyncResult(added=total, removed=0, total=total, version=version + 1)


def index_sync() -> IndexSyncResult:
    """Reconcile the index with the database: add missing faces, drop ids whose faces are gone.

    The database is read while holding the writer lock: every id already in the index was then
    committed to the database before we look, so no concurrent ingestion is mistaken for an orphan.
    """
    from matching.models import Face

    path, lock_path = _paths()
    with open(lock_path, "a+b") as lock_handle:
        fcntl.flock(lock_handle.fileno(), fcntl.LOCK_EX)
        try:
            version, index = _latest_private_copy(path)
            in_index = index_ids(index=index)
            in_db = np.fromiter(
                Face.objects.values_list("pk", flat=True).iterator(chunk_size=_CHUNK), dtype=np.int64
            )
            missing = np.setdiff1d(in_db, in_index, assume_unique=False)
            orphans = np.setdiff1d(in_index, in_db, assume_unique=False)
            added = 0
            if missing.size:
                for ids, vectors in _db_faces(missing):
                    added += _add_new(index, ids, vectors)
            removed = int(index.remove_ids(faiss.IDSelectorBatch(orphans))) if orphans.size else 0
            if added or removed or _version_on_disk(path) == 0:
                version += 1
                _write(path, index, version)
                with _cache_lock:
                    _cache[str(path)] = (version, index)
                logger.info("index: sync added %s, removed %s (version %s)", added, removed, version)
            return IndexSyncResult(
                added=added,
                removed=removed,
                total=int(index.ntotal),
                version=version,
                database=int(in_db.size),
            )
        finally:
            fcntl.flock(lock_handle.fileno(), fcntl.LOCK_UN)


def _index_fingerprint(version: int, index: faiss.Index) -> tuple[int, int]:
    """(ntotal, sum of ids) of a loaded index, cached per version (the ids are read once)."""
    path, _ = _paths()
    with _cache_lock:
        cached = _fingerprints.get(str(path))
        if cached is not None and cached[0] == version:
            return cached[1]
    ids = index_ids(index=index)
    figures = (int(ids.size), int(ids.sum(dtype=np.int64)) if ids.size else 0)
    with _cache_lock:
        _fingerprints[str(path)] = (version, figures)
    return figures


def _db_fingerprint() -> tuple[int, int]:
    """(count, sum of ids) of the Face table, in one aggregate query."""
    from django.db.models import Count, Sum

    from matching.models import Face

    row = Face.objects.aggregate(count=Count("pk"), total=Sum("pk"))
    return int(row["count"] or 0), int(row["total"] or 0)


def index_sync_if_changed() -> IndexSyncResult:
    """``index_sync`` only when the Face table and the index differ; cheap when nothing changed.

    Compares (count, sum of ids) of the Face table (one aggregate query) with the same figures of
    the loaded index. Ids only grow, so a face added and another removed cannot leave both equal
    unless the index both lacks committed faces and holds deleted ones of exactly the same sum; the
    writers (ingestion, deletion) keep the index in step, and a crash between their database commit
    and index write shows here as a difference, which the full sync then repairs.
    """
    version, index = index_load()
    db_figures = _db_fingerprint()
    if _version_on_disk(_paths()[0]) != 0 and _index_fingerprint(version, index) == db_figures:
        return IndexSyncResult(
            added=0, removed=0, total=int(index.ntotal), version=version, database=db_figures[0]
        )
    return index_sync()


# Below this many queries FAISS's own range search (one SIMD pass over the vectors per query) is
# used; from it on, one BLAS matrix product over the same vectors serves the whole batch. The
# faiss-cpu wheel's BLAS path ran about 7x slower than NumPy's on our machines (bench/search.py).
BATCH_FROM = 8
_DB_CHUNK = 131_072  # database rows per matrix product: bounds the score block at 64 MB for 128 queries


def _flat_vectors(index: faiss.Index) -> np.ndarray:
    """The index's stored vectors as an (ntotal, 512) float32 view, without copying."""
    flat = faiss.downcast_index(index.index)
    if flat.ntotal == 0:
        return np.empty((0, DIM), dtype=np.float32)
    return faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * DIM).reshape(flat.ntotal, DIM)


def _range_blas(
    index: faiss.Index, queries: np.ndarray, threshold: np.float32
) -> list[tuple[np.ndarray, np.ndarray]]:
    vectors = _flat_vectors(index)
    ids = index_ids(index=index)
    found_ids: list[list[np.ndarray]] = [[] for _ in range(queries.shape[0])]
    found_scores: list[list[np.ndarray]] = [[] for _ in range(queries.shape[0])]
    for start in range(0, vectors.shape[0], _DB_CHUNK):
        scores = vectors[start : start + _DB_CHUNK] @ queries.T  # (chunk, nq)
        rows, cols = np.nonzero(scores >= threshold)
        for q in np.unique(cols):
            mask = cols == q
            found_ids[q].append(ids[start + rows[mask]])
            found_scores[q].append(scores[rows[mask], q])
    results = []
    for q in range(queries.shape[0]):
        q_ids = np.concatenate(found_ids[q]) if found_ids[q] else np.empty(0, np.int64)
        q_scores = np.concatenate(found_scores[q]) if found_scores[q] else np.empty(0, np.float32)
        results.append((q_ids, q_scores))
    return results


def _range_faiss(
    index: faiss.Index, queries: np.ndarray, threshold: np.float32
) -> list[tuple[np.ndarray, np.ndarray]]:
    # FAISS keeps scores strictly greater than the radius: nudge it down, then filter exactly.
    lims, scores, ids = index.range_search(queries, float(np.nextafter(threshold, np.float32(-2))))
    results = []
    for q in range(queries.shape[0]):
        lo, hi = int(lims[q]), int(lims[q + 1])
        keep = scores[lo:hi] >= threshold
        results.append((ids[lo:hi][keep].astype(np.int64), scores[lo:hi][keep]))
    return results


def index_range_search(*, vectors: np.ndarray, threshold: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each query vector, (ids, scores) of EVERY indexed face with inner product >= threshold, best first.

    Exhaustive and exact: every stored vector is compared with every query.
    """
    matrix = _as_matrix(vectors)
    _, index = index_load()
    if matrix.shape[0] == 0:
        return []
    if index.ntotal == 0:
        return [(np.empty(0, np.int64), np.empty(0, np.float32)) for _ in range(matrix.shape[0])]
    limit = np.float32(threshold)
    raw = (
        _range_faiss(index, matrix, limit)
        if matrix.shape[0] < BATCH_FROM
        else _range_blas(index, matrix, limit)
    )
    results = []
    for q_ids, q_scores in raw:
        order = np.lexsort((q_ids, -q_scores))
        results.append((q_ids[order], q_scores[order]))
    return results


def index_cache_clear() -> None:
    """Forget the cached index (tests; a process that moved INDEX_DIR)."""
    with _cache_lock:
        _cache.clear()
        _fingerprints.clear()
