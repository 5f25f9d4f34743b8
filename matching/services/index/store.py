"""The index on disk: immutable sealed segments, one growing segment, a versioned manifest.

Layout of an index folder (settings.INDEX_DIR, or one folder per shard):

- ``seg-<uid>.f32``: a sealed segment, never changed once written. A 64-byte header (magic,
  count, dim, flags), the ids (int64, sorted), then the float32 vectors, 64-byte aligned; with
  compact codes (flag 1) the int8 codes, their per-vector scale and error norm follow.
- ``grow-<uid>.log``: the growing segment, records of (int64 id, 512 float32) appended in place.
  Only the first ``count`` records named by the manifest exist; a tail left by a crash is ignored
  and cut off by the next writer.
- ``manifest``: JSON naming the segments, their counts, id ranges and id sums, with a version that
  grows by one per change. It is replaced atomically (temp file, fsync, rename, folder fsync): it
  is the commit point, as Lucene's segments_N. A file it does not name is debris of a crashed
  writer, deleted by the next one.

Readers memory-map the segments read-only, so every process on a machine shares one copy through
the page cache; on a new manifest they open only the segments they have not got. Writers hold an
exclusive flock on ``index.lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import mmap
import os
import struct
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matching.services.index.mapping import file_map

DIM = 512
MANIFEST = "manifest"
LOCK = "index.lock"
_MAGIC = b"FRSEG001"
_HEADER = struct.Struct("<8sQQQ32x")  # magic, count, dim, flags: 64 bytes
_ALIGN = 64
FLAG_CODES = 1
RECORD = np.dtype([("id", "<i8"), ("v", "<f4", (DIM,))])  # one growing-segment record: 2056 bytes


class IndexCorrupt(RuntimeError):
    """The index folder holds something that is not a facerights index."""


@dataclass(frozen=True)
class IndexSyncResult:
    """What a sync, rebuild or shard answer did (in store: both the package and its shards import it)."""

    added: int
    removed: int
    total: int
    version: int
    database: int = -1  # Face rows seen by the sync (-1: not counted)


@dataclass(frozen=True)
class SegmentInfo:
    """What the manifest says of one segment."""

    name: str
    count: int
    min_id: int
    max_id: int
    id_sum: int

    @staticmethod
    def of(name: str, ids: np.ndarray) -> SegmentInfo:
        if ids.size == 0:
            return SegmentInfo(name=name, count=0, min_id=0, max_id=-1, id_sum=0)
        return SegmentInfo(
            name=name,
            count=int(ids.size),
            min_id=int(ids.min()),
            max_id=int(ids.max()),
            id_sum=int(ids.sum(dtype=np.int64)),
        )


@dataclass(frozen=True)
class Manifest:
    version: int = 0
    sealed: tuple[SegmentInfo, ...] = ()
    growing: SegmentInfo | None = None

    @property
    def segments(self) -> tuple[SegmentInfo, ...]:
        return self.sealed + ((self.growing,) if self.growing is not None else ())

    @property
    def total(self) -> int:
        return sum(s.count for s in self.segments)

    @property
    def id_sum(self) -> int:
        return sum(s.id_sum for s in self.segments)

    @property
    def max_id(self) -> int:
        """The newest face id held (-1 when empty): face ids only grow, so a newer one in the
        Face table is a face the index never heard of."""
        return max((s.max_id for s in self.segments if s.count), default=-1)

    def to_json(self) -> bytes:
        body = {
            "format": 1,
            "version": self.version,
            "sealed": [s.__dict__ for s in self.sealed],
            "growing": self.growing.__dict__ if self.growing is not None else None,
        }
        return json.dumps(body, separators=(",", ":")).encode()

    @staticmethod
    def from_json(raw: bytes) -> Manifest:
        body = json.loads(raw)
        if body.get("format") != 1:
            raise IndexCorrupt("unknown index manifest format; run `manage.py rebuild_index`.")
        grow = body.get("growing")
        return Manifest(
            version=int(body["version"]),
            sealed=tuple(SegmentInfo(**s) for s in body["sealed"]),
            growing=SegmentInfo(**grow) if grow else None,
        )


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, chunks: Iterator[bytes | memoryview | np.ndarray]) -> None:
    """Write a whole new file at ``path``: temp file, fsync, rename, folder fsync (all or nothing)."""
    tmp = path.parent / f".tmp-{uuid.uuid4().hex}-{path.name}"
    try:
        with open(tmp, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def new_name(prefix: str, suffix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}.{suffix}"


def _aligned(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _layout(count: int) -> tuple[int, int, int, int, int]:
    """Byte offsets of ids, vectors, codes, scales, errors in a sealed segment file."""
    ids_at = _HEADER.size
    vec_at = _aligned(ids_at + 8 * count)
    codes_at = _aligned(vec_at + 4 * DIM * count)
    scales_at = _aligned(codes_at + DIM * count)
    errors_at = _aligned(scales_at + 4 * count)
    return ids_at, vec_at, codes_at, scales_at, errors_at


def _padding(written: int, target: int) -> bytes:
    return b"\0" * (target - written)


def _sealed_write_parts(
    folder: Path,
    ids: np.ndarray,
    vector_parts: list[np.ndarray],
    code_parts: tuple[list[np.ndarray], np.ndarray, np.ndarray] | None,
) -> SegmentInfo:
    """Write a sealed segment from pieces (views straight into other segments' maps: no copy)."""
    count = int(ids.size)
    ids_at, vec_at, codes_at, scales_at, errors_at = _layout(count)

    def chunks() -> Iterator[bytes | np.ndarray]:
        yield _HEADER.pack(_MAGIC, count, DIM, FLAG_CODES if code_parts is not None else 0)
        yield np.ascontiguousarray(ids, dtype="<i8")
        yield _padding(ids_at + 8 * count, vec_at)
        yield from vector_parts
        if code_parts is not None:
            codes, scales, errors = code_parts
            yield _padding(vec_at + 4 * DIM * count, codes_at)
            yield from codes
            yield _padding(codes_at + DIM * count, scales_at)
            yield np.ascontiguousarray(scales, dtype="<f4")
            yield _padding(scales_at + 4 * count, errors_at)
            yield np.ascontiguousarray(errors, dtype="<f4")

    name = new_name("seg", "f32")
    write_durably(folder / name, chunks())
    return SegmentInfo.of(name, ids)


def sealed_write(*, folder: Path, ids: np.ndarray, vectors: np.ndarray, codes: bool) -> SegmentInfo:
    """Write a new sealed segment durably (ids sorted first); returns its manifest entry."""
    from matching.services.index.codes import codes_encode

    ids = np.asarray(ids, dtype=np.int64)
    if ids.size > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        order = np.argsort(ids, kind="stable")
        ids, vectors = ids[order], vectors[order]
    vectors = np.ascontiguousarray(vectors, dtype="<f4")
    code_parts = None
    if codes:
        q, scales, errors = codes_encode(vectors=vectors)
        code_parts = ([q], scales, errors)
    return _sealed_write_parts(folder, ids, [vectors], code_parts)


def _kept_runs(count: int, gone_rows: np.ndarray) -> list[tuple[int, int]]:
    bounds = np.concatenate([[-1], np.sort(gone_rows), [count]])
    return [(int(a) + 1, int(b)) for a, b in itertools.pairwise(bounds) if b > a + 1]


def sealed_write_without(
    *, folder: Path, segment: Segment, gone_rows: np.ndarray, codes: bool
) -> SegmentInfo:
    """A copy of a sealed segment without ``gone_rows``: the kept runs written straight from its map."""
    from matching.services.index.codes import codes_encode

    runs = _kept_runs(segment.info.count, gone_rows)
    ids = np.delete(segment.ids, gone_rows)
    vector_parts = [segment.vectors[a:b] for a, b in runs]
    code_parts = None
    if codes and segment.codes is not None and segment.scales is not None and segment.errors is not None:
        code_parts = (
            [segment.codes[a:b] for a, b in runs],
            np.delete(segment.scales, gone_rows),
            np.delete(segment.errors, gone_rows),
        )
    elif codes:
        q, scales, errors = codes_encode(vectors=np.concatenate(vector_parts))
        code_parts = ([q], scales, errors)
    return _sealed_write_parts(folder, ids, vector_parts, code_parts)


@dataclass
class Segment:
    """One segment opened read-only: memory maps, shared with every process through the page cache."""

    info: SegmentInfo
    ids: np.ndarray
    vectors: np.ndarray
    codes: np.ndarray | None = None
    scales: np.ndarray | None = None
    errors: np.ndarray | None = None
    _keep: list[object] = field(default_factory=list, repr=False)
    # With codes: the file's mapping and where its float32 vectors start (mapping.rows_prefetch).
    vectors_map: tuple[mmap.mmap, int] | None = field(default=None, repr=False)


def sealed_open(*, folder: Path, info: SegmentInfo, whole: bool = False) -> Segment:
    """A sealed segment mapped read-only. ``whole``: for a writer that reads every row (a removal's
    copy, a merge): the float32 part keeps the kernel's read-ahead (MADV_RANDOM read a cold segment
    at 60-90 MB/s here, 450-600 MB/s without it)."""
    path = folder / info.name
    with open(path, "rb") as handle:
        magic, count, dim, flags = _HEADER.unpack(handle.read(_HEADER.size))
    if magic != _MAGIC or dim != DIM or count != info.count:
        raise IndexCorrupt(f"{path} is not the segment the manifest names; run `manage.py rebuild_index`.")
    if count == 0:
        empty = np.empty((0, DIM), np.float32)
        return Segment(info=info, ids=np.empty(0, np.int64), vectors=empty)
    ids_at, vec_at, codes_at, scales_at, errors_at = _layout(count)
    codes = bool(flags & FLAG_CODES)
    raw = file_map(path, populate=not codes, random=(vec_at, codes_at) if codes and not whole else None)
    ids = np.asarray(raw[ids_at : ids_at + 8 * count]).view("<i8")
    vectors = np.asarray(raw[vec_at : vec_at + 4 * DIM * count]).view("<f4").reshape(count, DIM)
    segment = Segment(info=info, ids=ids, vectors=vectors, _keep=[raw])
    if codes:
        segment.codes = np.asarray(raw[codes_at : codes_at + DIM * count]).view(np.int8).reshape(count, DIM)
        segment.scales = np.asarray(raw[scales_at : scales_at + 4 * count]).view("<f4")
        segment.errors = np.asarray(raw[errors_at : errors_at + 4 * count]).view("<f4")
        segment.vectors_map = (raw.base.obj, vec_at)
    return segment


def growing_open(*, folder: Path, info: SegmentInfo) -> Segment:
    if info.count == 0:
        return Segment(info=info, ids=np.empty(0, np.int64), vectors=np.empty((0, DIM), np.float32))
    raw = file_map(folder / info.name, info.count * RECORD.itemsize)
    records = raw.view(RECORD)
    return Segment(info=info, ids=records["id"], vectors=records["v"], _keep=[raw])


def growing_append(
    *, folder: Path, info: SegmentInfo | None, ids: np.ndarray, vectors: np.ndarray
) -> SegmentInfo:
    """Append records to the growing segment (a new one if there is none); fsynced before returning.

    The manifest, written after, is what makes them part of the index: a crash before it leaves a
    tail the next writer cuts off.
    """
    records = np.empty(ids.size, dtype=RECORD)
    records["id"], records["v"] = ids, vectors
    if info is None:
        name = new_name("grow", "log")
        base = SegmentInfo.of(name, np.empty(0, np.int64))
    else:
        name, base = info.name, info
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.ftruncate(fd, base.count * RECORD.itemsize)  # cut off what a crashed writer left
        os.pwrite(fd, records.tobytes(), base.count * RECORD.itemsize)
        os.fsync(fd)
    finally:
        os.close(fd)
    if info is None:
        fsync_dir(folder)  # the new file's name must survive a crash too
    added = SegmentInfo.of(name, ids)
    if base.count == 0:
        return added
    return SegmentInfo(
        name=name,
        count=base.count + added.count,
        min_id=min(base.min_id, added.min_id),
        max_id=max(base.max_id, added.max_id),
        id_sum=base.id_sum + added.id_sum,
    )


def growing_write(*, folder: Path, ids: np.ndarray, vectors: np.ndarray) -> SegmentInfo | None:
    """A whole new growing segment file (after a removal from it); None when nothing is left."""
    if ids.size == 0:
        return None
    records = np.empty(ids.size, dtype=RECORD)
    records["id"], records["v"] = ids, vectors
    name = new_name("grow", "log")
    write_durably(folder / name, iter([records.tobytes()]))
    return SegmentInfo.of(name, ids)


def rows_scrub(*, folder: Path, info: SegmentInfo, sealed: bool, rows: np.ndarray) -> None:
    """Overwrite the vectors (and codes) of ``rows`` with zeros in a segment no manifest names any more.

    The file is unlinked right after, but a reader still mapping it keeps its blocks alive: scrubbed,
    they hold no trace of the erased faces even then.
    """
    path = folder / info.name
    if rows.size == 0 or not path.exists():
        return
    fd = os.open(path, os.O_WRONLY)
    try:
        if sealed:
            _, vec_at, codes_at, _, _ = _layout(info.count)
            with open(path, "rb") as handle:
                flags = _HEADER.unpack(handle.read(_HEADER.size))[3]
            zeros = bytes(4 * DIM)
            for row in rows.tolist():
                os.pwrite(fd, zeros, vec_at + 4 * DIM * row)
                if flags & FLAG_CODES:
                    os.pwrite(fd, zeros[:DIM], codes_at + DIM * row)
        else:
            zeros = bytes(4 * DIM)
            for row in rows.tolist():
                os.pwrite(fd, zeros, RECORD.itemsize * row + 8)
        os.fsync(fd)
    finally:
        os.close(fd)


def manifest_read(folder: Path) -> Manifest:
    try:
        raw = (folder / MANIFEST).read_bytes()
    except FileNotFoundError:
        return Manifest()
    try:
        return Manifest.from_json(raw)
    except (ValueError, KeyError, TypeError) as exc:
        raise IndexCorrupt(f"{folder / MANIFEST} is unreadable; run `manage.py rebuild_index`.") from exc


def manifest_write(folder: Path, manifest: Manifest) -> None:
    write_durably(folder / MANIFEST, iter([manifest.to_json()]))


def debris_remove(folder: Path, manifest: Manifest) -> int:
    """Delete segment and temp files the manifest does not name (left by a crashed writer). Under the lock."""
    named = {s.name for s in manifest.segments}
    removed = 0
    for entry in os.scandir(folder):
        is_ours = entry.name.startswith((".tmp-", "seg-", "grow-"))
        if is_ours and entry.name not in named:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed += 1
    if removed:
        fsync_dir(folder)
    return removed


@contextlib.contextmanager
def writer_lock(folder: Path) -> Iterator[None]:
    """Exclusive write access to one index folder, across processes."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@dataclass(frozen=True)
class Snapshot:
    """One version of the index as a reader sees it. ``ntotal`` as FAISS indexes say it."""

    manifest: Manifest
    segments: tuple[Segment, ...]

    @property
    def version(self) -> int:
        return self.manifest.version

    @property
    def ntotal(self) -> int:
        return self.manifest.total

    def ids(self) -> np.ndarray:
        if not self.segments:
            return np.empty(0, np.int64)
        return np.concatenate([np.asarray(s.ids, dtype=np.int64) for s in self.segments])


_readers_lock = threading.RLock()
# folder -> (manifest file identity, snapshot, opened segments by (name, count))
_readers: dict[str, tuple[tuple[int, int, int], Snapshot, dict[tuple[str, int], Segment]]] = {}


def _manifest_identity(folder: Path) -> tuple[int, int, int]:
    try:
        st = os.stat(folder / MANIFEST)
    except FileNotFoundError:
        return (0, 0, 0)
    return (st.st_ino, st.st_mtime_ns, st.st_size)  # a rename gives a new inode


def snapshot_open(folder: Path) -> Snapshot:
    """The latest snapshot, opening only the segments this process has not mapped yet."""
    key = str(folder)
    for _ in range(20):  # a writer may unlink a segment between our manifest read and its open
        identity = _manifest_identity(folder)
        with _readers_lock:
            cached = _readers.get(key)
            if cached is not None and cached[0] == identity:
                return cached[1]
            opened = dict(cached[2]) if cached is not None else {}
        manifest = manifest_read(folder)
        try:
            segments = []
            for info, sealed in [(s, True) for s in manifest.sealed] + (
                [(manifest.growing, False)] if manifest.growing is not None else []
            ):
                segment = opened.get((info.name, info.count))
                if segment is None:
                    opener = sealed_open if sealed else growing_open
                    segment = opener(folder=folder, info=info)
                segments.append(segment)
        except FileNotFoundError:
            continue
        snapshot = Snapshot(manifest=manifest, segments=tuple(segments))
        keep = {(s.info.name, s.info.count): s for s in segments}  # maps of dropped segments close
        with _readers_lock:
            _readers[key] = (identity, snapshot, keep)
        return snapshot
    raise IndexCorrupt(f"{folder} keeps changing under the reader; is a writer looping?")


def readers_clear() -> None:
    with _readers_lock:
        _readers.clear()
