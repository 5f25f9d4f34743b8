"""The index's background upkeep task: seals and merges off the request path; idempotent."""

from __future__ import annotations

import threading

import numpy as np

from matching.services.index import index_add, index_load, index_range_search
from matching.tasks import index_maintain
from tests.matching.conftest import unit_vectors


def test_maintain_seals_a_full_growing_segment_and_a_second_run_does_nothing(settings):
    settings.INDEX_SEGMENT_FACES = 50
    vectors = unit_vectors(120, seed=2)
    index_add(ids=range(1, 121), vectors=vectors)
    first = index_maintain.apply().get()
    assert first["sealed"] == 120
    _, snapshot = index_load()
    assert [s.info.count for s in snapshot.segments] == [50, 50, 20]
    second = index_maintain.apply().get()
    assert (second["sealed"], second["merged"]) == (0, 0) and second["version"] == first["version"]
    ((found, _),) = index_range_search(vectors=vectors[7:8], threshold=0.99)
    assert found.tolist() == [8]


def test_maintain_leaves_a_growing_segment_below_the_seal_size_alone(settings):
    settings.INDEX_SEGMENT_FACES = 50
    index_add(ids=range(1, 11), vectors=unit_vectors(10))
    result = index_maintain.apply().get()
    assert (result["sealed"], result["merged"]) == (0, 0)


def test_maintain_on_an_empty_index_does_nothing():
    result = index_maintain.apply().get()
    assert result == {"sealed": 0, "merged": 0, "version": 0}


def test_two_runs_at_once_serialise_on_the_lock_and_lose_nothing(settings):
    settings.INDEX_SEGMENT_FACES = 40
    vectors = unit_vectors(200, seed=3)
    index_add(ids=range(1, 201), vectors=vectors)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(index_maintain.apply().get())) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["sealed"] for r in results) == [0, 200]
    _, snapshot = index_load()
    assert np.array_equal(np.sort(snapshot.ids()), np.arange(1, 201))


def test_a_shard_task_answers_only_for_the_shard_its_worker_serves(settings):
    import pytest

    from matching.services.index.shards import IndexIncomplete
    from matching.tasks import index_shard_search

    settings.INDEX_SHARDS, settings.INDEX_SHARD = 2, 0  # this process: the worker of shard 0
    vectors = unit_vectors(3, seed=4)
    index_add(ids=[2, 4, 6], vectors=vectors)  # a shard worker writes its own folder directly
    answer = index_shard_search.apply(
        kwargs={"shard": 0, "queries": vectors[:1].tolist(), "threshold": 0.99}
    ).get()
    assert answer["shard"] == 0 and answer["total"] == 3 and answer["hits"][0][0] == [2]
    # A message for shard 1 that reached this worker is refused, not answered from shard 0's faces.
    with pytest.raises(IndexIncomplete, match="serves shard 0, not 1"):
        index_shard_search.apply(
            kwargs={"shard": 1, "queries": vectors[:1].tolist(), "threshold": 0.99}
        ).get()
