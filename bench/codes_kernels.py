"""The codes scan's kernels by batch size, on one thread: which one the index uses for how many queries.

    .venv/bin/python bench/codes_kernels.py [--rows 131072] [--repeats 5] [--json]

On ROWS random unit vectors coded as a sealed segment codes them (``codes_encode``), each kernel
finds the candidates of a batch of 1-16 random unit queries at threshold 0.18 (``float``: decoded to
float32 and a BLAS product, codes.py; ``llvm``, ``numba`` and ``ort``: the exact integer products
of codes_int.py, ``llvm`` the one the index uses on AVX2), best of REPEATS, single-threaded BLAS;
figures in GB of codes scanned per second.
Also the candidates each query coding leaves to re-check (7-bit query codes as onnxruntime needs,
8-bit, 16-bit as the numba kernel uses; the float path's bound for comparison), against the faces
really above the threshold. Writes bench/results/codes_kernels.json with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scale_data import _identity_vectors  # noqa: E402

BATCHES = (1, 2, 3, 4, 6, 8, 12, 16)
THRESHOLD = 0.18


def _best_s(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _candidates_by_levels(codes, scales, errors, queries, levels: int) -> int:
    """Candidates per query with query codes of ``levels`` levels (the int64 product: the same integers)."""
    from matching.services.index.codes_int import _lowered_int, queries_quantise

    norms = np.linalg.norm(queries.astype(np.float64), axis=1)
    query_codes, query_scales, query_errors = queries_quantise(queries=queries, levels=levels)
    products = codes.astype(np.int64) @ query_codes.T.astype(np.int64)
    scores = products * (scales[:, None].astype(np.float64) * query_scales[None, :])
    bound = _lowered_int(
        threshold=THRESHOLD,
        norms=norms[None, :],
        errors=errors[:, None].astype(np.float64),
        query_errors=query_errors[None, :],
    )
    return int((scores >= bound).sum())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=131_072)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "codes_kernels.json"))
    args = parser.parse_args()
    if args.rows < 1000 or args.repeats < 1:
        parser.error("--rows must be at least 1000 and --repeats at least 1")
    from threadpoolctl import threadpool_limits

    from matching.services.index.codes import codes_candidates, codes_encode, lowered_bound
    from matching.services.index.codes_int import ORT_FROM, codes_candidates_int, numba_kernel
    from matching.services.index.codes_llvm import llvm_kernels

    rng = np.random.default_rng(3)
    vectors = _identity_vectors(rng, args.rows)
    codes, scales, errors = codes_encode(vectors=vectors)
    codes.flags.writeable = False  # as a segment's read-only map
    queries = _identity_vectors(rng, max(BATCHES))
    start = time.perf_counter()
    numba_kernel()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    llvm_kernels()
    llvm_compile_s = time.perf_counter() - start

    def scan(kernel: str, batch: np.ndarray):
        common = {
            "codes": codes,
            "scales": scales,
            "errors": errors,
            "queries": batch,
            "threshold": THRESHOLD,
        }
        if kernel == "float":
            return codes_candidates(**common)
        return codes_candidates_int(**common, kernel=kernel)

    speeds: dict[str, dict[int, float]] = {"float": {}, "llvm": {}, "numba": {}, "ort": {}}
    with threadpool_limits(1, user_api="blas"):
        for kernel in speeds:
            for n in BATCHES:
                batch = queries[:n]
                scan(kernel, batch)  # warm
                speeds[kernel][n] = round(
                    codes.nbytes / _best_s(lambda k=kernel, b=batch: scan(k, b), args.repeats) / 1e9, 2
                )
    fastest = {n: max(speeds, key=lambda k: speeds[k][n]) for n in BATCHES}

    brute = int((vectors @ queries.T >= np.float32(THRESHOLD)).sum())
    norms = np.linalg.norm(queries.astype(np.float64), axis=1)
    scores = (codes.astype(np.float32) @ queries.T) * scales[:, None]
    float_bound = lowered_bound(
        threshold=THRESHOLD, norms=norms[None, :], errors=errors[:, None].astype(np.float64)
    )
    candidates = {
        "faces_above_threshold": brute,
        "float_bound": int((scores >= float_bound).sum()),
        **{
            f"query_levels_{levels}": _candidates_by_levels(codes, scales, errors, queries, levels)
            for levels in (63, 127, 32767)
        },
    }
    result = {
        "rows": args.rows,
        "codes_bytes": int(codes.nbytes),
        "threshold": THRESHOLD,
        "repeats": args.repeats,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "numba_compile_s": round(compile_s, 2),
        "llvm_compile_s": round(llvm_compile_s, 2),
        "gb_per_s_one_thread": {k: {str(n): v for n, v in s.items()} for k, s in speeds.items()},
        "fastest": {str(n): k for n, k in fastest.items()},
        "ort_from_in_use": ORT_FROM,
        "candidates_for_16_queries": candidates,
    }
    print(json.dumps(result, indent=None if args.json else 2), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
