"""The shared FAISS index: exact range search, add/remove, persistence, other processes, rebuild, sync."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from django.conf import settings

from matching.models import Face, Image
from matching.services.embedding import embedding_to_bytes
from matching.services.index import (
    index_add,
    index_cache_clear,
    index_ids,
    index_load,
    index_range_search,
    index_rebuild,
    index_remove,
    index_sync,
)
from matching.services.index.exact import vectors_scores
from tests.matching.conftest import unit_vectors, vector_near


def test_range_search_returns_every_face_above_the_threshold():
    vectors = unit_vectors(2000, seed=3)
    query = vectors[0]
    # 40 faces planted at known similarities around the threshold, among 2000 random ones.
    planted = np.stack([vector_near(query, c, seed=i) for i, c in enumerate(np.linspace(0.2, 0.9, 40))])
    ids = np.arange(1, 2041)
    index_add(ids=ids, vectors=np.vstack([vectors, planted]))
    ((found_ids, scores),) = index_range_search(vectors=query[None, :], threshold=0.45)
    all_vectors = np.vstack([vectors, planted])
    brute = ids[vectors_scores(vectors=all_vectors, query=query) >= np.float32(0.45)]
    assert sorted(found_ids.tolist()) == sorted(brute.tolist())
    assert np.all(np.diff(scores) <= 0)  # best first


def test_batched_queries_give_exactly_the_brute_force_answer():
    import matching.services.index as index_module

    vectors = unit_vectors(3000, seed=6)
    queries = np.vstack([vectors[:5], unit_vectors(7, seed=8)])  # 12 queries: the BLAS path
    assert queries.shape[0] >= index_module.BATCH_FROM
    index_add(ids=np.arange(10, 3010), vectors=vectors)
    batched = index_range_search(vectors=queries, threshold=0.1)
    one_by_one = [index_range_search(vectors=q[None, :], threshold=0.1)[0] for q in queries]
    for (b_ids, b_scores), (s_ids, s_scores), q in zip(batched, one_by_one, queries, strict=True):
        expected = np.arange(10, 3010)[vectors_scores(vectors=vectors, query=q) >= np.float32(0.1)]
        assert sorted(b_ids.tolist()) == sorted(expected.tolist())
        # The batch's matrix product only screens: the faces and their scores are a single query's.
        np.testing.assert_array_equal(b_ids, s_ids)
        np.testing.assert_array_equal(b_scores, s_scores)


def test_add_is_idempotent_and_remove_removes():
    vectors = unit_vectors(10)
    assert index_add(ids=range(1, 11), vectors=vectors) == 10
    assert index_add(ids=range(1, 11), vectors=vectors) == 0  # same ids again: nothing doubled
    assert index_add(ids=[5, 11], vectors=unit_vectors(2, seed=9)) == 1
    version, index = index_load()
    assert index.ntotal == 11
    assert index_remove(ids=[2, 3, 99]) == 2
    version_after, index = index_load()
    assert version_after == version + 1
    assert sorted(index_ids(index=index).tolist()) == [1, 4, 5, 6, 7, 8, 9, 10, 11]
    ((found, _),) = index_range_search(vectors=vectors[1][None, :], threshold=0.99)
    assert found.size == 0


def test_persisted_atomically_and_reloaded_when_another_writer_changes_it():
    index_add(ids=[1, 2], vectors=unit_vectors(2))
    files = sorted(p.name for p in settings.INDEX_DIR.iterdir())
    assert files[1:] == ["index.lock", "manifest"] and len(files) == 3  # no temp file left behind
    assert files[0].startswith("grow-")  # the growing segment the two faces were appended to
    index_cache_clear()  # as if another process: it must read the file
    version, index = index_load()
    assert index.ntotal == 2 and version >= 1


_CHILD = r"""
import json, sys, django, numpy as np
django.setup()
from matching.services.index import index_add, index_load, index_range_search
vectors = np.array(json.loads(sys.stdin.read()), dtype=np.float32)
version, index = index_load()
before = int(index.ntotal)
(found, _), = index_range_search(vectors=vectors[:1], threshold=0.99)
index_add(ids=[100], vectors=vectors[1:2])
print(json.dumps({"before": before, "found": found.tolist(), "version": version}))
"""


def test_a_second_process_sees_additions_and_its_additions_are_seen():
    vectors = unit_vectors(2, seed=5)
    index_add(ids=[7], vectors=vectors[:1])
    version, _ = index_load()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "INDEX_DIR": str(settings.INDEX_DIR)}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps(vectors.tolist()),
        capture_output=True,
        text=True,
        env=env,
        cwd=settings.BASE_DIR,
        check=True,
    )
    seen = json.loads(child.stdout.strip().splitlines()[-1])
    assert seen == {"before": 1, "found": [7], "version": version}
    # This process cached version `version`; the child wrote a newer one: we must reload.
    new_version, index = index_load()
    assert new_version == version + 1
    assert sorted(index_ids(index=index).tolist()) == [7, 100]


def _faces_in_db(n: int, seed: int = 0) -> tuple[list[int], np.ndarray]:
    from django.utils import timezone

    vectors = unit_vectors(n, seed=seed)
    ids = []
    for i, vector in enumerate(vectors):
        image = Image.objects.create(
            file=f"collection/x/{seed}-{i}.jpg", sha256=f"{seed:04d}{i:060d}", collected_at=timezone.now(),
            width=10, height=10,
        )  # fmt: skip
        face = Face.objects.create(
            image=image, x1=0, y1=0, x2=5, y2=5, det_score=0.9, embedding=embedding_to_bytes(vector=vector)
        )
        ids.append(face.pk)
    return ids, vectors


@pytest.mark.django_db
def test_rebuild_gives_the_same_results_as_incremental(monkeypatch):
    import matching.services.index as index_module

    monkeypatch.setattr(index_module, "CHUNK", 7)  # several chunks
    ids, vectors = _faces_in_db(30)
    index_add(ids=ids[:12], vectors=vectors[:12])
    index_add(ids=ids[12:], vectors=vectors[12:])
    index_remove(ids=ids[:3])
    Face.objects.filter(pk__in=ids[:3]).delete()
    queries = unit_vectors(5, seed=42)
    queries = np.vstack([queries, vectors[5:8]])
    incremental = index_range_search(vectors=queries, threshold=-1.0)
    result = index_rebuild()
    assert result.total == 27
    rebuilt = index_range_search(vectors=queries, threshold=-1.0)
    for (a_ids, a_scores), (b_ids, b_scores) in zip(incremental, rebuilt, strict=True):
        assert dict(zip(a_ids.tolist(), a_scores.tolist(), strict=True)) == pytest.approx(
            dict(zip(b_ids.tolist(), b_scores.tolist(), strict=True))
        )


@pytest.mark.django_db
def test_sync_repairs_a_crash_between_database_and_index():
    ids, vectors = _faces_in_db(6)
    index_add(ids=ids[:4], vectors=vectors[:4])  # ids[4:] committed, the index write "lost"
    index_add(ids=[999_999], vectors=unit_vectors(1, seed=8))  # a face deleted from the db only
    result = index_sync()
    assert (result.added, result.removed, result.total) == (2, 1, 6)
    _, index = index_load()
    assert sorted(index_ids(index=index).tolist()) == sorted(ids)
    assert index_sync().added == 0  # nothing left to do


def test_empty_index_searches_cleanly():
    ((found, scores),) = index_range_search(vectors=unit_vectors(1), threshold=0.3)
    assert found.size == 0 and scores.size == 0
