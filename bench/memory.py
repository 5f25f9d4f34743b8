"""Bytes of index per face: in memory (process RSS growth) and on disk (the persisted file).

    .venv/bin/python bench/memory.py [--n 1000000]

Target: within 10% of 2 KiB (a 512-d float32 vector is 2,048 bytes; the rest is ids and the
IndexIDMap2 reverse map). Written to bench/results/memory.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
from pathlib import Path

import numpy as np


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> None:
    import faiss

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "memory.json"))
    args = parser.parse_args()
    n, chunk = args.n, 50_000
    rng = np.random.default_rng(0)
    gc.collect()
    before = rss_bytes()
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(512))
    for start in range(0, n, chunk):  # small chunks, so the measurement is the index, not the input
        block = rng.standard_normal((min(chunk, n - start), 512), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        index.add_with_ids(block, np.arange(start + 1, start + 1 + block.shape[0], dtype=np.int64))
    del block
    gc.collect()
    in_memory = (rss_bytes() - before) / n
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "faces.index"
        faiss.write_index(index, str(path))
        on_disk = path.stat().st_size / n
    result = {
        "n": n,
        "bytes_per_face_in_memory": round(in_memory, 1),
        "bytes_per_face_on_disk": round(on_disk, 1),
        "vs_2KiB_in_memory": round(in_memory / 2048, 4),
        "vs_2KiB_on_disk": round(on_disk / 2048, 4),
    }
    print(
        f"{n:,} faces: {in_memory:,.0f} B/face in memory ({in_memory / 2048 - 1:+.1%} vs 2 KiB), "
        f"{on_disk:,.0f} B/face on disk ({on_disk / 2048 - 1:+.1%})"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
