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
