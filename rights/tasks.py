"""Celery tasks of the request pipeline: thin, idempotent, taking ids.

Each reloads the request, returns early if it is gone or not in the status it works on (done, or
another worker has it), and calls one service. ``acks_late``: a worker that dies mid-task leaves
the message to be redelivered, and the services take over a claim left by a dead worker.
Nothing imports this module: services enqueue by task name through ``rights.lifecycle.enqueue``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import Task, shared_task

from rights.lifecycle.claims import claim_heartbeat
from rights.models import DataRequest, RequestStatus
from rights.pipeline.failures import fulfil_failed, retry_delay, search_failed
from rights.pipeline.fulfil import request_fulfil_run
from rights.pipeline.search import request_search_run

logger = logging.getLogger(__name__)

SEARCH_MAX_RETRIES = 3


class StepFailed(Exception):
    """What a retried pipeline step is logged with: the step, the request id, the error's type."""


FULFIL_MAX_RETRIES = 5


def _status_of(request_id: int) -> str | None:
    return DataRequest.objects.filter(id=request_id).values_list("status", flat=True).first()


def _pipeline_step(
    task: Task,
    request_id: int,
    *,
    label: str,
    statuses: tuple[str, str],
    run: Callable[..., str | None],
    failed: Callable[..., None],
) -> str | None:
    """Reload, skip when gone or not in ``statuses``, run; a failure is retried, then HELD."""
    status = _status_of(request_id)
    if status is None:
        logger.info("%s: request %s is gone", label, request_id)
        return None
    if status not in statuses:
        logger.info("%s: request %s is %s, nothing to do", label, request_id, status)
        return None
    try:
        with claim_heartbeat(request_id=request_id):  # the lease stands while this worker is alive
            result = run(request_id=request_id)
    except Exception as exc:
        final = task.request.retries >= task.max_retries
        failed(request_id=request_id, error=exc, final=final)
        if final:
            return RequestStatus.HELD
        # Celery logs the retry with its exception: ours names the id and the type only (a mail
        # server's refusal quotes the address). ``from None``: no traceback of the original either.
        raise task.retry(
            exc=StepFailed(f"{label}: request {request_id} failed ({type(exc).__name__}); retried"),
            countdown=retry_delay(retries=task.request.retries).total_seconds(),
        ) from None
    if result is None:
        logger.info("%s: request %s is held by another worker", label, request_id)
    return result


@shared_task(bind=True, name="rights.request_search", acks_late=True, max_retries=SEARCH_MAX_RETRIES)
def request_search(self, request_id: int) -> str | None:
    """QUEUED -> SEARCHING -> REVIEW / APPROVED / NEEDS_SELFIE."""
    return _pipeline_step(
        self,
        request_id,
        label="request_search",
        statuses=(RequestStatus.QUEUED, RequestStatus.SEARCHING),
        run=request_search_run,
        failed=search_failed,
    )


@shared_task(bind=True, name="rights.request_fulfil", acks_late=True, max_retries=FULFIL_MAX_RETRIES)
def request_fulfil(self, request_id: int) -> str | None:
    """APPROVED -> FULFILLING -> ANSWERED (or HELD when a check fails)."""
    return _pipeline_step(
        self,
        request_id,
        label="request_fulfil",
        statuses=(RequestStatus.APPROVED, RequestStatus.FULFILLING),
        run=request_fulfil_run,
        failed=fulfil_failed,
    )
