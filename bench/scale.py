"""The index at scale: what a change costs, how soon another process sees it, one query against the
memory-read floor, and memory shared by several processes, on a synthetic collection of N faces.

    .venv/bin/python bench/scale.py --faces N [--var-dir DIR] [--json] [--ingest-images 16]
        [--erasure-rounds 3]

Builds (or reuses, when DIR already holds N faces) N face-like vectors (identities of 1-8 images,
each image its identity's direction plus noise, L2-normalised) as real Image and Face rows (SQLite
under DIR unless DATABASE_URL says otherwise) and the index under DIR/index (``index_rebuild``,
read from the rows in chunks, never all in memory). Afterwards ``VAR_DIR=DIR manage.py ingest FILE``
and ``facesearch FILE`` work on that collection as on any other. Prints one JSON object; with
--json only that; figures to bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout: matching.services, and bench.scale_data beside us
DIM = 512

from bench.scale_data import _build, _faces_create, _identity_vectors, _vector_of  # noqa: E402

# A second process: maps the index, searches once, then on each command times how long after the
# writer returned it takes to see the change (open what changed, search again).
_WATCHER = r"""
import json, sys, time, django, numpy as np
django.setup()
from matching.services.index import index_range_search
def found(vec, face_id):
    (ids, _), = index_range_search(vectors=vec[None, :], threshold=0.99)
    return face_id in ids.tolist()
found(np.ones(512, np.float32) / np.sqrt(512), -1)  # a process that has searched before
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    vec = np.asarray(cmd["vector"], dtype=np.float32)
    start = time.perf_counter()
    while found(vec, cmd["id"]) != cmd["present"]:
        pass
    print(json.dumps({"seen_s": time.perf_counter() - start}), flush=True)
"""

# A web or worker process: maps the index, searches (touching every page), reports its memory.
_HOLDER = r"""
import json, sys, django, numpy as np
django.setup()
from matching.services.index import index_range_search
index_range_search(vectors=np.ones((1, 512), np.float32) / np.sqrt(512), threshold=0.5)
print(json.dumps({"ready": True}), flush=True)
sys.stdin.readline()
figures = {}
for line in open("/proc/self/smaps_rollup"):
    parts = line.split()
    if len(parts) >= 3 and parts[2] == "kB":
        figures[parts[0].rstrip(":")] = int(parts[1]) * 1024
