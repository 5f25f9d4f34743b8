"""Bytes of index per face: on disk (segment files), mapped (shared page cache) and private (this
process's own memory) after a search has touched every vector.

    .venv/bin/python bench/memory.py [--n 1000000]

Target: within 10% of 2 KiB (a 512-d float32 vector is 2,048 bytes; the rest is the int64 id and
the segment headers). Built in chunks through the index's own writer, never all in memory.
Written to bench/results/memory.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout, for matching.services


def smaps() -> dict[str, int]:
    figures = {}
    with open("/proc/self/smaps_rollup") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "kB":
                figures[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return figures


def main() -> None:
    from matching.services.index.scan import snapshot_range_search
    from matching.services.index.store import snapshot_open, writer_lock
    from matching.services.index.writer import Layout, segments_rebuild

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--segment", type=int, default=16_384)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "memory.json"))
    args = parser.parse_args()
    n, chunk = args.n, 50_000

    def chunks():
        rng = np.random.default_rng(0)
        for start in range(0, n, chunk):
            block = rng.standard_normal((min(chunk, n - start), 512), dtype=np.float32)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            yield np.arange(start + 1, start + 1 + block.shape[0], dtype=np.int64), block

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        with writer_lock(folder):
            segments_rebuild(
                folder=folder, chunks=chunks(), layout=Layout(seal_faces=args.segment, codes=False)
            )
        gc.collect()
        before = smaps()
        snapshot = snapshot_open(folder)
        snapshot_range_search(
            snapshot=snapshot,
            queries=np.ones((1, 512), np.float32) / np.sqrt(512),
            threshold=0.5,
            use_codes=False,
        )
        after = smaps()
        on_disk = sum(p.stat().st_size for p in folder.iterdir() if p.name.startswith("seg-")) / n
    private = (after.get("Anonymous", 0) - before.get("Anonymous", 0)) / n  # this process's own memory
    mapped = (after["Rss"] - before["Rss"]) / n
    result = {
        "n": n,
        "segments": len(snapshot.segments),
        "bytes_per_face_on_disk": round(on_disk, 1),
        "bytes_per_face_mapped": round(mapped, 1),
        "private_bytes_per_face": round(private, 2),
        "vs_2KiB_on_disk": round(on_disk / 2048, 4),
        "vs_2KiB_mapped": round(mapped / 2048, 4),
    }
    print(
        f"{n:,} faces in {result['segments']} segments: {on_disk:,.0f} B/face on disk "
        f"({on_disk / 2048 - 1:+.1%} vs 2 KiB), {mapped:,.0f} B/face mapped from the shared page cache, "
        f"{private:,.2f} B/face private"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
