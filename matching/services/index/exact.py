"""The float32 score of a query and a stored face: one compiled kernel defines it for every path.

A score is ``fl(q.x)``, the dot product of 512 float32 terms summed by one numba loop (vectorised:
``reassoc`` lets LLVM keep several partial sums in SIMD registers). Whatever found a face (a scan
of the float32 vectors, the codes first, a batch's matrix product) its score is recomputed here, so
a face has the same score to the bit whichever way it was searched, and a brute force search is
this kernel over every vector (``vectors_scores``). Like any order of summation, the loop's error
is within ``GAMMA * ||q|| * ||x||`` of the real product (codes.py), the bound the codes rely on.

Why a kernel of our own: a BLAS mat-vec per segment ran at 1.2-1.3x the time of a plain read of the
vectors at 1M faces, this loop at about 1.0x (bench/search.py), since it compares each score with
the threshold as it goes instead of writing every score out and reading it back.
"""

from __future__ import annotations

import threading

import numpy as np

from matching.services.index.codes import GAMMA

_kernel_lock = threading.Lock()
_kernel = None
# A face's vector is unit length: stored normalised in float32, its norm is 1 within a few units
# in the last place; this margin covers that with room to spare.
_NORM_MARGIN = 1e-5


def exact_kernel():
    """The compiled scan (vectors (rows, DIM), query (DIM,), threshold, rows out, scores out) -> found.

    Compiled once per process, at first use, for its one signature (under a second): no on-disk
    cache, so a read-only image needs nowhere to write. nogil, so the scan's threads run segments in
    parallel. Read-only arrays in the signature: the segments are read-only maps.
    """
    global _kernel
    with _kernel_lock:
        if _kernel is None:
            import numba
            from numba import types

            signature = types.int64(
                types.Array(types.float32, 2, "C", readonly=True),
                types.Array(types.float32, 1, "C", readonly=True),
                types.float32,
                types.Array(types.int64, 1, "C"),
                types.Array(types.float32, 1, "C"),
            )

            # Only reassociation and contraction (FMA): no assumption that there is no NaN or inf.
            @numba.njit(
                signature, nogil=True, boundscheck=False, cache=False, fastmath={"reassoc", "contract"}
            )
            def scan(vectors, query, threshold, rows, scores):  # pragma: no cover - compiled
                found = 0
                for i in range(vectors.shape[0]):
                    score = np.float32(0.0)
                    for j in range(vectors.shape[1]):
                        score += vectors[i, j] * query[j]
                    if score >= threshold:
                        rows[found] = i
                        scores[found] = score
                        found += 1
                return found

            _kernel = scan
        return _kernel


def vectors_above(
    *, vectors: np.ndarray, query: np.ndarray, threshold: np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """(rows ascending, their scores) of the vectors whose score with ``query`` is >= ``threshold``."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    query = np.ascontiguousarray(query, dtype=np.float32)
    if vectors.ndim != 2 or query.shape != (vectors.shape[1],):
        raise ValueError(
            f"vectors (rows, {query.shape[-1]}) and one query, not {vectors.shape} and {query.shape}"
        )
    rows = np.empty(vectors.shape[0], np.int64)
    scores = np.empty(vectors.shape[0], np.float32)
    found = exact_kernel()(vectors, query, np.float32(threshold), rows, scores)
    return rows[:found].copy(), scores[:found].copy()


def vectors_scores(*, vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Every vector's score with ``query``: the brute force answer's scores, by the search's own kernel."""
    rows, scores = vectors_above(vectors=vectors, query=query, threshold=np.float32(-np.inf))
    if rows.size != vectors.shape[0]:  # only a NaN fails ">= -inf"
        out = np.full(vectors.shape[0], np.nan, np.float32)
        out[rows] = scores
        return out
    return scores


def screen_bound(*, threshold: float, norms: np.ndarray) -> np.ndarray:
    """float32 bounds below which another float32 product of a query (norm in ``norms``) and a unit
    vector cannot be when this kernel's score reaches ``threshold``: both are within GAMMA ||q|| ||x||
    of the real product. Computed in float64, rounded to float32 and stepped down once."""
    slack = 2 * GAMMA * np.asarray(norms, dtype=np.float64) * (1 + _NORM_MARGIN) + 2.0**-23 * (
        abs(threshold) + 1
    )
    return np.nextafter((threshold - slack).astype(np.float32), np.float32(-np.inf))