print(json.dumps(figures), flush=True)
sys.stdin.readline()
"""


def _setup(var_dir: Path) -> None:
    os.environ["VAR_DIR"] = str(var_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def read_floor_ms(
    arrays: list[np.ndarray], repeats: int, alongside=None
) -> tuple[float, dict[str, float], list[float]]:
    """The memory-read floor: the fastest of several full reads of every vector, min over repeats.

    Each kernel reads every byte once with as little work as it can: whole sums and maxima in one
    thread, and the same spread over one thread per core by segment (as the search runs), plus a
    compiled loop summing 64-bit words (compiled, as the index's kernels are) and a mat-vec with a
    vector of ones (BLAS streaming, single-threaded per segment). ``alongside``: a callable timed
    once in every round, between the reads, so that it and the floor are measured on the same
    machine at the same moments (its times, in ms, are returned third).
    """
    from concurrent.futures import ThreadPoolExecutor

    import numba
    from threadpoolctl import threadpool_limits

    arrays = [a for a in arrays if a.size and a.flags.c_contiguous]
    ones = np.ones(DIM, np.float32)
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)

    def spread(fn) -> None:
        list(pool.map(fn, arrays))

    @numba.njit(nogil=True, boundscheck=False)
    def words_sum(words: np.ndarray) -> int:  # integer sums: vectorised with no reassociation flag
        total = np.uint64(0)
        for i in range(words.size):
            total += words[i]
        return total

    words = [a.reshape(-1).view(np.uint64) for a in arrays]
    words_sum(words[0])  # compiled before any timing

    kernels = {
        "sum_u64": lambda: [a.view(np.uint64).sum() for a in arrays],
        "max_f32": lambda: [a.max() for a in arrays],
        "sum_u64_threads": lambda: spread(lambda a: a.view(np.uint64).sum()),
        "max_f32_threads": lambda: spread(lambda a: a.max()),
        "sum_u64_numba_threads": lambda: list(pool.map(words_sum, words)),
    }
    if all(a.dtype == np.float32 for a in arrays):
        kernels["dot_ones_threads"] = lambda: spread(lambda a: a @ ones)
    best = {name: float("inf") for name in kernels}
    alongside_ms: list[float] = []
    for _ in range(repeats):
        with threadpool_limits(1, user_api="blas"):
            for name, kernel in kernels.items():
                start = time.perf_counter()
                kernel()
                best[name] = min(best[name], (time.perf_counter() - start) * 1000)
        if alongside is not None:
            start = time.perf_counter()
            alongside()
            alongside_ms.append((time.perf_counter() - start) * 1000)
    pool.shutdown()
    return min(best.values()), {k: round(v, 1) for k, v in best.items()}, alongside_ms


def _floor_ms(snapshot, repeats: int, alongside=None) -> tuple[float, dict[str, float], list[float]]:
    # With compact codes a search reads the codes (then a few candidates): their read is its floor.
    arrays = [s.codes if s.codes is not None else s.vectors for s in snapshot.segments]
    return read_floor_ms(arrays, repeats, alongside)


def _timed_ms(fn, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return min(times), float(np.median(times))


def _spawn(code: str, env: dict[str, str]) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert json.loads(process.stdout.readline())["ready"]
    return process


def _ask(process: subprocess.Popen, message: dict | str) -> dict:
    process.stdin.write((json.dumps(message) if isinstance(message, dict) else message) + "\n")
    process.stdin.flush()
    return json.loads(process.stdout.readline())


def _memory(env: dict[str, str], vector_bytes: int) -> dict[str, int | float]:
    """Web + 2 workers, each mapping the index and searching: PSS summed counts a shared page once."""
    from matching.services.index import index_cache_clear

    index_cache_clear()  # this process lets go of its maps, so it takes no share of the pages
    holders = [_spawn(_HOLDER, env) for _ in range(3)]
    figures = [_ask(p, "measure") for p in holders]
    for p in holders:
        p.stdin.write("\n")
        p.stdin.flush()
        p.wait()
    pss = sum(f["Pss"] for f in figures)
    return {
        "rss_total_bytes": pss,
        "rss_each_bytes": [f["Rss"] for f in figures],
        "private_each_bytes": [f.get("Private_Clean", 0) + f.get("Private_Dirty", 0) for f in figures],
        "rss_total_vs_vectors": round(pss / max(1, vector_bytes), 3),
    }


def _read_vectors(var_dir: Path, segment) -> np.ndarray:
    from matching.services.index.store import _layout

    vec_at = _layout(segment.info.count)[1]
    path = Path(os.environ.get("INDEX_DIR") or var_dir / "index") / segment.info.name
    return np.fromfile(path, dtype="<f4", count=segment.info.count * DIM, offset=vec_at).reshape(-1, DIM)


# A process that only searches: its peak memory for one query and a batch of 16.
_SEARCHER = r"""
import json, sys, time, django, numpy as np
django.setup()
from matching.services.index import index_range_search
queries = np.asarray(json.loads(sys.stdin.readline()), dtype=np.float32)
times = {"query_cold_ms": [], "query_ms": [], "batch_16_ms": []}
plan = (("query_cold_ms", queries[:1], 1), ("query_ms", queries[1:2], 3), ("batch_16_ms", queries[:16], 2))
for name, batch, runs in plan:
    for _ in range(runs):
        start = time.perf_counter()
        index_range_search(vectors=batch, threshold=0.18)
        times[name].append((time.perf_counter() - start) * 1000)
peak = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM"))
figures = {f"search_process_{k}": round(min(v), 1) for k, v in times.items()}
print(json.dumps({"search_process_peak_rss_bytes": peak, **figures}))
"""


def _peak_rss(env: dict[str, str], queries: np.ndarray) -> dict[str, float]:
    from matching.services.index import index_cache_clear

    index_cache_clear()
    process = subprocess.Popen(
        [sys.executable, "-c", _SEARCHER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    out, _ = process.communicate(json.dumps(queries[:16].tolist()) + "\n")
    return json.loads(out.strip().splitlines()[-1])


# An ingesting worker: loads the models on a warm-up image, then times one images_ingest call.
_INGEST = r"""
import sys, time, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from pathlib import Path
from matching.services.ingestion import IngestItem, images_ingest
paths = [Path(p) for p in sys.argv[2:]]
warm = paths[-1].read_bytes() + b"warm-up" + sys.argv[1].encode()
images_ingest(items=[IngestItem(name="warm", data=warm)])  # the models loaded
items = [IngestItem(name=p.name, data=p.read_bytes() + sys.argv[1].encode()) for p in paths[:-1]]
start = time.perf_counter()
images_ingest(items=items)
print(time.perf_counter() - start)
"""


def _ingest_compare(count: int, env: dict[str, str]) -> dict[str, float]:
    """Ingesting the same pictures into this collection and into an empty one, alternately, twice.

    Each side is a fresh process, as an ingesting worker is (this one has mapped and scanned the
    whole index: timing it here measured its own leftovers, 1.9x at 3,000 faces, not the collection).
    Each round uses new bytes (a new trailer), so nothing is a duplicate. The minimum of each side is
    kept (the machine is shared).
    """
    lfw = sorted((ROOT.parent / "shared" / "faces" / "lfw-dev").rglob("*.jpg"))
    picked = [str(p) for p in lfw[: count + 1]]

    def timed(side_env: dict[str, str], trailer: str) -> float:
        out = subprocess.run(
            [sys.executable, "-c", _INGEST, trailer, *picked],
            capture_output=True,
            text=True,
            env=side_env,
            cwd=ROOT,
            check=True,
        )
        return float(out.stdout.strip().splitlines()[-1])

    into_large, into_empty = [], []
    for round_ in range(2):
        trailer = f"bench-{time.time_ns()}-{round_}"
        empty_env = {k: v for k, v in env.items() if k != "DATABASE_URL"}
        empty_env["VAR_DIR"] = tempfile.mkdtemp(prefix="facerights-scale-empty-")
        into_empty.append(timed(empty_env, trailer))
        into_large.append(timed(env, trailer))
    return {
        "ingest_images": count,
        "ingest_into_collection_s": round(min(into_large), 2),
        "ingest_into_empty_s": round(min(into_empty), 2),
        "ingest_collection_vs_empty": round(min(into_large) / min(into_empty), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--faces", type=int, required=True)
    parser.add_argument("--var-dir", default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--ingest-images", type=int, default=0, help="also time ingesting N lfw images")
    parser.add_argument("--codes", action="store_true", help="sealed segments with 8-bit codes (INDEX_CODES)")
    parser.add_argument(
        "--index-only",
        action="store_true",
        help="build the index alone, without Face rows (for sizes whose rows do not fit on the disk)",
    )
    parser.add_argument("--skip-memory", action="store_true", help="no 3-process memory figure")
    parser.add_argument(
        "--erasure-rounds", type=int, default=3, help="confirmed erasures timed from approval (0: none)"
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "scale.json"))
    args = parser.parse_args()
    if args.codes:
        os.environ["INDEX_CODES"] = "1"
    if args.faces < 100:
        parser.error("--faces must be at least 100")
    var_dir = Path(args.var_dir or tempfile.mkdtemp(prefix="facerights-scale-")).resolve()
    var_dir.mkdir(parents=True, exist_ok=True)

    def log(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr, flush=True)

    _setup(var_dir)
    from matching.models import Face
    from matching.services.index import index_add, index_load, index_range_search, index_remove

    result: dict[str, object] = {"faces": args.faces, "var_dir": str(var_dir), "cpu": platform.processor()}
    result.update(_build(args.faces, log, args.index_only))
    result["index_only"] = args.index_only
    os.sync()  # the build's write-back is not charged to the changes measured next
    _version, snapshot = index_load()
    total = snapshot.ntotal
    result.update({"faces": total, "segments": len(snapshot.segments), "vector_bytes": total * DIM * 4})
    env = {**os.environ, "VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "portal.settings"}
    watcher = _spawn(_WATCHER, env)
    rng = np.random.default_rng(7)

    # add 64 faces (one ingestion batch), and the second process seeing the last one
    adds, seen_add = [], []
    for round_ in range(5):
        vectors = _identity_vectors(rng, 64)
        if args.index_only:
            ids = list(range(10**9 + 64 * round_, 10**9 + 64 * round_ + 64))
        else:
            ids = _faces_create(vectors, tag=f"add{total}-{round_}")
        start = time.perf_counter()
        index_add(ids=ids, vectors=vectors)
        adds.append(time.perf_counter() - start)
        seen_add.append(
            _ask(watcher, {"id": ids[-1], "vector": vectors[-1].tolist(), "present": True})["seen_s"]
        )
    # remove 5 faces physically, spread over the collection (5 segments rewritten)
    removes, seen_remove = [], []
    _, snapshot = index_load()
    all_ids = snapshot.ids()
    for _ in range(3):
        victims = rng.choice(all_ids, size=5, replace=False)
        last = int(victims[-1])
        vector = _vector_of(snapshot, last)
        start = time.perf_counter()
        index_remove(ids=victims.tolist())
        removes.append(time.perf_counter() - start)
        Face.objects.filter(pk__in=victims.tolist()).delete()
        seen_remove.append(_ask(watcher, {"id": last, "vector": vector.tolist(), "present": False})["seen_s"])
        all_ids = all_ids[~np.isin(all_ids, victims)]
    watcher.stdin.close()
    watcher.wait()
    result.update(
        {
            "add_64_s": round(float(np.median(adds)), 4),
            "add_64_max_s": round(max(adds), 4),
            "remove_5_s": round(float(np.median(removes)), 4),
            "remove_5_max_s": round(max(removes), 4),
            "other_process_sees_change_s": round(max(seen_add + seen_remove), 4),
            "other_process_sees_add_s": round(float(np.median(seen_add)), 4),
            "other_process_sees_remove_s": round(float(np.median(seen_remove)), 4),
        }
    )
    log(f"  changes: {json.dumps({k: v for k, v in result.items() if '_s' in k})}")

    # one query, and batches, against the memory-read floor measured in the same run
    _, snapshot = index_load()
    queries = _identity_vectors(rng, 100)
    threshold = 0.18
    index_range_search(vectors=queries[:1], threshold=threshold)  # pages in

    def one_query() -> None:
        index_range_search(vectors=queries[:1], threshold=threshold)

    # The query is timed in the floor's rounds, between its reads: both see the machine as it is
    # at the same moments (on this VM, memory bandwidth moved 20-30% within a minute).
    floor, floors, query_times = _floor_ms(snapshot, args.repeats, alongside=one_query)
    b_min, b_median = _timed_ms(lambda: index_range_search(vectors=queries[:16], threshold=threshold), 3)
    # The same again with a query (a batch) never searched before each time, as a request's selfies
    # are: their candidates' float32 rows are not in the page cache yet.
    fresh = iter(_identity_vectors(rng, args.repeats + 3 * 16))
    f_min, f_median = _timed_ms(
        lambda: index_range_search(vectors=next(fresh)[None, :], threshold=threshold), args.repeats
    )
    fb_min, fb_median = _timed_ms(
        lambda: index_range_search(vectors=np.stack([next(fresh) for _ in range(16)]), threshold=threshold), 3
    )
    floor_after, _, query_after = _floor_ms(snapshot, 3, alongside=one_query)
    floor = min(floor, floor_after)
    q_min, q_median = min(query_times + query_after), float(np.median(query_times + query_after))
    result.update(
        {
            "query_ms": round(q_min, 1),
            "query_median_ms": round(q_median, 1),
            "batch_16_ms": round(b_min, 1),
            "batch_16_median_ms": round(b_median, 1),
            "query_fresh_ms": round(f_min, 1),
            "query_fresh_median_ms": round(f_median, 1),
            "batch_16_fresh_ms": round(fb_min, 1),
            "batch_16_fresh_median_ms": round(fb_median, 1),
            "load_average_during_queries": [round(x, 2) for x in os.getloadavg()],
            "floor_ms": round(floor, 1),
            "floor_kernels_ms": floors,
            "query_vs_floor": round(q_min / floor, 3),
        }
    )
    # exactness on sampled queries: the index's answer equals a brute force scan of every vector,
    # read from the files (not mapped: this process's memory stays out of the figures below)
    picks = rng.choice(len(snapshot.segments), size=50, replace=True)
    stored = np.stack([np.asarray(snapshot.segments[k].vectors[0]) for k in picks])
    sample = np.vstack([queries[: 100 - stored.shape[0]], stored])
    found = index_range_search(vectors=sample, threshold=threshold)
    brute: list[list[np.ndarray]] = [[] for _ in range(sample.shape[0])]
    for segment in snapshot.segments:
        block = (
            np.array(segment.vectors)
            if segment.info.name.startswith("grow-")
            else _read_vectors(var_dir, segment)
        )
        hits = sample @ block.T >= np.float32(threshold)
        for q in range(sample.shape[0]):
            brute[q].append(np.asarray(segment.ids)[hits[q]])
        del block
    mismatches = sum(
        int(sorted(f.tolist()) != sorted(np.concatenate(b).tolist()))
        for (f, _), b in zip(found, brute, strict=True)
    )
    result.update({"exact_sampled_queries": int(sample.shape[0]), "exact_mismatches": mismatches})
    del snapshot, stored
    result.update(_peak_rss(env, queries))
    if not args.skip_memory:
        result.update(_memory(env, int(result["vector_bytes"])))

    if args.ingest_images:
        result.update(_ingest_compare(args.ingest_images, env))
    if args.erasure_rounds and not args.index_only:
        from bench.scale_erasure import erasure_measure

        result.update(erasure_measure(rounds=args.erasure_rounds))
        log(f"  erasure: {result['erasure_rounds']}")
    result["index_version"] = index_load()[0]
    print(json.dumps(result), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
