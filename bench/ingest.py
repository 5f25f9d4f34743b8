"""Ingestion throughput on lfw-dev with both cores, and the detector input size's effect on recall.

    .venv/bin/python bench/ingest.py [--folder ../shared/faces/lfw-dev] [--workers 2] [--limit N]

Runs in a fresh, throw-away VAR_DIR (SQLite, media, index), through the same service the
`ingest` command uses. Reports images/s for the ingestion itself (model loading in the worker
processes included) and the index bytes per face. Written to bench/results/ingest.json.
With --compare-det, also counts faces found with the detector at the image's own size (what
we do) against a fixed 640x640 input, on the same images, in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", default=str(ROOT.parent / "shared" / "faces" / "lfw-dev"))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument(
        "--compare-det", type=int, default=0, metavar="N", help="compare detector sizes on N images"
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "ingest.json"))
    args = parser.parse_args()

    var_dir = tempfile.mkdtemp(prefix="facerights-bench-")
    os.environ["VAR_DIR"] = var_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from matching.models import Face
    from matching.services.index import index_load
    from matching.services.ingestion import files_collect, images_ingest, items_from_files

    files = files_collect(paths=[args.folder])[: args.limit]
    items = items_from_files(files=files)
    load_before = os.getloadavg()
    start = time.perf_counter()
    outcomes = images_ingest(items=items, workers=args.workers)
    seconds = time.perf_counter() - start
    added = sum(o.status == "added" for o in outcomes)
    faces = Face.objects.count()
    index_files = [p for p in (Path(var_dir) / "index").iterdir() if p.name.startswith(("seg-", "grow-"))]
    _, index = index_load()
    result = {
        "images": len(items),
        "added": added,
        "faces": faces,
        "workers": args.workers,
        "seconds": round(seconds, 2),
        "images_per_second": round(len(items) / seconds, 2),
        "index_file_bytes_per_face": round(sum(p.stat().st_size for p in index_files) / max(1, index.ntotal)),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }
    print(
        f"ingested {len(items)} images ({added} added, {faces} faces) in {seconds:.1f}s with {args.workers} "
        f"processes: {result['images_per_second']:.1f} images/s; index file "
        f"{result['index_file_bytes_per_face']:.0f} B/face; load average {load_before[0]:.1f} -> "
        f"{result['load_average_after'][0]:.1f} on {result['cpus']} cores"
    )
    if args.compare_det:
        result["detector_sizes"] = compare_det(files[: args.compare_det])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


def compare_det(files: list[Path]) -> dict:
    """Faces found (det score >= FACE_DET_MIN_SCORE) at the image's own size vs a fixed 640 input."""
    import numpy as np
    from django.conf import settings

    from matching.services.embedding import _models_get, detector_input_size
    from matching.services.imaging import image_decode

    detector, _ = _models_get()
    found = {"own_size": 0, "fixed_640": 0}
    timing = {"own_size": 0.0, "fixed_640": 0.0}
    images_without_face = {"own_size": 0, "fixed_640": 0}
    for path in files:
        decoded = image_decode(data=path.read_bytes())
        bgr = np.ascontiguousarray(decoded.rgb[:, :, ::-1])
        sizes = {
            "own_size": detector_input_size(width=decoded.width, height=decoded.height),
            "fixed_640": (640, 640),
        }
        for key, size in sizes.items():
            t = time.perf_counter()
            boxes, _ = detector.detect(bgr, input_size=size)
            timing[key] += time.perf_counter() - t
            n = int((boxes[:, 4] >= settings.FACE_DET_MIN_SCORE).sum())
            found[key] += n
            images_without_face[key] += n == 0
    report = {
        "images": len(files),
        "faces_found": found,
        "images_without_face": images_without_face,
        "detector_ms_per_image": {k: round(v / max(1, len(files)) * 1e3, 2) for k, v in timing.items()},
    }
    print(f"detector input: {json.dumps(report)}")
    return report


if __name__ == "__main__":
    main()
