"""Exact range search kernels per batch size over index segments: the index's exact kernel
(exact.py), BLAS mat-vec, BLAS matrix product, FAISS's range search, against the memory-read
floor; and the service's own choice.

    .venv/bin/python bench/search.py [--sizes 100000 1000000] [--batches 1 2 4 8 16 64]

Vectors are shaped like face embeddings: identities of several images each (a centre per identity
plus noise, normalised), so that same-identity cosine is about 0.6 and others about 0. Every
query is a fresh image of a known identity. Figures are printed and written to
bench/results/search.json.

The floor is the time to read the vectors from memory once: the fastest of several full reads,
minimum over repeats (bench/scale.py's ``read_floor_ms``); no exact search can beat it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
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


def floor_read(snapshot, repeats: int = 5) -> float:
    """Seconds: the fastest of several full reads of every vector, min over repeats (bench/scale.py)."""
    from bench.scale import read_floor_ms

    return read_floor_ms([s.vectors for s in snapshot.segments], repeats)[0] / 1e3


def segments_of(x: np.ndarray, size: int):
    """A snapshot over ``x`` cut into sealed-segment-sized pieces, as the index serves it."""
    from matching.services.index.store import Manifest, Segment, SegmentInfo, Snapshot

    segments, infos = [], []
    for start in range(0, x.shape[0], size):
        ids = np.arange(start + 1, min(x.shape[0], start + size) + 1, dtype=np.int64)
        info = SegmentInfo.of(f"seg-{start}", ids)
        infos.append(info)
        segments.append(Segment(info=info, ids=ids, vectors=x[start : start + size]))
    return Snapshot(manifest=Manifest(version=1, sealed=tuple(infos)), segments=tuple(segments))


def kernel_gemv(s, q: np.ndarray, threshold: np.float32) -> None:
    for j in range(q.shape[0]):
        np.flatnonzero(s.vectors @ q[j] >= threshold)


def kernel_exact(s, q: np.ndarray, threshold: np.float32) -> None:
    from matching.services.index.exact import vectors_above

    for j in range(q.shape[0]):
        vectors_above(vectors=s.vectors, query=q[j], threshold=threshold)


def kernel_gemm(s, q: np.ndarray, threshold: np.float32) -> None:
    for start in range(0, s.vectors.shape[0], 65_536):
        np.nonzero(q @ s.vectors[start : start + 65_536].T >= threshold)


def kernel_gemm_rows(s, q: np.ndarray, threshold: np.float32) -> None:
    for start in range(0, s.vectors.shape[0], 65_536):
        np.nonzero(s.vectors[start : start + 65_536] @ q.T >= threshold)


def kernel_faiss(s, q: np.ndarray, threshold: np.float32) -> None:
    import faiss

    result = faiss.RangeSearchResult(q.shape[0])
    v = s.vectors
    faiss.range_search_inner_product(
        faiss.swig_ptr(q), faiss.swig_ptr(v), DIM, q.shape[0], v.shape[0], float(threshold), result
    )


def over_segments(kernel, snapshot, q: np.ndarray, threshold: np.float32, pool) -> None:
    """As the service runs a kernel: segments in parallel, one thread each (single-threaded BLAS)."""
    list(pool.map(lambda s: kernel(s, q, threshold), snapshot.segments))


def bench_size(n: int, threads: int, batches: list[int], segment: int) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    import faiss
    from threadpoolctl import threadpool_limits

    from matching.services.index.exact import vectors_scores
    from matching.services.index.scan import GEMM_FROM, snapshot_range_search

    x, centres = vectors_make(n)
    snapshot = segments_of(x, segment)
    limit = np.float32(THRESHOLD)
    repeats = 7 if n <= 100_000 else 5
    floor = floor_read(snapshot)
    per_batch = {}
    pool = ThreadPoolExecutor(max_workers=threads)
    faiss.omp_set_num_threads(1)  # one thread per segment, as every kernel here
    for b in batches:
        q = queries_make(centres, b, seed=b)
        kernels = {
            "exact": kernel_exact,
            "gemv": kernel_gemv,
            "gemm": kernel_gemm,
            "gemm_rows": kernel_gemm_rows,
            "faiss": kernel_faiss,
        }
        figures = {}
        with threadpool_limits(1, user_api="blas"):
            for name, kernel in kernels.items():
                runs = repeats if b <= 4 else 2
                figures[f"{name}_ms"] = (
                    timed(lambda k=kernel, q=q: over_segments(k, snapshot, q, limit, pool), runs) * 1e3
                )
        service = timed(
            lambda q=q: snapshot_range_search(
                snapshot=snapshot, queries=q, threshold=THRESHOLD, use_codes=False
            ),
            repeats if b <= 16 else 3,
        )
        fastest = min(figures, key=figures.get)
        per_batch[str(b)] = {
            **{k: round(v, 2) for k, v in figures.items()},
            "fastest": fastest.removesuffix("_ms"),
            "service_ms": round(service * 1e3, 2),
            "service_kernel": "exact" if b < GEMM_FROM else "gemm",
            "service_vs_floor": round(service / floor, 2),
        }
        # Completeness: the service's answer is exactly the brute force one.
        found = snapshot_range_search(snapshot=snapshot, queries=q, threshold=THRESHOLD, use_codes=False)
        for j in range(b):
            scores = vectors_scores(vectors=x, query=q[j])
            expected = set((np.nonzero(scores >= limit)[0] + 1).tolist())
            assert set(found[j][0].tolist()) == expected, "the search missed or invented a face"
    return {
        "n": n,
        "threads": threads,
        "segment_faces": segment,
        "segments": len(snapshot.segments),
        "floor_read_ms": round(floor * 1e3, 2),
        "batches": per_batch,
        "vectors_gb": round(x.nbytes / 1e9, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8, 16, 64])
    parser.add_argument("--segment", type=int, default=32_768)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "search.json"))
    args = parser.parse_args()
    rows = []
    print("per batch size: ms per batch for each exact kernel over the segments, the fastest, the service's")
    print(
        f"{'N':>9} {'batch':>5} {'exact':>9} {'gemv':>9} {'gemm':>9} {'gemm_rows':>9} {'faiss':>9} "
        f"{'fastest':>9} {'service':>9} {'floor':>7}"
    )
    for n in args.sizes:
        r = bench_size(n, args.threads, args.batches, args.segment)
        rows.append(r)
        for b, f in r["batches"].items():
            print(
                f"{n:>9} {b:>5} {f['exact_ms']:>9.1f} {f['gemv_ms']:>9.1f} {f['gemm_ms']:>9.1f} "
                f"{f['gemm_rows_ms']:>9.1f} {f['faiss_ms']:>9.1f} {f['fastest']:>9} {f['service_ms']:>9.1f} "
                f"{r['floor_read_ms']:>7.1f}",
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
