"""The float32 score of a query and a stored face: one compiled kernel defines it for every path.

A score is ``fl(q.x)``, the dot product of 512 float32 terms summed by one compiled loop. Whatever
found a face (a scan of the float32 vectors, the codes first, a batch's matrix product) its score
is computed here, so a face has the same score to the bit whichever way it was searched, and a
brute force search is this kernel over every vector (``vectors_scores``). Like any order of
summation, the loop's error is within ``GAMMA * ||q|| * ||x||`` of the real product (codes.py),
the bound the codes rely on.

Why a kernel of our own: a BLAS mat-vec per segment ran at 1.2-1.3x the time of a plain read of the
vectors at 1M faces, FAISS's ``fvec_inner_products_ny`` at 1.1-1.2x, this loop at 1.1x
(bench/search.py, bench/scale.py): it compares each score with the threshold as it goes instead
of writing every score out and reading it back.

It is LLVM IR, compiled at first use by llvmlite (jit.py) at -O3 for this CPU: the ``reassoc``
flag on the sum lets the loop vectoriser keep several partial sums in SIMD registers (the order is
fixed per machine, so a row's score does not depend on where it lies in memory). Written as IR
rather than with numba because numba's typing machinery cost 46 MB of private memory in every
process that searches (llvmlite alone: 2 MB), which put three processes at 1.197x the vectors'
bytes against the 1.2x target (bench/scale.py at 1M faces).
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable

import numpy as np

from matching.services.index.codes import GAMMA
from matching.services.index.jit import ir_compile

# i64 scan(float* vectors, i64 rows, i64 dim, float* query, float threshold, i64* found_rows,
#          float* found_scores): writes each row whose score is >= threshold, ascending, returns how many.
_KERNEL_IR = r"""
define i64 @scan(ptr noalias readonly %vectors, i64 %rows, i64 %dim, ptr noalias readonly %query,
                 float %threshold, ptr noalias %found_rows, ptr noalias %found_scores) {
entry:
  %empty = icmp sle i64 %rows, 0
  br i1 %empty, label %done, label %row

row:                                          ; for i in range(rows)
  %i = phi i64 [ 0, %entry ], [ %i.next, %next_row ]
  %found = phi i64 [ 0, %entry ], [ %found.next, %next_row ]
  %row_start = mul i64 %i, %dim
  br label %term

term:                                         ; score += vectors[i, j] * query[j]
  %j = phi i64 [ 0, %row ], [ %j.next, %term ]
  %score = phi float [ 0.0, %row ], [ %score.next, %term ]
  %at = add i64 %row_start, %j
  %x.at = getelementptr inbounds float, ptr %vectors, i64 %at
  %x = load float, ptr %x.at, align 4
  %q.at = getelementptr inbounds float, ptr %query, i64 %j
  %q = load float, ptr %q.at, align 4
  %product = fmul reassoc contract float %x, %q
  %score.next = fadd reassoc contract float %score, %product
  %j.next = add nuw nsw i64 %j, 1
  %more_terms = icmp slt i64 %j.next, %dim
  br i1 %more_terms, label %term, label %compare

compare:                                      ; ordered: a NaN score is never kept
  %hit = fcmp oge float %score.next, %threshold
  br i1 %hit, label %keep, label %next_row

keep:
  %row.at = getelementptr inbounds i64, ptr %found_rows, i64 %found
  store i64 %i, ptr %row.at, align 8
  %score.at = getelementptr inbounds float, ptr %found_scores, i64 %found
  store float %score.next, ptr %score.at, align 4
  %found.plus = add i64 %found, 1
  br label %next_row

next_row:
  %found.next = phi i64 [ %found, %compare ], [ %found.plus, %keep ]
  %i.next = add nuw nsw i64 %i, 1
  %more_rows = icmp slt i64 %i.next, %rows
  br i1 %more_rows, label %row, label %done

done:
  %total = phi i64 [ 0, %entry ], [ %found.next, %next_row ]
  ret i64 %total
}
"""
_SIGNATURE = ctypes.CFUNCTYPE(
    ctypes.c_int64,
    ctypes.c_void_p,
    ctypes.c_int64,
    ctypes.c_int64,
    ctypes.c_void_p,
    ctypes.c_float,
    ctypes.c_void_p,
    ctypes.c_void_p,
)

_kernel_lock = threading.Lock()
_kernel: Callable[..., int] | None = None
# A stored face's vector is unit length: normalised in float32, its norm is 1 within a few units in
# the last place. The index refuses any further off (``unit_length_check``), and the bounds allow it.
UNIT_TOLERANCE = 1e-5


def exact_kernel() -> Callable[..., int]:
    """The compiled scan, a ctypes function (jit.py). Compiled once per process, at first use
    (about 0.1 s), in memory only."""
    global _kernel
    with _kernel_lock:
        if _kernel is None:
            _kernel = ir_compile(ir=_KERNEL_IR, functions={"scan": _SIGNATURE})["scan"]
        return _kernel


def vectors_above(
    *, vectors: np.ndarray, query: np.ndarray, threshold: np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """(rows ascending, their scores) of the vectors whose score with ``query`` is >= ``threshold``."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    query = np.ascontiguousarray(query, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] == 0 or query.shape != (vectors.shape[1],):
        raise ValueError(
            f"vectors (rows, dim >= 1) and one query of dim terms, not {vectors.shape} and {query.shape}"
        )
    rows = np.empty(vectors.shape[0], np.int64)
    scores = np.empty(vectors.shape[0], np.float32)
    found = exact_kernel()(
        vectors.ctypes.data,
        vectors.shape[0],
        vectors.shape[1],
        query.ctypes.data,
        float(np.float32(threshold)),
        rows.ctypes.data,
        scores.ctypes.data,
    )
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
    slack = 2 * GAMMA * np.asarray(norms, dtype=np.float64) * (1 + UNIT_TOLERANCE) + 2.0**-23 * (
        abs(threshold) + 1
    )
    return np.nextafter((threshold - slack).astype(np.float32), np.float32(-np.inf))


def unit_length_check(*, vectors: np.ndarray) -> None:
    """Refuse vectors to store that are not unit length (within ``UNIT_TOLERANCE``): the screens'
    bounds (here and codes.py) hold for unit vectors, and face embeddings are normalised."""
    norms = np.linalg.norm(np.asarray(vectors, dtype=np.float64), axis=1)
    off = np.flatnonzero(~(np.abs(norms - 1) <= UNIT_TOLERANCE))  # a NaN norm is off too
    if off.size:
        raise ValueError(
            f"{off.size} of {norms.size} vectors are not unit length (row {int(off[0])}: norm "
            f"{float(norms[off[0]]):.6g}); the index stores normalised face embeddings"
        )
