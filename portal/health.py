"""``/health/``: is every part the portal needs working? 200 when all are, 503 naming the failing ones.

Checks: the database answers, the broker accepts a connection, the media folder takes a write,
the face index opens, and beat is alive: the last deadline sweep (a daily beat job) is younger than
HEALTH_SWEEP_MAX_AGE_HOURS. No check reads the collection (the index is opened, not scanned). The
answer holds ok flags, ages and error types only, never paths, hosts or messages: it is public.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


def health_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {}


def health_broker() -> dict[str, Any]:
    from portal.celery import app

    with app.connection_for_read() as broker:
        broker.ensure_connection(max_retries=1, timeout=5)
        queue = settings.CELERY_TASK_DEFAULT_QUEUE
        waiting = broker.default_channel.queue_declare(
            queue=queue, durable=True, auto_delete=False
        ).message_count
    return {"queue_depth": waiting}


def health_storage() -> dict[str, Any]:
    media = Path(settings.MEDIA_ROOT)
    media.mkdir(parents=True, exist_ok=True)
    # A real write and delete: a read-only or full volume fails here, not in the middle of an upload.
    with tempfile.NamedTemporaryFile(dir=media, prefix=".health-") as probe:
        probe.write(b"ok")
        probe.flush()
    return {}


def health_index() -> dict[str, Any]:
    from matching.services.index import index_load

    version, _ = index_load()
    return {"version": int(version)}


def _portal_installed_at() -> datetime | None:
    return MigrationRecorder.Migration.objects.order_by("applied").values_list("applied", flat=True).first()


def health_beat(*, now: datetime | None = None) -> dict[str, Any]:
    """Beat is alive when the daily deadline sweep ran within HEALTH_SWEEP_MAX_AGE_HOURS.

    A new portal has not swept yet: it counts as alive for that long after its first migration.
    """
    from rights.upkeep.deadlines import deadlines_last_sweep

    now = now or timezone.now()
    limit = timedelta(hours=settings.HEALTH_SWEEP_MAX_AGE_HOURS)
    last = deadlines_last_sweep()
    if last is None:
        installed = _portal_installed_at()
        if installed is None or now - installed > limit:
            raise BeatNotRunning("no deadline sweep recorded")
        return {"last_sweep_age_s": None}
    age = now - last
    if age > limit:
        raise BeatNotRunning(f"last deadline sweep {int(age.total_seconds() // 3600)} h ago")
    return {"last_sweep_age_s": int(age.total_seconds())}


class BeatNotRunning(RuntimeError):
    safe_for_health = True  # its message holds an age only


CHECKS: dict[str, Callable[[], dict[str, Any]]] = {
    "database": health_database,
    "broker": health_broker,
    "storage": health_storage,
    "index": health_index,
    "beat": health_beat,
}


def health_report() -> dict[str, Any]:
    """Every check's result; ``ok`` only when all passed. A failing check never stops the others."""
    checks: dict[str, dict[str, Any]] = {}
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            result = {"ok": True, **check()}
        except Exception as exc:
            # The type only (and a fixed sentence for our own): driver messages name hosts and paths.
            error = str(exc) if getattr(exc, "safe_for_health", False) else type(exc).__name__
            logger.warning("health: %s failing (%s)", name, type(exc).__name__)
            result = {"ok": False, "error": error}
        result["ms"] = round((time.monotonic() - started) * 1000, 1)
        checks[name] = result
    return {"ok": all(c["ok"] for c in checks.values()), "checks": checks}


@never_cache
@require_GET
def health_view(request: HttpRequest) -> JsonResponse:
    report = health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)
