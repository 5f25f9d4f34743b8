"""The only place a task is sent: after the transaction commits, by task name, importing no task module.

Services call one function here per next step; the task modules (``rights.tasks``, ``rights.jobs``)
import the services, never the other way round, so there is no import circle. The names are the
ones stored in queued messages and in the beat schedule: they never change.
"""

from __future__ import annotations

import functools
from typing import Any

from celery import current_app
from django.db import transaction

REQUEST_SEARCH = "rights.request_search"
REQUEST_FULFIL = "rights.request_fulfil"
NOTICE_SEND = "rights.jobs.notice_send_task"
NOTICE_WEBHOOK = "rights.jobs.notice_webhook_task"
RETENTION = "rights.jobs.retention_job"


def task_send(*, name: str, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> None:
    """Send the task registered as ``name`` now (eager mode runs it here, as ``delay`` would)."""
    app = current_app
    if name not in app.tasks:
        # A web process has not loaded the task modules yet: the app's own autodiscovery does.
        app.loader.import_default_modules()
    app.tasks[name].apply_async(args=args, kwargs=kwargs or {})


def task_enqueue(*, name: str, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> None:
    """Send the task ``name`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(functools.partial(task_send, name=name, args=args, kwargs=kwargs))


def request_search_enqueue(*, request_id: int) -> None:
    task_enqueue(name=REQUEST_SEARCH, args=(request_id,))


def request_fulfil_enqueue(*, request_id: int) -> None:
    task_enqueue(name=REQUEST_FULFIL, args=(request_id,))


def notice_send_enqueue(*, notice_id: int) -> None:
    task_enqueue(name=NOTICE_SEND, args=(notice_id,))


def notice_webhook_enqueue(*, notice_id: int, chase: bool = False) -> None:
    task_enqueue(name=NOTICE_WEBHOOK, args=(notice_id,), kwargs={"chase": chase})


def retention_enqueue() -> None:
    # Sent at once: the job runs outside a transaction and its chunk is already committed.
    task_send(name=RETENTION)
