"""Exact range search over the segments of a snapshot: every stored vector compared with every query.

The kernel depends on the batch size, chosen by measurement (bench/search.py, this 2-core machine,
1M faces): below GEMM_FROM queries, each query is one pass of the exact kernel (exact.py) per
segment, which compares each score with the threshold as it goes (a BLAS mat-vec took 1.2-1.3x the
time of a plain read of the vectors, the kernel about 1.0x; FAISS's range search was slower still);
from GEMM_FROM on, one matrix product per block reads the vectors once for the whole batch, as a
screen whose passing rows the exact kernel scores. Segments with compact codes are scanned on the
codes first, in exact integers (codes_int.py), and every candidate is then scored on its float32
vector (see codes.py), the whole batch's candidates read in one ascending pass per segment. Either
way a face's score is the exact kernel's, to the bit.

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
from matching.services.index.exact import screen_bound, vectors_above
from matching.services.index.mapping import rows_prefetch
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


def _append(out: Hits, q: int, ids: np.ndarray, scores: np.ndarray) -> None:
    out[q] = (np.concatenate([out[q][0], ids]), np.concatenate([out[q][1], scores]))


def _recheck(
    segment: Segment, rows: np.ndarray, queries: np.ndarray, threshold: np.float32, out: Hits
) -> None:
    """Every query scored exactly (exact.py) on the segment's float32 rows ``rows`` (ascending), read
    once in one ascending pass for the whole batch (a row read per query re-read rows, out of order).

    Scoring each query on every row of the union, not only its own candidates, is still exact: a row
    at or above the threshold is in that query's answer whichever query made it a candidate.
    """
    if segment.vectors_map is not None:  # rows that may not be in memory yet: read them in parallel
        rows_prefetch(vectors_map=segment.vectors_map, row_bytes=segment.vectors.shape[1] * 4, rows=rows)
    rows_read = np.ascontiguousarray(segment.vectors[rows])
    for q in range(queries.shape[0]):
        hit, scores = vectors_above(vectors=rows_read, query=queries[q], threshold=threshold)
        if hit.size:
            _append(out, q, segment.ids[rows[hit]], scores)


def _scan_float32(segment: Segment, queries: np.ndarray, threshold: np.float32, out: Hits) -> None:
    if queries.shape[0] < GEMM_FROM:
        for q in range(queries.shape[0]):
            rows, scores = vectors_above(vectors=segment.vectors, query=queries[q], threshold=threshold)
            if rows.size:
                _append(out, q, segment.ids[rows], scores)
        return
    # A batch: one matrix product per block reads the vectors once for every query, as a screen at a
    # bound no face reaching the threshold can be under; the few passing rows are then scored by the
    # exact kernel, so their scores are the ones a single query would get.
    bounds = screen_bound(
        threshold=float(threshold), norms=np.linalg.norm(queries.astype(np.float64), axis=1)
    )
    vectors = segment.vectors
    for start in range(0, vectors.shape[0], _GEMM_ROWS):
        # (nq, rows): with the vectors as the transposed operand, OpenBLAS ran 2.5x faster for
        # 4-16 queries than the (rows, nq) product (bench/search.py).
        scores = queries @ vectors[start : start + _GEMM_ROWS].T
        passing = np.flatnonzero((scores >= bounds[:, None]).any(axis=0))
        if passing.size:
            _recheck(segment, start + passing, queries, threshold, out)


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
    if wanted:
        _recheck(segment, np.unique(np.concatenate(wanted)), queries, threshold, out)


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
