"""Exact range search over synthetic face-like embeddings: FAISS vs NumPy vs the memory-read floor.

    .venv/bin/python bench/search.py [--sizes 10000 100000 1000000] [--threads 2]

Vectors are shaped like face embeddings: identities of several images each (a centre per identity
plus noise, normalised), so that same-identity cosine is about 0.6 and others about 0. Every
query is a fresh image of a known identity. Figures are printed and written to
bench/results/search.json.

The floor is the time to read the vectors from memory once (a streaming sum over them with the
same number of threads): no exact search can be faster than reading every vector once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout, for matching.services

DIM = 512
IMAGES_PER_IDENTITY = 5
NOISE = 0.035  # per-dimension noise: same-identity cosine ~0.6 for unit centres
THRESHOLD = 0.25  # REVIEW_THRESHOLD order of magnitude


def vectors_make(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_ids = max(1, n // IMAGES_PER_IDENTITY)
    centres = rng.standard_normal((n_ids, DIM), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = np.empty((n, DIM), dtype=np.float32)
    owner = np.arange(n) % n_ids
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        block = (
            centres[owner[start:stop]] + rng.standard_normal((stop - start, DIM), dtype=np.float32) * NOISE
        )
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:stop] = block
    return out, centres


def queries_make(centres: np.ndarray, count: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picked = centres[rng.integers(0, centres.shape[0], count)]
    q = picked + rng.standard_normal(picked.shape, dtype=np.float32) * NOISE
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def timed(fn, repeats: int) -> float:
    """Median seconds over ``repeats`` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def floor_read(x: np.ndarray, threads: int) -> float:
    parts = np.array_split(np.arange(x.shape[0]), threads)
    sums = [None] * threads

    def work(i: int) -> None:
        lo, hi = parts[i][0], parts[i][-1] + 1
        sums[i] = np.add.reduce(x[lo:hi], axis=0)  # streams every byte once, SIMD adds

    def run() -> None:
        ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    return timed(run, 5)


def numpy_range(x: np.ndarray, q: np.ndarray, threshold: float) -> list[np.ndarray]:
    results = []
    for start in range(0, x.shape[0], 262_144):  # chunks keep the score matrix small
        scores = x[start : start + 262_144] @ q.T
        results.append(np.nonzero(scores >= threshold))
    return results


def bench_size(n: int, threads: int, batch: int) -> dict:
    import faiss

    faiss.omp_set_num_threads(threads)
    t0 = time.perf_counter()
    x, centres = vectors_make(n)
    generate_s = time.perf_counter() - t0
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    t0 = time.perf_counter()
    index.add_with_ids(x, np.arange(1, n + 1, dtype=np.int64))
    add_s = time.perf_counter() - t0
    q1 = queries_make(centres, 1)
    qb = queries_make(centres, batch, seed=2)
    repeats = 7 if n <= 100_000 else 5

    from matching.services.index import _range_blas, _range_faiss

    limit = np.float32(THRESHOLD)
    # What matching.services.index.index_range_search runs: FAISS's range search for a few
    # queries, one BLAS product over FAISS's stored vectors for a batch.
    single = timed(lambda: _range_faiss(index, q1, limit), repeats)
    batched = timed(lambda: _range_blas(index, qb, limit), max(3, repeats // 2))
    faiss_raw_batched = timed(lambda: index.range_search(qb, THRESHOLD), 2 if n <= 100_000 else 1)
    np_single = timed(lambda: numpy_range(x, q1, THRESHOLD), repeats)
    np_batched = timed(lambda: numpy_range(x, qb, THRESHOLD), max(3, repeats // 2))
    floor = floor_read(x, threads)

    # Completeness: both paths return exactly what brute force finds.
    scores = x @ qb.T
    blas = _range_blas(index, qb, limit)
    for j in range(batch):
        expected = set((np.nonzero(scores[:, j] >= limit)[0] + 1).tolist())
        assert set(blas[j][0].tolist()) == expected, "batched search missed or invented a face"
        assert set(_range_faiss(index, qb[j : j + 1], limit)[0][0].tolist()) == expected, (
            "FAISS search differs"
        )
    hits_per_query = float(np.mean([r[0].size for r in blas]))

    payload = faiss.serialize_index(index)
    result = {
        "n": n,
        "threads": threads,
        "batch": batch,
        "generate_s": round(generate_s, 2),
        "add_s": round(add_s, 3),
        "hits_per_query": round(hits_per_query, 2),
        "faiss_single_ms": round(single * 1e3, 3),
        "faiss_batch_ms_per_query": round(batched / batch * 1e3, 3),
        "faiss_builtin_batch_ms_per_query": round(faiss_raw_batched / batch * 1e3, 3),
        "numpy_single_ms": round(np_single * 1e3, 3),
        "numpy_batch_ms_per_query": round(np_batched / batch * 1e3, 3),
        "floor_read_ms": round(floor * 1e3, 3),
        "faiss_single_vs_floor": round(single / floor, 2),
        "faiss_batch_vs_floor_per_batch": round(batched / floor, 2),
        "index_bytes_per_face_serialized": round(payload.size / n, 1),
        "vectors_gb": round(x.nbytes / 1e9, 3),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "search.json"))
    args = parser.parse_args()
    rows = []
    print(
        "service paths: 'faiss 1q' = FAISS range_search (1 query); 'faiss b' = one BLAS product over FAISS's "
        "vectors (64 queries); the built-in FAISS batch path is in the JSON"
    )
    print(
        f"{'N':>9} {'faiss 1q ms':>11} {'numpy 1q ms':>11} {'floor ms':>9} {'1q/floor':>8} "
        f"{'faiss b ms/q':>12} {'numpy b ms/q':>12} {'batch/floor':>11} {'B/face':>7}"
    )
    for n in args.sizes:
        r = bench_size(n, args.threads, args.batch)
        rows.append(r)
        print(
            f"{n:>9} {r['faiss_single_ms']:>11.2f} {r['numpy_single_ms']:>11.2f} {r['floor_read_ms']:>9.2f} "
            f"{r['faiss_single_vs_floor']:>8.2f} {r['faiss_batch_ms_per_query']:>12.3f} "
            f"{r['numpy_batch_ms_per_query']:>12.3f} {r['faiss_batch_vs_floor_per_batch']:>11.2f} "
            f"{r['index_bytes_per_face_serialized']:>7.1f}",
            flush=True,
        )
    meta = {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "load_average_at_end": os.getloadavg(),
        "threshold": THRESHOLD,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
