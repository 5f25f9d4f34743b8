"""Celery tasks: thin wrappers that call one service. Idempotent (a file already held is a duplicate)."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import shared_task
from celery.signals import worker_process_init
from django.db import DatabaseError

from matching.services.embedding import default_threads_for, face_model_configure
from matching.services.ingestion import IngestItem, collected_at_parse, images_ingest
from matching.services.storage_check import collection_orphans_delete

logger = logging.getLogger(__name__)


@worker_process_init.connect
def _share_cores_between_pool_processes(**_: Any) -> None:
    # A prefork worker runs `concurrency` processes, each loading the models: give each its share of
    # the cores instead of onnxruntime's one thread per core in every process.
    from celery import current_app

    concurrency = current_app.conf.worker_concurrency or os.cpu_count() or 1
    face_model_configure(threads=default_threads_for(processes=concurrency))


@worker_process_init.connect
def _compile_the_search_kernels(**_: Any) -> None:
    # Compiling, paid here at start rather than by the first request searched.
    from matching.services.index import index_kernels_compile

    index_kernels_compile()


@shared_task(
    acks_late=True,
    autoretry_for=(DatabaseError, OSError),
    max_retries=3,
    retry_backoff=True,
    retry_jitter=True,
)
def ingest_files(items: list[dict[str, Any]]) -> dict[str, int]:
    """Ingest a chunk of files: dicts of path, source_url, collected_at, platform, account, extra.

    The paths must be readable by the worker (a shared folder). Re-running the chunk adds nothing
    twice: every file already stored comes back as a duplicate.
    """
    ingest_items = [
        IngestItem(
            name=str(entry["path"]),
            path=str(entry["path"]),
            source_url=entry.get("source_url") or "",
            collected_at=collected_at_parse(value=entry.get("collected_at") or None),
            platform=entry.get("platform") or "",
            account=entry.get("account") or "",
            extra=dict(entry.get("extra") or {}),
        )
        for entry in items
    ]
    outcomes = images_ingest(items=ingest_items)
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    logger.info("ingest_files: %s", counts)
    return counts


@shared_task(acks_late=True, autoretry_for=(DatabaseError,), max_retries=3, retry_backoff=True)
def collection_orphans_sweep() -> dict[str, int]:
    """Periodic: delete collection files left without an Image row by a crash (see storage_check).

    Only files older than an hour are touched, so an ingestion in flight never loses its file; a
    second run, or two at once, finds nothing more to delete.
    """
    result = collection_orphans_delete()
    return {"checked": result.checked, "deleted": result.deleted}


@shared_task(acks_late=True, autoretry_for=(OSError,), max_retries=3, retry_backoff=True)
def index_maintain() -> dict[str, int]:
    """Periodic: seal a full growing segment and merge small sealed ones, off the request path.

    Idempotent: a second run finds nothing to seal or merge; two at once serialise on the index lock.
    """
    from matching.services.index import index_maintain as maintain

    result = maintain()
    return {"sealed": result.sealed, "merged": result.merged, "version": result.version}


@shared_task(acks_late=True, autoretry_for=(DatabaseError, OSError), max_retries=3, retry_backoff=True)
def index_reconcile() -> dict[str, int]:
    """Nightly: compare the whole index with the Face table and repair it (``index_sync``).

    The searches' own check costs the change and sees what the writers' outbox records; this
    catches the rest (an index entry lost by other means, a row deleted outside the services).
    Idempotent: a second run finds nothing to do.
    """
    from matching.services.index import index_sync

    return _sync_figures(index_sync())


def _sync_figures(result: Any) -> dict[str, int]:
    return {k: int(getattr(result, k)) for k in ("added", "removed", "total", "version", "database")}


# Shard tasks (INDEX_SHARDS > 1): each runs on a worker serving its shard's queue and answers for
# that shard only; the caller (matching.services.index.shards) waits for every shard.
@shared_task(acks_late=True, ignore_result=False)
def index_shard_search(*, shard: int, queries: list[list[float]], threshold: float) -> dict[str, Any]:
    import numpy as np

    from matching.services.index import index_load, index_range_search
    from matching.services.index.shards import shard_check

    shard_check(shard=shard)
    hits = index_range_search(vectors=np.asarray(queries, dtype=np.float32), threshold=threshold)
    version, snapshot = index_load()
    return {
        "shard": shard,
        "version": version,
        "total": snapshot.ntotal,
        "hits": [[ids.tolist(), scores.tolist()] for ids, scores in hits],
    }


@shared_task(acks_late=True, ignore_result=False, autoretry_for=(DatabaseError,), max_retries=3)
def index_shard_add(*, shard: int, ids: list[int]) -> dict[str, int]:
    """Add these faces to this shard, their vectors read from the database (ids already held: skipped)."""
    import numpy as np

    from matching.services.index import db_faces, index_add
    from matching.services.index.shards import shard_check

    shard_check(shard=shard)
    count = sum(index_add(ids=i, vectors=v) for i, v in db_faces(np.asarray(ids, dtype=np.int64)))
    return {"shard": shard, "count": count}


@shared_task(acks_late=True, ignore_result=False)
def index_shard_remove(*, shard: int, ids: list[int]) -> dict[str, int]:
    from matching.services.index import index_remove
    from matching.services.index.shards import shard_check

    shard_check(shard=shard)
    return {"shard": shard, "count": index_remove(ids=ids)}


@shared_task(acks_late=True, ignore_result=False, autoretry_for=(DatabaseError,), max_retries=3)
def index_shard_sync(*, shard: int, only_if_changed: bool) -> dict[str, int]:
    from matching.services.index import index_sync, index_sync_if_changed
    from matching.services.index.shards import shard_check

    shard_check(shard=shard)
    result = index_sync_if_changed() if only_if_changed else index_sync()
    return {"shard": shard, **_sync_figures(result)}


@shared_task(acks_late=True, ignore_result=False, autoretry_for=(DatabaseError,), max_retries=3)
def index_shard_coverage(*, shard: int) -> dict[str, int]:
    from matching.services.index import index_coverage
    from matching.services.index.shards import shard_check

    shard_check(shard=shard)
    return {"shard": shard, **_sync_figures(index_coverage())}


@shared_task(acks_late=True, ignore_result=False, autoretry_for=(DatabaseError,), max_retries=3)
def index_shard_rebuild(*, shard: int) -> dict[str, int]:
    from matching.services.index import index_rebuild
    from matching.services.index.shards import shard_check

    shard_check(shard=shard)
    result = index_rebuild()
    return {"shard": shard, **_sync_figures(result)}
