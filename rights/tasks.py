"""Celery tasks of the request pipeline: thin, idempotent, taking ids.

Each reloads the request, returns early if it is gone or not in the status it works on (done, or
another worker has it), and calls one service. ``acks_late``: a worker that dies mid-task leaves
the message to be redelivered, and the services take over a claim left by a dead worker.
Enqueue with ``transaction.on_commit(lambda: request_search.delay(request.id))``.
"""

from __future__ import annotations

import logging

from celery import shared_task

from rights.models import DataRequest, RequestStatus
from rights.services.fulfilment import (
    fulfil_failed,
    request_fulfil_run,
    retry_delay,
    search_failed,
)
from rights.services.search import request_search_run

logger = logging.getLogger(__name__)

SEARCH_MAX_RETRIES = 3
FULFIL_MAX_RETRIES = 5


def _status_of(request_id: int) -> str | None:
    return DataRequest.objects.filter(id=request_id).values_list("status", flat=True).first()


@shared_task(bind=True, name="rights.request_search", acks_late=True, max_retries=SEARCH_MAX_RETRIES)
def request_search(self, request_id: int) -> str | None:
    """QUEUED -> SEARCHING -> REVIEW / APPROVED / NEEDS_SELFIE."""
    status = _status_of(request_id)
    if status is None:
        logger.info("request_search: request %s is gone", request_id)
        return None
    if status not in (RequestStatus.QUEUED, RequestStatus.SEARCHING):
        logger.info("request_search: request %s is %s, nothing to do", request_id, status)
        return None
    try:
        result = request_search_run(request_id=request_id)
    except Exception as exc:
        final = self.request.retries >= self.max_retries
        search_failed(request_id=request_id, error=exc, final=final)
        if final:
            return RequestStatus.HELD
        raise self.retry(
            exc=exc, countdown=retry_delay(retries=self.request.retries).total_seconds()
        ) from exc
    if result is None:
        logger.info("request_search: request %s is held by another worker", request_id)
    return result


@shared_task(bind=True, name="rights.request_fulfil", acks_late=True, max_retries=FULFIL_MAX_RETRIES)
def request_fulfil(self, request_id: int) -> str | None:
    """APPROVED -> FULFILLING -> ANSWERED (or HELD when a check fails)."""
    status = _status_of(request_id)
    if status is None:
        logger.info("request_fulfil: request %s is gone", request_id)
        return None
    if status not in (RequestStatus.APPROVED, RequestStatus.FULFILLING):
        logger.info("request_fulfil: request %s is %s, nothing to do", request_id, status)
        return None
    try:
        result = request_fulfil_run(request_id=request_id)
    except Exception as exc:
        final = self.request.retries >= self.max_retries
        fulfil_failed(request_id=request_id, error=exc, final=final)
        if final:
            return RequestStatus.HELD
        raise self.retry(
            exc=exc, countdown=retry_delay(retries=self.request.retries).total_seconds()
        ) from exc
    if result is None:
        logger.info("request_fulfil: request %s is held by another worker", request_id)
    return result
