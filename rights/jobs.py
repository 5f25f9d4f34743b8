"""Celery tasks of the jobs side: sending recipient notices, and every periodic job.

Thin and idempotent: each takes ids (or nothing), calls one service, and is safe to run twice.
The schedule is declared in ``rights.schedule``.
"""

from __future__ import annotations

import logging

from celery import shared_task

from rights.services import notices

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, autoretry_for=(Exception,), max_retries=5, retry_backoff=True)
def notice_send_task(notice_id: int) -> bool:
    return notices.notice_send(notice_id=notice_id)


@shared_task(
    acks_late=True,
    autoretry_for=(notices.WebhookError,),
    max_retries=8,
    retry_backoff=60,
    retry_backoff_max=6 * 3600,
)
def notice_webhook_task(notice_id: int) -> bool:
    # A failing webhook only retries this task: the email has gone already, in its own task.
    return notices.notice_webhook_deliver(notice_id=notice_id)


@shared_task(acks_late=True)
def notices_chase_job() -> int:
    return notices.notices_chase()
