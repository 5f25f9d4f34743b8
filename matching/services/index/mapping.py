"""Segment files mapped read-only into memory (store.py): one copy in the page cache for every process."""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np


def file_map(
    path: Path, length: int = 0, populate: bool = True, random: tuple[int, int] | None = None
) -> np.ndarray:
    """The file mapped read-only and shared (one copy in the page cache for every process).

    MAP_POPULATE fills the page table in one go: a process opening a new segment does not then
    take one page fault per 4 KiB on its first search. Not for a segment with codes: a search
    reads its codes and only a few float32 rows, and populating would read (and count) them all.
    ``random``: a byte range (the float32 vectors of a segment with codes) advised MADV_RANDOM. A
    fault there otherwise reads the device's whole read-around window (read_ahead_kb: 8 MB on this
    machine) for one 2 KB candidate row, and those reads evict the codes from the page cache.
    """
    flags = mmap.MAP_SHARED | (getattr(mmap, "MAP_POPULATE", 0) if populate else 0)
    with open(path, "rb") as handle:
        mapped = mmap.mmap(handle.fileno(), length, flags=flags, prot=mmap.PROT_READ)
    if random is not None and hasattr(mmap, "MADV_RANDOM"):
        # madvise takes a page-aligned start; the end rounded down leaves the codes' pages alone.
        first, end = (at // mmap.PAGESIZE * mmap.PAGESIZE for at in random)
        if end > first:
            mapped.madvise(mmap.MADV_RANDOM, first, end - first)
    return np.frombuffer(mapped, dtype=np.uint8)


def rows_prefetch(*, vectors_map: tuple[mmap.mmap, int], row_bytes: int, rows: np.ndarray) -> None:
    """Ask the kernel to start reading these rows (MADV_WILLNEED), every one at once.

    ``vectors_map``: a mapping and the byte at which its rows start. For the float32 part of a
    segment with codes (advised MADV_RANDOM): the candidates a codes scan leaves are then read from
    the device in parallel, not one page fault after another.
    """
    if rows.size == 0 or not hasattr(mmap, "MADV_WILLNEED"):
        return
    mapped, rows_at = vectors_map
    starts = rows_at + rows.astype(np.int64) * row_bytes
    for start in starts.tolist():
        first = start // mmap.PAGESIZE * mmap.PAGESIZE  # madvise takes a page-aligned start
        mapped.madvise(mmap.MADV_WILLNEED, first, start + row_bytes - first)
