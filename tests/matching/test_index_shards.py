"""Shards: two real shard workers against Redis answer exactly as one index; a missing shard gives no answer.

Needs Redis as broker and result backend and a database the workers share, e.g.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fr_index \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/2 CELERY_RESULT_BACKEND=redis://127.0.0.1:6379/2 \
    .venv/bin/pytest tests/matching/test_index_shards.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from matching.models import Face
from matching.services.index import (
    index_add,
    index_coverage,
    index_range_search,
    index_rebuild,
    index_remove,
    index_sync_if_changed,
)
from matching.services.index.shards import IndexIncomplete
from portal.celery import app
from tests.conftest import _test_database_url
from tests.matching.conftest import THRESHOLD_CLEARANCE, threshold_margin, unit_vectors
from tests.matching.helpers import image_with_faces

pytestmark = pytest.mark.skipif(
    not (
        str(settings.CELERY_BROKER_URL).startswith("redis://")
        and str(settings.CELERY_RESULT_BACKEND or "").startswith("redis://")
        and settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    ),
    reason="needs Redis (CELERY_BROKER_URL, CELERY_RESULT_BACKEND) and PostgreSQL (DATABASE_URL)",
)


def _start_shard(shard: int, tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    queue = f"index-shard-{shard}"
    with app.connection_for_write() as connection, connection.channel() as channel:
        channel.queue_declare(queue=queue, durable=True, auto_delete=False)
        channel.queue_purge(queue)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": _test_database_url(),
        "INDEX_SHARDS": "2",
        "INDEX_SHARD": str(shard),
        "INDEX_DIR": str(tmp_path / f"shard-{shard}"),  # its own segments, as on its own machine
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / f"shard-{shard}.log"
    command = [
        sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo", "--loglevel=INFO",
        "-Q", queue, "-n", f"{queue}-{os.getpid()}@%h", "--without-gossip", "--without-mingle",
        "--without-heartbeat",
    ]  # fmt: skip
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            command, cwd=settings.BASE_DIR, env=env, stdout=handle, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 120
    while " ready." not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"shard worker {shard} did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    return process, log


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def two_shards(transactional_db, settings, tmp_path):
    workers = [_start_shard(k, tmp_path) for k in (0, 1)]
    settings.INDEX_SHARDS = 2
    settings.INDEX_SHARD = -1  # this process reaches the index through the shard workers
    settings.INDEX_SHARD_TIMEOUT = 20.0
    yield workers
    for process, _ in workers:
        if process.poll() is None:
            _stop(process)


def _single_index_answers(settings, queries: np.ndarray, threshold: float):
    settings.INDEX_SHARDS = 1
    try:
        index_rebuild()  # one local index of every face, under this test's INDEX_DIR
        return index_range_search(vectors=queries, threshold=threshold)
    finally:
        settings.INDEX_SHARDS = 2


def _as_dicts(answers):
    return [dict(zip(ids.tolist(), scores.tolist(), strict=True)) for ids, scores in answers]


def test_two_shard_workers_answer_exactly_as_one_index(two_shards, settings):
    images = [image_with_faces(vectors=unit_vectors(3, seed=i)) for i in range(40)]  # 120 faces
    vectors = np.vstack([unit_vectors(3, seed=i) for i in range(40)])
    result = index_rebuild()
    assert result.total == 120 and result.database == 120  # each shard built its share from the rows
    queries = np.vstack([vectors[[0, 5, 77]], unit_vectors(2, seed=99)])
    # 0.05 had a score 1e-6 from it: either side on another CPU. 0.055 is 2e-3 from every score.
    assert threshold_margin(vectors=vectors, queries=queries, thresholds=(0.055,)) > THRESHOLD_CLEARANCE
    sharded = _as_dicts(index_range_search(vectors=queries, threshold=0.055))
    single = _as_dicts(_single_index_answers(settings, queries, 0.055))
    for got, expected in zip(sharded, single, strict=True):
        assert got.keys() == expected.keys()
        assert got == pytest.approx(expected, abs=1e-6)
    assert all(len(d) > 0 for d in sharded[:3])

    # Additions and removals go to the shard holding the face; every shard is asked, none skipped.
    extra = image_with_faces(vectors=unit_vectors(2, seed=500))
    extra_ids = sorted(extra.faces.values_list("pk", flat=True))
    assert {i % 2 for i in extra_ids} == {0, 1}  # consecutive ids: one on each shard
    # image_with_faces added them (through the shards); adding again adds nothing twice.
    assert index_add(ids=extra_ids, vectors=unit_vectors(2, seed=500)) == 0
    gone = sorted(images[0].faces.values_list("pk", flat=True))
    assert index_remove(ids=gone) == 3
    Face.objects.filter(pk__in=gone).delete()
    coverage = index_sync_if_changed()
    assert (coverage.total, coverage.added, coverage.removed) == (119, 0, 0)
    assert coverage.database == -1  # the cheap check counts no rows; the full one counts every shard's
    assert (index_coverage().total, index_coverage().database) == (119, 119)  # every shard counted
    ((found, _),) = index_range_search(vectors=vectors[:1], threshold=0.99)
    assert found.size == 0  # the removed face, from whichever shard held it
    ((found, _),) = index_range_search(vectors=unit_vectors(2, seed=500)[1:], threshold=0.99)
    assert found.tolist() == [extra_ids[1]]


def test_a_search_with_a_shard_down_fails_rather_than_answer_partially(two_shards, settings):
    image_with_faces(vectors=unit_vectors(4, seed=1))
    index_rebuild()
    process, _ = two_shards[1]
    _stop(process)  # shard 1's machine is down
    settings.INDEX_SHARD_TIMEOUT = 2.0
    settings.INDEX_SHARD_ATTEMPTS = 2
    with pytest.raises(IndexIncomplete, match="not every index shard answered"):
        index_range_search(vectors=unit_vectors(1, seed=1), threshold=0.0)
