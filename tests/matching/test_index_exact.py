"""The exact kernel that defines a face's float32 score, whichever path of the search found it."""

from __future__ import annotations

import numpy as np
import pytest

from matching.services.index.codes import GAMMA
from matching.services.index.exact import screen_bound, vectors_above, vectors_scores
from tests.matching.conftest import unit_vectors, vector_near


def test_its_scores_are_within_the_rounding_bound_of_the_real_product():
    vectors = unit_vectors(3000, seed=21)
    queries = unit_vectors(8, seed=22)
    for q in queries:
        real = vectors.astype(np.float64) @ q.astype(np.float64)
        gap = np.abs(vectors_scores(vectors=vectors, query=q).astype(np.float64) - real)
        assert np.all(gap <= GAMMA * np.linalg.norm(q.astype(np.float64)) * 1.0001)


def test_a_row_scores_the_same_to_the_bit_wherever_it_lies_in_memory():
    # The codes path and a batch score the rows they gather into a new array: it must not matter.
    vectors = unit_vectors(1500, seed=23)
    query = unit_vectors(1, seed=24)[0]
    in_place = vectors_scores(vectors=vectors, query=query)
    order = np.random.default_rng(25).permutation(vectors.shape[0])
    np.testing.assert_array_equal(vectors_scores(vectors=vectors[order], query=query), in_place[order])
    offset = np.empty((vectors.shape[0] * 512 + 3,), np.float32)[3:].reshape(vectors.shape)  # unaligned
    offset[:] = vectors
    np.testing.assert_array_equal(vectors_scores(vectors=offset, query=query), in_place)


def test_above_gives_every_row_at_or_over_the_threshold_ascending_with_its_score():
    vectors = unit_vectors(4000, seed=26)
    query = vectors[17]
    scores = vectors_scores(vectors=vectors, query=query)
    threshold = np.float32(0.1)
    rows, found = vectors_above(vectors=vectors, query=query, threshold=threshold)
    np.testing.assert_array_equal(rows, np.flatnonzero(scores >= threshold))
    np.testing.assert_array_equal(found, scores[rows])
    assert 17 in rows.tolist() and 0 < rows.size < 400  # itself, and a tail of random ones


def test_a_query_of_nan_matches_nothing_and_a_misshapen_one_is_refused():
    vectors = unit_vectors(50, seed=27)
    nan_query = np.full(512, np.nan, np.float32)
    rows, _ = vectors_above(vectors=vectors, query=nan_query, threshold=np.float32(-1.0))
    assert rows.size == 0
    assert np.isnan(vectors_scores(vectors=vectors, query=nan_query)).all()
    with pytest.raises(ValueError, match="one query of dim terms"):
        vectors_above(vectors=vectors, query=np.zeros(128, np.float32), threshold=np.float32(0.5))
    with pytest.raises(ValueError, match="one query of dim terms"):
        vectors_above(vectors=vectors, query=np.zeros((2, 512), np.float32), threshold=np.float32(0.5))
    with pytest.raises(ValueError, match="dim >= 1"):  # no terms: nothing to sum, and nothing to read
        vectors_above(vectors=np.zeros((3, 0), np.float32), query=np.zeros(0, np.float32), threshold=0.5)


@pytest.mark.parametrize("threshold", (0.05, 0.2, 0.6))
def test_a_matrix_product_never_drops_below_the_screen_bound_a_face_over_the_threshold(threshold):
    queries = unit_vectors(16, seed=29)
    # Faces planted around each threshold for every query, among random ones.
    planted = [vector_near(queries[i % 16], c, seed=i) for i, c in enumerate(np.linspace(0.02, 0.7, 160))]
    vectors = np.vstack([unit_vectors(6000, seed=28), np.stack(planted)])
    bounds = screen_bound(threshold=threshold, norms=np.linalg.norm(queries.astype(np.float64), axis=1))
    assert np.all(bounds < np.float32(threshold)) and np.all(bounds > threshold - 1e-3)
    product = queries @ vectors.T  # BLAS, summed in its own order
    for q in range(queries.shape[0]):
        over = vectors_scores(vectors=vectors, query=queries[q]) >= np.float32(threshold)
        assert over.any()
        assert np.all(product[q, over] >= bounds[q])


def test_the_index_refuses_to_store_a_vector_that_is_not_unit_length_and_stores_nothing():
    # The screens' bounds hold for unit vectors: anything else is refused at the door, clearly.
    from matching.services.index import index_add, index_load

    good = unit_vectors(3, seed=30)
    for bad in (good * 1.01, np.vstack([good[:2], np.zeros((1, 512), np.float32)]), good * np.nan):
        with pytest.raises(ValueError, match="not unit length"):
            index_add(ids=[1, 2, 3], vectors=bad)
    _, snapshot = index_load()
    assert snapshot.manifest.total == 0  # nothing half-written
    assert index_add(ids=[1, 2, 3], vectors=good) == 3
