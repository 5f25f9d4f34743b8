"""Compact 8-bit codes: the error bound holds, and a codes-first search equals brute force exactly."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import numpy as np
import pytest

from matching.services.index import index_add, index_load, index_maintain, index_range_search
from matching.services.index.codes import codes_encode
from matching.services.index.exact import vectors_scores
from tests.matching.conftest import clear_of_thresholds, unit_vectors, vector_near


def test_the_stored_error_norm_bounds_every_score_error():
    vectors = unit_vectors(2000, seed=4)
    codes, scales, errors = codes_encode(vectors=vectors)
    decoded = codes.astype(np.float64) * scales.astype(np.float64)[:, None]
    true_errors = np.linalg.norm(vectors.astype(np.float64) - decoded, axis=1)
    assert np.all(errors.astype(np.float64) >= true_errors)
    assert float(errors.max()) < 0.05  # 8 bits are worth using: the bound is small
    queries = unit_vectors(50, seed=5).astype(np.float64)
    gap = np.abs(queries @ vectors.T.astype(np.float64) - queries @ decoded.T)
    assert np.all(gap <= errors.astype(np.float64)[None, :])  # |q.x - q.x'| <= e for unit q


THRESHOLDS = (0.12, 0.25, 0.4)


@pytest.mark.parametrize("seed", range(6))
def test_a_codes_first_search_gives_exactly_the_brute_force_answer(settings, seed):
    settings.INDEX_CODES = True
    settings.INDEX_SEGMENT_FACES = 700
    rng = np.random.default_rng(seed)
    vectors = unit_vectors(3000, seed=100 + seed)
    queries = unit_vectors(9, seed=200 + seed)
    # Faces planted just above and below the thresholds, where a code's error could flip them.
    planted = np.stack(
        [vector_near(queries[i % 9], c, seed=i) for i, c in enumerate(rng.uniform(0.1, 0.6, 60))]
    )
    everything = np.vstack([vectors, planted])
    # None within THRESHOLD_CLEARANCE of a threshold (seed 3 had one 7e-8 away): exact either way.
    everything = everything[clear_of_thresholds(vectors=everything, queries=queries, thresholds=THRESHOLDS)]
    ids = np.arange(1, everything.shape[0] + 1)
    index_add(ids=ids, vectors=everything)
    index_maintain(seal_all=True)  # every face in sealed segments, which carry codes
    _, snapshot = index_load()
    assert len(snapshot.segments) == 5 and all(s.codes is not None for s in snapshot.segments)
    for threshold in THRESHOLDS:
        for batch in (queries[:1], queries[:3], queries):  # numba below ORT_FROM (8), onnxruntime from it
            found = index_range_search(vectors=batch, threshold=threshold)
            for q, (got_ids, got_scores) in zip(batch, found, strict=True):
                brute = vectors_scores(vectors=everything, query=q)  # every float32 vector, the same kernel
                expected = ids[brute >= np.float32(threshold)]
                assert sorted(got_ids.tolist()) == sorted(expected.tolist())
                # The same scores to the bit: every path scores its candidates by the one kernel.
                np.testing.assert_array_equal(
                    got_scores, np.sort(brute[brute >= np.float32(threshold)])[::-1]
                )


def test_the_integer_product_is_exact_even_at_the_extremes_and_the_query_error_bounds_it():
    from matching.services.index.codes_int import ORT_LEVELS, _int_session, queries_quantise

    rng = np.random.default_rng(9)
    # Every code at +-127 and every query code at +-63: the sums an AVX2 kernel could saturate.
    codes = np.vstack([np.full((4, 512), 127, np.int8), np.full((4, 512), -127, np.int8)])
    codes = np.vstack([codes, rng.integers(-127, 128, size=(600, 512), dtype=np.int8)])
    queries = np.vstack([np.full(512, 0.04), -np.full(512, 0.04), unit_vectors(14, seed=10)])
    query_codes, query_scales, query_errors = queries_quantise(queries=queries, levels=ORT_LEVELS)
    assert query_codes.dtype == np.int8 and np.abs(query_codes).max() <= 63
    (products,) = _int_session().run(
        None, {"codes": codes.view(np.uint8) ^ np.uint8(0x80), "queries": np.ascontiguousarray(query_codes.T)}
    )
    assert np.array_equal(products, codes.astype(np.int64) @ query_codes.T.astype(np.int64))
    decoded = query_codes.astype(np.float64) * query_scales[:, None]
    assert np.all(np.linalg.norm(queries - decoded, axis=1) <= query_errors)


def test_the_numba_product_is_exact_at_the_extremes_where_int32_comes_closest_to_overflowing():
    from matching.services.index.codes_int import NUMBA_LEVELS, numba_kernel, queries_quantise

    rng = np.random.default_rng(11)
    # Codes at +-127 against query codes at +-32767: |sum| = 512 * 127 * 32767, 2**31 - 16.8M.
    codes = np.vstack([np.full((3, 512), 127, np.int8), np.full((3, 512), -127, np.int8)])
    codes = np.vstack([codes, rng.integers(-127, 128, size=(700, 512), dtype=np.int8)])
    codes.flags.writeable = False  # as a segment's read-only map
    queries = np.vstack([np.full(512, 0.04), -np.full(512, 0.04), unit_vectors(5, seed=12)])
    query_codes, query_scales, query_errors = queries_quantise(queries=queries, levels=NUMBA_LEVELS)
    assert query_codes.dtype == np.int16 and np.abs(query_codes).max() == 32767
    out = np.empty((codes.shape[0], queries.shape[0]), np.int32)
    numba_kernel()(codes, query_codes, out)
    expected = codes.astype(np.int64) @ query_codes.T.astype(np.int64)
    assert np.abs(expected).max() == 512 * 127 * 32767  # the extreme was reached, not just allowed
    assert np.array_equal(out, expected)
    decoded = query_codes.astype(np.float64) * query_scales[:, None]
    assert np.all(np.linalg.norm(queries - decoded, axis=1) <= query_errors)
    assert float(query_errors[2:].max()) < 1e-4  # 16 bits: next to nothing beside a code's own error


def test_the_blocked_llvm_product_is_exact_at_the_extremes_for_every_block_of_queries():
    from matching.services.index.codes_int import NUMBA_LEVELS, queries_quantise
    from matching.services.index.codes_llvm import llvm_kernels

    rng = np.random.default_rng(13)
    codes = np.vstack([np.full((3, 512), 127, np.int8), np.full((3, 512), -127, np.int8)])
    codes = np.vstack([codes, rng.integers(-127, 128, size=(301, 512), dtype=np.int8)])
    codes.flags.writeable = False
    for per_block, kernel in llvm_kernels().products.items():
        # Two blocks of queries, the extremes (+-32767 in every place) among them.
        queries = np.vstack([np.full(512, 0.04), -np.full(512, 0.04), unit_vectors(2 * per_block, seed=14)])
        query_codes, _, _ = queries_quantise(queries=queries[: 2 * per_block], levels=NUMBA_LEVELS)
        out = np.full((codes.shape[0], 2 * per_block), -1, np.int32)
        for first in (0, per_block):  # one call per block, each writing its own columns
            kernel(
                codes.ctypes.data,
                codes.shape[0],
                query_codes[first].ctypes.data,
                out[0, first:].ctypes.data,
                out.shape[1],
            )
        expected = codes.astype(np.int64) @ query_codes.T.astype(np.int64)
        assert np.abs(expected).max() == 512 * 127 * 32767  # the extreme was reached, not just allowed
        assert np.array_equal(out, expected), f"{per_block} queries a block"


def test_the_llvm_kernel_leaves_exactly_the_candidates_numba_leaves_whatever_the_batch():
    # Both compute the same exact integers against the same bound: any difference is a bug.
    from matching.services.index.codes_int import codes_candidates_int, codes_kernel_choose

    assert codes_kernel_choose(batch=1) == codes_kernel_choose(batch=16) == "llvm"  # an AVX2 machine
    vectors = unit_vectors(5000, seed=15)
    queries = np.vstack([vectors[:6], unit_vectors(11, seed=16)])
    codes, scales, errors = codes_encode(vectors=vectors)
    # 0.15: the kernel screens as it goes; 0.005: the bound is not positive, so every product is
    # written out and screened in float64.
    for threshold in (0.15, 0.005):
        for batch in (1, 2, 3, 4, 5, 8, 9, 16, 17):
            common = dict(
                codes=codes, scales=scales, errors=errors, queries=queries[:batch], threshold=threshold
            )
            llvm = codes_candidates_int(**common, kernel="llvm")
            numba = codes_candidates_int(**common, kernel="numba")
            assert all(np.array_equal(a, b) for a, b in zip(llvm, numba, strict=True)), f"batch {batch}"
            assert all(rows.size for rows in llvm[:6][:batch])  # each stored face finds itself


@pytest.mark.parametrize("kernel", ["llvm", "numba", "ort"])
@pytest.mark.parametrize("seed", range(4))
def test_each_integer_kernel_finds_every_face_brute_force_finds_at_every_batch_size(kernel, seed):
    from matching.services.index.codes_int import codes_candidates_int

    rng = np.random.default_rng(300 + seed)
    queries = unit_vectors(16, seed=400 + seed)
    planted = np.stack(
        [vector_near(queries[i % 16], c, seed=500 + i) for i, c in enumerate(rng.uniform(0.1, 0.6, 200))]
    )
    vectors = np.vstack([unit_vectors(9000, seed=600 + seed), planted])
    # An extreme row too: one component carries the whole vector (the largest scale a code can have).
    vectors[0] = 0
    vectors[0, 7] = 1.0
    codes, scales, errors = codes_encode(vectors=vectors)
    codes.flags.writeable = False
    for batch in (1, 2, 3, 5, 8, 16):
        for threshold in (0.12, 0.25, 0.4):
            candidates = codes_candidates_int(
                codes=codes,
                scales=scales,
                errors=errors,
                queries=queries[:batch],
                threshold=threshold,
                kernel=kernel,
            )
            for q, rows in enumerate(candidates):
                brute = np.flatnonzero(
                    vectors_scores(vectors=vectors, query=queries[q]) >= np.float32(threshold)
                )
                assert np.all(np.diff(rows) > 0)  # ascending, each row once
                assert set(brute.tolist()) <= set(rows.tolist())  # a superset: nothing is ever missed
                # and not a flood: the bound is tight enough to be worth the codes
                assert rows.size <= 4 * brute.size + 40
            if kernel == "ort":  # screened again on 16-bit query codes: no more than numba leaves
                tight = codes_candidates_int(
                    codes=codes,
                    scales=scales,
                    errors=errors,
                    queries=queries[:batch],
                    threshold=threshold,
                    kernel="numba",
                )
                assert all(set(a.tolist()) <= set(b.tolist()) for a, b in zip(candidates, tight, strict=True))


def test_the_integer_kernels_refuse_what_they_cannot_do():
    from matching.services.index.codes_int import codes_candidates_int, codes_kernel_choose, queries_quantise

    codes, scales, errors = codes_encode(vectors=unit_vectors(10, seed=1))
    with pytest.raises(ValueError, match="unknown integer kernel"):
        codes_candidates_int(
            codes=codes,
            scales=scales,
            errors=errors,
            queries=unit_vectors(1, seed=2),
            threshold=0.3,
            kernel="blas",
        )
    with pytest.raises(ValueError, match="1 to 32767 levels"):
        queries_quantise(queries=unit_vectors(1, seed=2), levels=40000)
    with pytest.raises(ValueError, match="at least one query"):
        codes_kernel_choose(batch=0)


def _random_read_advised(path) -> bool:
    """Whether this process maps ``path`` with MADV_RANDOM somewhere (VmFlags "rr" in smaps)."""
    lines = Path("/proc/self/smaps").read_text().splitlines()
    mapped = False
    for line in lines:
        if line[:1].isalnum() and "-" in line.split()[0] and ":" not in line.split()[0]:
            mapped = line.endswith(str(path))
        elif mapped and line.startswith("VmFlags:") and " rr" in f" {line[8:]}":
            return True
    return False


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="needs Linux's /proc/self/smaps")
def test_a_search_maps_the_float32_rows_random_read_and_a_writer_copying_the_segment_does_not(settings):
    # A search faults in a few 2 KB candidate rows: MADV_RANDOM, or each fault reads the device's
    # read-around window (8 MB here). A removal's copy or a merge reads every row: no such advice.
    from matching.services.index import index_folder
    from matching.services.index.store import sealed_open

    settings.INDEX_CODES = True
    settings.INDEX_SEGMENT_FACES = 3000  # 6 MB of vectors: more than one page either side
    index_add(ids=np.arange(1, 3001), vectors=unit_vectors(3000, seed=3))
    index_maintain(seal_all=True)
    _, snapshot = index_load()
    (info,) = [s.info for s in snapshot.segments if s.codes is not None]
    path = index_folder() / info.name
    searching = sealed_open(folder=index_folder(), info=info)
    assert _random_read_advised(path)
    del searching, snapshot
    from matching.services.index import index_cache_clear

    index_cache_clear()
    gc.collect()
    assert not _random_read_advised(path)
    copying = sealed_open(folder=index_folder(), info=info, whole=True)
    assert copying.codes is not None and not _random_read_advised(path)


def test_a_worker_process_compiles_the_exact_kernel_at_start_and_the_codes_one_when_codes_are_on(
    settings, monkeypatch
):
    from matching import tasks
    from matching.services.index import codes_int, codes_llvm, exact

    monkeypatch.setattr(codes_llvm, "_llvm_kernels", None)
    monkeypatch.setattr(codes_int, "_kernel", None)
    monkeypatch.setattr(exact, "_kernel", None)
    settings.INDEX_CODES = False
    tasks._compile_the_search_kernels()
    assert codes_llvm._llvm_kernels is None  # nothing compiled for codes an index does not have
    assert exact._kernel is not None and exact._kernel is exact.exact_kernel()
    settings.INDEX_CODES = True
    tasks._compile_the_search_kernels()
    # This machine has AVX2: the blocked kernel, and not numba's (its memory is paid only without).
    assert codes_llvm._llvm_kernels is not None and codes_llvm._llvm_kernels is codes_llvm.llvm_kernels()
    assert codes_int._kernel is None


def _resident(row: np.ndarray) -> bool:
    """Whether every page under this mapped row is in the page cache (mincore)."""
    import ctypes
    import mmap

    libc = ctypes.CDLL(None, use_errno=True)
    start = row.ctypes.data // mmap.PAGESIZE * mmap.PAGESIZE
    length = row.ctypes.data + row.nbytes - start
    pages = (length + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    vec = (ctypes.c_ubyte * pages)()
    if libc.mincore(ctypes.c_void_p(start), ctypes.c_size_t(length), vec) != 0:
        raise OSError(ctypes.get_errno(), "mincore failed")
    return all(v & 1 for v in vec)


def test_the_rows_left_to_recheck_are_read_ahead_all_at_once_and_no_others(settings):
    # A fresh query's candidates are often on the device: asked for together, they are read in
    # parallel instead of one page fault after another.
    import time

    from matching.services.index import index_folder
    from matching.services.index.mapping import rows_prefetch

    settings.INDEX_CODES = True
    settings.INDEX_SEGMENT_FACES = 2000
    index_add(ids=np.arange(1, 2001), vectors=unit_vectors(2000, seed=41))
    index_maintain(seal_all=True)
    _, snapshot = index_load()
    (segment,) = snapshot.segments
    assert segment.vectors_map is not None
    descriptor = os.open(index_folder() / segment.info.name, os.O_RDONLY)
    try:
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)  # the file out of the page cache
    finally:
        os.close(descriptor)
    wanted, other = [0, 777, 1999], 1400
    assert not any(_resident(segment.vectors[r]) for r in [*wanted, other])
    rows_prefetch(vectors_map=segment.vectors_map, row_bytes=2048, rows=np.array(wanted))
    deadline = time.monotonic() + 10
    while not all(_resident(segment.vectors[r]) for r in wanted) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(_resident(segment.vectors[r]) for r in wanted)
    assert not _resident(segment.vectors[other])  # exactly the rows asked for: no read-around
