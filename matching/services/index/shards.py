"""Shards past one machine: faces split by id (``id % INDEX_SHARDS``), each shard's segments held by
the machine whose Celery workers consume its queue ``index-shard-<k>`` (run with ``INDEX_SHARD=k``).

A process that is not a shard worker (the web, the pipeline) sends each index call as a Celery group
with one task per shard and merges the answers. An answer counts only if every shard answered, once,
for its own shard: otherwise the group is sent again (a shard restarting), and after
INDEX_SHARD_ATTEMPTS the call fails with ``IndexIncomplete``; it never answers from part of the
collection. Tasks carry ids and query vectors, never image data; a shard worker reads the vectors
it adds from the database, the record.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import F, QuerySet

from matching.services.index.store import IndexSyncResult

logger = logging.getLogger(__name__)


class IndexIncomplete(RuntimeError):
    """Not every shard answered: no answer is given rather than a partial one."""


def shards_count() -> int:
    return max(1, int(settings.INDEX_SHARDS))


def shards_remote() -> bool:
    """True in a process that reaches the index through the shard workers (sharded, not a shard)."""
    return shards_count() > 1 and int(settings.INDEX_SHARD) < 0


def shard_queue(*, shard: int) -> str:
    return f"index-shard-{shard}"


def shard_faces(queryset: QuerySet) -> QuerySet:
    """The Face rows this process's index holds: all of them, or a shard worker's share."""
    count, shard = shards_count(), int(settings.INDEX_SHARD)
    if count <= 1 or shard < 0:
        return queryset
    return queryset.alias(shard_of=F("pk") % count).filter(shard_of=shard)


def shard_check(*, shard: int) -> None:
    """A shard task runs only on a worker serving that shard (a misrouted one must not answer)."""
    if int(settings.INDEX_SHARD) != shard or shards_count() <= 1:
        raise IndexIncomplete(f"this worker serves shard {settings.INDEX_SHARD}, not {shard}")


def _gather(task_name: str, kwargs_for: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Run one task per shard as a Celery group; every shard's answer, or IndexIncomplete."""
    from celery import current_app, group
    from celery.exceptions import TimeoutError as CeleryTimeout

    attempts = max(1, int(settings.INDEX_SHARD_ATTEMPTS))
    for attempt in range(1, attempts + 1):
        job = group(
            current_app.signature(task_name, kwargs={"shard": k, **kw}, queue=shard_queue(shard=k))
            for k, kw in kwargs_for.items()
        )
        result = job.apply_async()
        try:
            answers = result.get(
                timeout=float(settings.INDEX_SHARD_TIMEOUT), propagate=True, disable_sync_subtasks=False
            )
        except CeleryTimeout:
            logger.warning("index: %s, attempt %s: not every shard answered in time", task_name, attempt)
            result.revoke()
            continue
        by_shard = {int(a["shard"]): a for a in answers}
        if sorted(by_shard) == sorted(kwargs_for) and len(answers) == len(kwargs_for):
            return by_shard
        logger.warning("index: %s, attempt %s: answers from shards %s", task_name, attempt, sorted(by_shard))
    raise IndexIncomplete(f"{task_name}: not every index shard answered after {attempts} attempts")


def _all_shards(**kwargs: Any) -> dict[int, dict[str, Any]]:
    return {k: dict(kwargs) for k in range(shards_count())}


def shards_range_search(*, queries: np.ndarray, threshold: float) -> list[tuple[np.ndarray, np.ndarray]]:
    answers = _gather(
        "matching.tasks.index_shard_search",
        _all_shards(queries=queries.astype(np.float32).tolist(), threshold=float(threshold)),
    )
    results = []
    for q in range(queries.shape[0]):
        ids = np.concatenate([np.asarray(a["hits"][q][0], dtype=np.int64) for a in answers.values()])
        scores = np.concatenate([np.asarray(a["hits"][q][1], dtype=np.float32) for a in answers.values()])
        order = np.lexsort((ids, -scores))
        results.append((ids[order], scores[order]))
    return results


def _by_shard(ids: np.ndarray) -> dict[int, dict[str, Any]]:
    count = shards_count()
    return {k: {"ids": ids[ids % count == k].tolist()} for k in range(count) if (ids % count == k).any()}


def shards_add(*, ids: np.ndarray) -> int:
    return sum(int(a["count"]) for a in _gather("matching.tasks.index_shard_add", _by_shard(ids)).values())


def shards_remove(*, ids: np.ndarray) -> int:
    return sum(int(a["count"]) for a in _gather("matching.tasks.index_shard_remove", _by_shard(ids)).values())


def _sync_result(answers: dict[int, dict[str, Any]]) -> IndexSyncResult:
    return IndexSyncResult(
        added=sum(a["added"] for a in answers.values()),
        removed=sum(a["removed"] for a in answers.values()),
        total=sum(a["total"] for a in answers.values()),
        version=sum(a["version"] for a in answers.values()),  # grows whenever any shard changes
        # Counted only when every shard counted its rows (-1: a cheap check that reads no count).
        database=-1
        if any(a["database"] < 0 for a in answers.values())
        else sum(a["database"] for a in answers.values()),
    )


def shards_sync(*, only_if_changed: bool = False) -> IndexSyncResult:
    return _sync_result(
        _gather("matching.tasks.index_shard_sync", _all_shards(only_if_changed=only_if_changed))
    )


def shards_coverage() -> IndexSyncResult:
    return _sync_result(_gather("matching.tasks.index_shard_coverage", _all_shards()))


def shards_sync_if_changed() -> IndexSyncResult:
    return shards_sync(only_if_changed=True)


def shards_rebuild() -> IndexSyncResult:
    return _sync_result(_gather("matching.tasks.index_shard_rebuild", _all_shards()))
