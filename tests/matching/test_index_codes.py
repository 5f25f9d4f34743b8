"""Compact 8-bit codes: the error bound holds, and a codes-first search equals brute force exactly."""

from __future__ import annotations

import numpy as np
import pytest

from matching.services.index import index_add, index_load, index_maintain, index_range_search
from matching.services.index.codes import codes_encode
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
        for batch in (queries[:1], queries[:3], queries):  # the mat-vec and the matrix-product paths
            found = index_range_search(vectors=batch, threshold=threshold)
            for q, (got_ids, got_scores) in zip(batch, found, strict=True):
                brute = everything @ q  # brute force: every float32 vector, the same mat-vec kernel
                expected = ids[brute >= np.float32(threshold)]
                assert sorted(got_ids.tolist()) == sorted(expected.tolist())
                np.testing.assert_allclose(
                    got_scores, np.sort(brute[brute >= np.float32(threshold)])[::-1], atol=1e-6
                )


def test_the_integer_product_is_exact_even_at_the_extremes_and_the_query_error_bounds_it():
    from matching.services.index.codes_int import _int_session, queries_quantise

    rng = np.random.default_rng(9)
    # Every code at +-127 and every query code at +-63: the sums an AVX2 kernel could saturate.
    codes = np.vstack([np.full((4, 512), 127, np.int8), np.full((4, 512), -127, np.int8)])
    codes = np.vstack([codes, rng.integers(-127, 128, size=(600, 512), dtype=np.int8)])
    queries = np.vstack([np.full(512, 0.04), -np.full(512, 0.04), unit_vectors(14, seed=10)])
    query_codes, query_scales, query_errors = queries_quantise(queries=queries)
    assert np.abs(query_codes).max() <= 63
    (products,) = _int_session().run(
        None, {"codes": codes.view(np.uint8) ^ np.uint8(0x80), "queries": query_codes}
    )
    assert np.array_equal(products, codes.astype(np.int64) @ query_codes.astype(np.int64))
    decoded = (query_codes.astype(np.float64) * query_scales[None, :]).T
    assert np.all(np.linalg.norm(queries - decoded, axis=1) <= query_errors)
