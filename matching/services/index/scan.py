"""Exact range search over the segments of a snapshot: every stored vector compared with every query.

The kernel depends on the batch size, chosen by measurement (bench/search.py, this 2-core machine,
1M faces): one query is a BLAS mat-vec per segment (at the memory-read floor; FAISS's range search
was 1.0-1.5x slower); 2-3 queries are one mat-vec each; from GEMM_FROM on, one matrix product per
segment reads the vectors once for the whole batch. Segments with compact codes are scanned on the
codes first, in exact integers (codes_int.py), then every candidate is re-checked on its float32
vector (see codes.py), the whole batch's candidates read in one ascending pass per segment.

Segments are scanned in parallel by a thread pool (one per core), each with single-threaded BLAS:
on a busy machine a multi-threaded BLAS call waits at its barrier for a descheduled thread (7-10x
slower at load 10 in bench/scale.py), while independent segments keep every core streaming.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import ThreadpoolController

from matching.services.index.codes_int import codes_candidates_int
from matching.services.index.store import Segment, Snapshot

GEMM_FROM = 4  # queries per batch from which one matrix product beats a mat-vec per query
_GEMM_ROWS = 65_536  # rows per matrix product: bounds the score block at 32 MB for 128 queries

Hits = list[tuple[np.ndarray, np.ndarray]]

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_blas = ThreadpoolController()


def _scan_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="index-scan")
        return _pool


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.empty(0, np.int64), np.empty(0, np.float32)


def _scan_float32(segment: Segment, queries: np.ndarray, threshold: np.float32, out: Hits) -> None:
    vectors, ids = segment.vectors, segment.ids
    if queries.shape[0] < GEMM_FROM:
        for q in range(queries.shape[0]):
            scores = vectors @ queries[q]
            rows = np.flatnonzero(scores >= threshold)
            if rows.size:
                out[q] = (np.concatenate([out[q][0], ids[rows]]), np.concatenate([out[q][1], scores[rows]]))
        return
    for start in range(0, vectors.shape[0], _GEMM_ROWS):
        # (nq, rows): with the vectors as the transposed operand, OpenBLAS ran 2.5x faster for
        # 4-16 queries than the (rows, nq) product (bench/search.py).
        scores = queries @ vectors[start : start + _GEMM_ROWS].T
        cols, rows = np.nonzero(scores >= threshold)
        for q in np.unique(cols).tolist():
            mask = cols == q
            out[q] = (
                np.concatenate([out[q][0], ids[start + rows[mask]]]),
                np.concatenate([out[q][1], scores[q, rows[mask]]]),
            )


def _scan_codes(segment: Segment, queries: np.ndarray, threshold: np.float32, out: Hits) -> None:
    assert segment.codes is not None and segment.scales is not None and segment.errors is not None
    # In exact integers (codes_int.py: numba for a few queries, onnxruntime for a batch); decoding
    # to float32 (codes.py) was slower for every batch size (bench/codes_kernels.py).
    candidates = codes_candidates_int(
        codes=segment.codes,
        scales=segment.scales,
        errors=segment.errors,
        queries=queries,
        threshold=float(threshold),
    )
    wanted = [rows for rows in candidates if rows.size]
    if not wanted:
        return
    # The candidates' float32 rows read once, in one ascending pass over the file, for the whole
    # batch (a row read per query per segment read a row several times, and out of order).
    union = np.unique(np.concatenate(wanted))
    rows_read = np.ascontiguousarray(segment.vectors[union])
    for q, rows in enumerate(candidates):
        if rows.size == 0:
            continue
        # The exact re-check: the same mat-vec a float32 scan runs, on the candidates' rows only.
        scores = rows_read[np.searchsorted(union, rows)] @ queries[q]
        keep = scores >= threshold
        if keep.any():
            out[q] = (
                np.concatenate([out[q][0], segment.ids[rows[keep]]]),
                np.concatenate([out[q][1], scores[keep]]),
            )


def _scan_one(segment: Segment, queries: np.ndarray, threshold: np.float32, use_codes: bool) -> Hits:
    out: Hits = [_empty() for _ in range(queries.shape[0])]
    if use_codes and segment.codes is not None:
        _scan_codes(segment, queries, threshold, out)
    else:
        _scan_float32(segment, queries, threshold, out)
    return out


def snapshot_range_search(
    *, snapshot: Snapshot, queries: np.ndarray, threshold: float, use_codes: bool
) -> Hits:
    """For each query, (ids, scores) of every vector with score >= threshold, best first (ties by id)."""
    limit = np.float32(threshold)
    segments = [s for s in snapshot.segments if s.info.count]
    with _blas.limit(limits=1, user_api="blas"):
        parts = list(_scan_pool().map(lambda s: _scan_one(s, queries, limit, use_codes), segments))
    results: Hits = []
    for q in range(queries.shape[0]):
        ids = np.concatenate([np.empty(0, np.int64), *(p[q][0] for p in parts)]).astype(np.int64, copy=False)
        scores = np.concatenate([np.empty(0, np.float32), *(p[q][1] for p in parts)]).astype(
            np.float32, copy=False
        )
        order = np.lexsort((ids, -scores))
        results.append((ids[order], scores[order]))
    return results
