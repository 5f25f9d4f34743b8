"""Compact 8-bit codes with a proven error bound, for collections larger than memory.

A vector x is stored as int8 codes c and a scale s (x' = s * c, s = max|x_j| / 127). Its error norm
e = ||x - x'|| is computed in float64 and rounded up. For any query q, by Cauchy-Schwarz,

    |q.x - q.x'| <= ||q|| * e.

The scores are computed in float32, which adds rounding: for a dot product of n terms,
|fl(a.b) - a.b| <= gamma_n * ||a|| * ||b||, gamma_n = n*u / (1 - n*u), u = 2**-24. Both the code
score s * fl(c.q) and the float32 score fl(q.x) a brute force search computes carry such an error,
so a face with fl(q.x) >= t always has

    s * fl(c.q) >= t - ||q|| * e - slack,  slack = 3 * gamma_n * ||q|| * (1 + e) + 2u * (|t| + 1).

Every face passing that lowered threshold on the codes is then re-checked on its float32 vector with
the same kernel a brute force search uses: the answer is the brute force answer.

The index scans the codes in exact integers (codes_int.py, which reuses ``lowered_bound``): faster
than ``codes_candidates`` here at every batch size (bench/codes_kernels.py), which stays as the
float reference that benchmark compares them with.
"""

from __future__ import annotations

import numpy as np

DIM = 512
_U = 2.0**-24
GAMMA = DIM * _U / (1 - DIM * _U)
# Codes decoded at a time (an 8 MB float32 block): one thread scanned 4.6 GB/s of codes with 4096 rows,
# 3.2 GB/s with 8192 (codes_candidates on 131,072 random unit vectors, best of 5, this machine).
_DECODE_ROWS = 4096


def codes_encode(*, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(int8 codes, float32 scales, float32 error norms rounded up) of float32 vectors."""
    x = np.asarray(vectors, dtype=np.float64)
    peak = np.abs(x).max(axis=1)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    codes = np.clip(np.rint(x / scales.astype(np.float64)[:, None]), -127, 127).astype(np.int8)
    decoded = codes.astype(np.float64) * scales.astype(np.float64)[:, None]
    errors = np.linalg.norm(x - decoded, axis=1)
    # Round up, and a little more, so the float32 we store is never below the true error norm.
    errors32 = np.nextafter((errors * (1 + 4 * _U)).astype(np.float32), np.float32(np.inf))
    return np.ascontiguousarray(codes), scales, errors32


def codes_candidates(
    *, codes: np.ndarray, scales: np.ndarray, errors: np.ndarray, queries: np.ndarray, threshold: float
) -> list[np.ndarray]:
    """For each query, the rows whose code score passes the lowered threshold (a superset of the answer).

    Per block, one comparison for all queries at the threshold lowered by the block's largest error
    norm (lower than every row's own), then each passing (row, query) against its row's own bound:
    the work per block is the same few array operations however many queries there are.
    """
    norms = np.linalg.norm(queries.astype(np.float64), axis=1)
    found: list[list[np.ndarray]] = [[] for _ in range(queries.shape[0])]
    block = np.empty((min(_DECODE_ROWS, codes.shape[0]), DIM), dtype=np.float32)
    for start in range(0, codes.shape[0], _DECODE_ROWS):
        stop = min(start + _DECODE_ROWS, codes.shape[0])
        part = block[: stop - start]
        np.copyto(part, codes[start:stop], casting="unsafe")
        scores = (part @ queries.T) * scales[start:stop, None]  # (rows, nq), float32
        err = errors[start:stop].astype(np.float64)
        coarse = lowered_bound(threshold=threshold, norms=norms, errors=float(err.max()))
        # Rounded to float32 and stepped down once: never above the float64 bound it stands for.
        coarse32 = np.nextafter(coarse.astype(np.float32), np.float32(-np.inf))
        rows, cols = np.nonzero(scores >= coarse32[None, :])
        if rows.size == 0:
            continue
        keep = scores[rows, cols] >= lowered_bound(threshold=threshold, norms=norms[cols], errors=err[rows])
        rows, cols = rows[keep], cols[keep]
        for q in np.unique(cols).tolist():
            found[q].append(rows[cols == q] + start)
    return [np.concatenate(f) if f else np.empty(0, np.int64) for f in found]


def lowered_bound(*, threshold: float, norms: np.ndarray, errors: np.ndarray | float) -> np.ndarray:
    """t - ||q|| e - slack (module docstring), in float64: below it no face can reach t in float32."""
    slack = 3 * GAMMA * norms * (1 + errors) + 2 * _U * (abs(threshold) + 1)
    return threshold - norms * errors - slack
