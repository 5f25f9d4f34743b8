"""Changes to one index folder: add (append to the growing segment), remove (rewrite only the segments
holding the faces), rebuild, and the background upkeep (seal the growing segment, merge small ones).

Every change runs under the folder's writer lock, starts from the manifest on disk, writes its new
files durably, then commits by writing the next manifest. Files the new manifest no longer names are
deleted before the change returns; a crash before that leaves them as debris, which the next writer
deletes first. ``step`` marks each point a crash can hit; the tests inject failures there.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from matching.services.index.store import (
    DIM,
    Manifest,
    SegmentInfo,
    debris_remove,
    fsync_dir,
    growing_append,
    growing_open,
    growing_write,
    manifest_read,
    manifest_write,
    rows_scrub,
    sealed_open,
    sealed_write,
    sealed_write_without,
)


def step(name: str) -> None:
    """A point between two durable writes (a crash may happen here; tests make one happen)."""


@dataclass(frozen=True)
class Layout:
    seal_faces: int  # a sealed segment holds at most this many faces
    codes: bool  # sealed segments carry 8-bit codes (for collections larger than memory)


def _overlaps(info: SegmentInfo, ids: np.ndarray) -> bool:
    return info.count > 0 and bool(ids.size) and info.min_id <= int(ids[-1]) and int(ids[0]) <= info.max_id


def _present(folder: Path, manifest: Manifest, ids: np.ndarray) -> np.ndarray:
    """Which of the sorted ``ids`` the index holds (only segments whose id range overlaps are read)."""
    held = np.zeros(ids.size, dtype=bool)
    for info in manifest.sealed:
        if _overlaps(info, ids):
            held |= np.isin(ids, sealed_open(folder=folder, info=info).ids)
    if manifest.growing is not None and _overlaps(manifest.growing, ids):
        held |= np.isin(ids, growing_open(folder=folder, info=manifest.growing).ids)
    return held


def _commit(folder: Path, manifest: Manifest, **changes: object) -> Manifest:
    new = replace(manifest, version=manifest.version + 1, **changes)
    step("before-manifest")
    manifest_write(folder, new)
    step("after-manifest")
    return new


def _unlink(folder: Path, names: Iterable[str]) -> None:
    for name in names:
        try:
            os.unlink(folder / name)
        except FileNotFoundError:
            continue
    fsync_dir(folder)


def segments_init(*, folder: Path) -> Manifest:
    """The first (empty) manifest, so that an empty collection reads as indexed. Under the lock."""
    manifest = manifest_read(folder)
    return manifest if manifest.version else _commit(folder, manifest)


def segments_add(*, folder: Path, ids: np.ndarray, vectors: np.ndarray) -> tuple[Manifest, int]:
    """Append the faces the index lacks to the growing segment. Under the writer lock."""
    manifest = manifest_read(folder)
    debris_remove(folder, manifest)
    ids, first = np.unique(ids, return_index=True)  # sorted, each id once
    vectors = vectors[first]
    fresh = ~_present(folder, manifest, ids)
    if not fresh.any():
        return manifest, 0
    growing = growing_append(folder=folder, info=manifest.growing, ids=ids[fresh], vectors=vectors[fresh])
    return _commit(folder, manifest, growing=growing), int(fresh.sum())


def segments_remove(*, folder: Path, ids: np.ndarray, layout: Layout) -> tuple[Manifest, int]:
    """Remove faces physically: each segment holding one is rewritten without it, then the old file
    is scrubbed and unlinked, all before returning. Under the writer lock."""
    manifest = manifest_read(folder)
    debris_remove(folder, manifest)
    ids = np.unique(ids)
    sealed: list[SegmentInfo] = []
    dropped: list[tuple[SegmentInfo, bool, np.ndarray]] = []
    removed = 0
    for info in manifest.sealed:
        if not _overlaps(info, ids):
            sealed.append(info)
            continue
        segment = sealed_open(folder=folder, info=info, whole=True)
        gone = np.isin(segment.ids, ids)
        if not gone.any():
            sealed.append(info)
            continue
        if not gone.all():
            rows = np.flatnonzero(gone)
            sealed.append(
                sealed_write_without(folder=folder, segment=segment, gone_rows=rows, codes=layout.codes)
            )
        dropped.append((info, True, np.flatnonzero(gone)))
        removed += int(gone.sum())
    growing = manifest.growing
    if growing is not None and _overlaps(growing, ids):
        segment = growing_open(folder=folder, info=growing)
        gone = np.isin(segment.ids, ids)
        if gone.any():
            keep = ~gone
            growing = growing_write(
                folder=folder, ids=np.asarray(segment.ids[keep]), vectors=np.asarray(segment.vectors[keep])
            )
            dropped.append((manifest.growing, False, np.flatnonzero(gone)))
            removed += int(gone.sum())
    if not removed:
        return manifest, 0
    step("segments-written")
    new = _commit(folder, manifest, sealed=tuple(sealed), growing=growing)
    for info, is_sealed, rows in dropped:
        rows_scrub(folder=folder, info=info, sealed=is_sealed, rows=rows)
    step("scrubbed")
    _unlink(folder, (info.name for info, _, _ in dropped))
    return new, removed


def _write_sealed_chunks(
    folder: Path, ids: np.ndarray, vectors: np.ndarray, layout: Layout
) -> list[SegmentInfo]:
    written = []
    for start in range(0, ids.size, layout.seal_faces):
        stop = start + layout.seal_faces
        written.append(
            sealed_write(folder=folder, ids=ids[start:stop], vectors=vectors[start:stop], codes=layout.codes)
        )
    return written


def segments_rebuild(
    *, folder: Path, chunks: Iterable[tuple[np.ndarray, np.ndarray]], layout: Layout
) -> Manifest:
    """Replace the whole index with sealed segments built from (ids, vectors) ``chunks``. Under the lock."""
    manifest = manifest_read(folder)
    debris_remove(folder, manifest)
    sealed: list[SegmentInfo] = []
    pending_ids: list[np.ndarray] = []
    pending_vectors: list[np.ndarray] = []
    pending = 0
    for ids, vectors in chunks:
        pending_ids.append(ids)
        pending_vectors.append(vectors)
        pending += ids.size
        if pending >= layout.seal_faces:
            all_ids, all_vectors = np.concatenate(pending_ids), np.concatenate(pending_vectors)
            full = all_ids.size // layout.seal_faces * layout.seal_faces
            sealed += _write_sealed_chunks(folder, all_ids[:full], all_vectors[:full], layout)
            pending_ids, pending_vectors = [all_ids[full:]], [all_vectors[full:]]
            pending = int(all_ids.size - full)
    if pending:
        sealed += _write_sealed_chunks(
            folder, np.concatenate(pending_ids), np.concatenate(pending_vectors), layout
        )
    new = _commit(folder, manifest, sealed=tuple(sealed), growing=None)
    debris_remove(folder, new)  # every old segment: the new manifest names none of them
    return new


@dataclass(frozen=True)
class MaintainResult:
    sealed: int  # faces moved from the growing segment into sealed ones
    merged: int  # small sealed segments merged away
    version: int


def segments_maintain(*, folder: Path, layout: Layout, seal_all: bool = False) -> MaintainResult:
    """Seal a full growing segment and merge runs of small sealed ones. Under the writer lock.

    Cost: the faces it moves, never the collection. Search results are the same before and after.
    """
    manifest = manifest_read(folder)
    debris_remove(folder, manifest)
    sealed_faces = 0
    growing = manifest.growing
    if growing is not None and growing.count and (seal_all or growing.count >= layout.seal_faces):
        segment = growing_open(folder=folder, info=growing)
        new_sealed = _write_sealed_chunks(
            folder, np.asarray(segment.ids), np.asarray(segment.vectors), layout
        )
        manifest = _commit(folder, manifest, sealed=manifest.sealed + tuple(new_sealed), growing=None)
        _unlink(folder, [growing.name])
        sealed_faces = growing.count
    merged = 0
    small = layout.seal_faces // 2
    ordered = sorted(manifest.sealed, key=lambda s: (s.min_id, s.name))
    result: list[SegmentInfo] = []
    run: list[SegmentInfo] = []

    def flush_run() -> None:
        nonlocal merged
        if len(run) < 2:
            result.extend(run)
        else:
            opened = [sealed_open(folder=folder, info=info, whole=True) for info in run]
            ids = np.concatenate([s.ids for s in opened])
            vectors = np.concatenate([s.vectors for s in opened])
            result.append(sealed_write(folder=folder, ids=ids, vectors=vectors, codes=layout.codes))
            merged += len(run)
        run.clear()

    for info in ordered:
        if info.count < small and sum(s.count for s in run) + info.count <= layout.seal_faces:
            run.append(info)
        else:
            flush_run()
            if info.count < small:
                run.append(info)
            else:
                result.append(info)
    flush_run()
    if merged:
        old = {s.name for s in manifest.sealed} - {s.name for s in result}
        manifest = _commit(folder, manifest, sealed=tuple(result))
        _unlink(folder, old)
    return MaintainResult(sealed=sealed_faces, merged=merged, version=manifest.version)


def vectors_matrix(vectors: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(-1, DIM))
