"""Celery tasks of the jobs side: sending recipient notices, and every periodic job.

Thin and idempotent: each takes ids (or nothing), calls one service, and is safe to run twice or
at the same time as another run. The schedule is declared in ``rights.schedule``.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings

from rights.lifecycle import audit, enqueue
from rights.recipients import events, notices
from rights.upkeep import deadlines, purge, recovery, retention

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, autoretry_for=(Exception,), max_retries=5, retry_backoff=True)
def notice_send_task(notice_id: int) -> bool:
    return notices.notice_send(notice_id=notice_id)


# A webhook POST (recipient notice or event): retried with backoff, up to 8 times, at most 6 hours
# apart; then the notice's chase and the endpoint's delivery status take over.
WEBHOOK_RETRIES: dict[str, Any] = {
    "acks_late": True,
    "autoretry_for": (notices.WebhookError,),
    "max_retries": 8,
    "retry_backoff": 60,
    "retry_backoff_max": 6 * 3600,
}


@shared_task(**WEBHOOK_RETRIES)
def notice_webhook_task(notice_id: int, chase: bool = False) -> bool:
    # A failing webhook only retries this task: the email went out in its own task.
    return notices.notice_webhook_deliver(notice_id=notice_id, chase=chase)


@shared_task(**WEBHOOK_RETRIES)
def event_deliver_task(event: str, request_id: int, endpoint_id: int) -> bool:
    return events.event_deliver(event=event, request_id=request_id, endpoint_id=endpoint_id)


@shared_task(**WEBHOOK_RETRIES)
def event_webhook_task(event: str, request_id: int, endpoint_index: int) -> bool:
    # Queued before endpoints were data (an API_EVENT_WEBHOOKS index): rights.recipients.events.
    return events.event_deliver_legacy(event=event, request_id=request_id, endpoint_index=endpoint_index)


class ChaseIncomplete(Exception):
    """Some notices could not be sent: the chase runs again for them (those sent are not resent)."""


@shared_task(
    acks_late=True, autoretry_for=(ChaseIncomplete,), max_retries=4, retry_backoff=600, retry_backoff_max=3600
)
def notices_chase_job() -> dict[str, int]:
    result = notices.notices_chase()
    if result.failed:
        raise ChaseIncomplete(f"{result.failed} recipient notices could not be sent")
    return {"chased": result.chased, "failed": 0}


class SweepIncomplete(Exception):
    """Some reminders or escalations could not be sent: the sweep is run again shortly."""


@shared_task(
    acks_late=True, autoretry_for=(SweepIncomplete,), max_retries=6, retry_backoff=300, retry_backoff_max=3600
)
def deadlines_sweep_job() -> dict[str, int]:
    result = deadlines.deadlines_sweep()
    if result.failed:
        # The next daily run would be a day late for an escalation; what was sent is not resent.
        raise SweepIncomplete(f"{result.failed} reminders or escalations failed")
    return {"reminded": result.reminded, "escalated": result.escalated, "overdue": result.overdue}


@shared_task(acks_late=True)
def outbox_deliver_job() -> int:
    return enqueue.outbox_deliver()


@shared_task(acks_late=True)
def requests_recover_job() -> dict[str, int]:
    result = recovery.requests_recover_stuck()
    return {"requeued": result.requeued, "held": result.held}


@shared_task(acks_late=True)
def requests_expire_job() -> int:
    return purge.requests_expire_unconfirmed()


@shared_task(acks_late=True)
def requests_purge_job() -> dict[str, int]:
    result = purge.requests_purge_due()
    return {"requests": result.requests, "answer_archives": result.answer_archives}


@shared_task(acks_late=True)
def agent_evidence_purge_job() -> int:
    return retention.agent_evidence_purge_due()


@shared_task(acks_late=True)
def suppression_check_job() -> dict[str, int]:
    result = retention.suppression_check()
    return {
        "faces_checked": result.faces_checked,
        "templates_checked": result.templates_checked,
        "images_deleted": result.images_deleted,
        "images_taken": result.images_taken,
    }


@shared_task(acks_late=True, autoretry_for=(OSError,), max_retries=3, retry_backoff=True)
def retention_job() -> int:
    result = retention.retention_delete_chunk(chunk=settings.RETENTION_CHUNK)
    if result.more:
        # One chunk per run, so no worker is held for a deletion of unbounded length.
        enqueue.retention_enqueue()
    return result.deleted


@shared_task(acks_late=True, autoretry_for=(OSError,), max_retries=3, retry_backoff=True)
def audit_anchor_job() -> dict[str, object]:
    # Appending twice only adds a second, equally true anchor: safe to run again or concurrently.
    anchor = audit.audit_anchor_write(path=settings.AUDIT_ANCHOR_FILE)
    return {"event_id": anchor.event_id, "hash": anchor.hash}
