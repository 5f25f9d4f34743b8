"""The only place a task is sent: after the transaction commits, by task name, importing no task module.

Services call one function here per next step (written to the TaskOutbox in their transaction, sent
on commit, or by the outbox job while the broker is down); the task modules (``rights.tasks``,
``rights.jobs``) import the services, never the other way round, so there is no import circle. The
names are the ones stored in queued messages and in the beat schedule: they never change.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from kombu.exceptions import KombuError

from rights.models import EventEndpoint, TaskOutbox

logger = logging.getLogger(__name__)

# What a broker that is down or unwritable raises (Redis refused, the embedded broker's folder).
BROKER_ERRORS = (KombuError, OSError)

REQUEST_SEARCH = "rights.request_search"
REQUEST_FULFIL = "rights.request_fulfil"
NOTICE_SEND = "rights.jobs.notice_send_task"
NOTICE_WEBHOOK = "rights.jobs.notice_webhook_task"
RETENTION = "rights.jobs.retention_job"
OUTBOX_DELIVER = "rights.jobs.outbox_deliver_job"
# Deliveries queued before endpoints were data name an API_EVENT_WEBHOOKS index; still served.
EVENT_WEBHOOK = "rights.jobs.event_webhook_task"
EVENT_DELIVER = "rights.jobs.event_deliver_task"


def task_send(*, name: str, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> None:
    """Send the task registered as ``name`` now (eager mode runs it here, as ``delay`` would)."""
    app = current_app
    if name not in app.tasks:
        # A web process has not loaded the task modules yet: the app's own autodiscovery does.
        app.loader.import_default_modules()
    app.tasks[name].apply_async(args=args, kwargs=kwargs or {})


def task_enqueue(*, name: str, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> None:
    """Send the task ``name`` once the current transaction commits (at once outside one).

    Through the outbox: the row is written in the caller's transaction, so the step is never lost
    with a broker that is down (the outbox job sends it when it is back) and never sent for a
    change that rolled back.
    """
    row = TaskOutbox.objects.create(name=name, args=list(args), kwargs=kwargs or {})
    transaction.on_commit(functools.partial(outbox_send, outbox_id=row.id))


def outbox_send(*, outbox_id: int) -> bool:
    """Send one outbox row now; False (the row left for the outbox job) when the broker refuses it.

    Never raises for a broker that is down: the person who followed a link sees the page, and the
    step goes out within a minute of the broker coming back.
    """
    row = TaskOutbox.objects.filter(id=outbox_id, sent_at__isnull=True).first()
    if row is None:
        return False
    try:
        task_send(name=row.name, args=tuple(row.args), kwargs=row.kwargs)
    except BROKER_ERRORS as exc:
        TaskOutbox.objects.filter(id=row.id).update(attempts=F("attempts") + 1, last_error=type(exc).__name__)
        logger.warning(
            "outbox %s: %s not sent (%s); the outbox job retries", row.id, row.name, type(exc).__name__
        )
        return False
    TaskOutbox.objects.filter(id=row.id, sent_at__isnull=True).update(sent_at=timezone.now())
    return True


def outbox_deliver(*, now: datetime | None = None, limit: int = 500) -> int:
    """Send what the outbox still holds (the broker was down); returns how many went out.

    Rows younger than OUTBOX_GRACE are left to their own on-commit send. Each row is locked while
    it is sent (``skip_locked``: two runs never send the same row); the first broker error ends
    the run, as the broker is still down. Sent rows are forgotten after OUTBOX_KEEP.
    """
    now = now or timezone.now()
    waiting = list(
        TaskOutbox.objects.filter(sent_at__isnull=True, created_at__lt=now - settings.OUTBOX_GRACE)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    sent = 0
    for outbox_id in waiting:
        with transaction.atomic():
            row = TaskOutbox.objects.select_for_update(skip_locked=True).filter(
                id=outbox_id, sent_at__isnull=True
            )
            if not row.exists():
                continue
            if not outbox_send(outbox_id=outbox_id):
                break
        sent += 1
    TaskOutbox.objects.filter(sent_at__lt=now - settings.OUTBOX_KEEP).delete()
    if waiting:
        logger.info("outbox: %s of %s waiting task(s) sent", sent, len(waiting))
    return sent


def request_search_enqueue(*, request_id: int) -> None:
    task_enqueue(name=REQUEST_SEARCH, args=(request_id,))


def request_fulfil_enqueue(*, request_id: int) -> None:
    task_enqueue(name=REQUEST_FULFIL, args=(request_id,))


def notice_send_enqueue(*, notice_id: int) -> None:
    task_enqueue(name=NOTICE_SEND, args=(notice_id,))


def notice_webhook_enqueue(*, notice_id: int, chase: bool = False) -> None:
    task_enqueue(name=NOTICE_WEBHOOK, args=(notice_id,), kwargs={"chase": chase})


def event_webhooks_enqueue(*, event: str, request_id: int) -> None:
    """One delivery per active endpoint that wants the event (EventEndpoint.wants), after commit."""
    for endpoint in EventEndpoint.objects.filter(active=True).order_by("id"):
        if endpoint.wants(event):
            task_enqueue(name=EVENT_DELIVER, args=(event, request_id, endpoint.id))


def retention_enqueue() -> None:
    # Sent at once: the job runs outside a transaction and its chunk is already committed.
    task_send(name=RETENTION)
