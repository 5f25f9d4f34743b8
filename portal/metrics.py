"""``/metrics``: Prometheus figures read from the database and the broker at scrape time.

Read at scrape time, not counted in process memory, so that every gunicorn worker and the Celery
worker (another container) agree, and a restart loses nothing. Nothing reads the collection; the
counts are one GROUP BY over the requests and one MIN over the unacknowledged notices, and the
durations read only the newest METRICS_RECENT_EVENTS audit rows (by primary key) and the requests
they name, whatever the length of the trail.

Not public: a scraper sends ``Authorization: Bearer <METRICS_TOKEN>``, or a staff member is logged
in; the Caddyfile also answers 404 for /metrics from outside.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Min
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from rights.lifecycle.clock import requests_overdue
from rights.models import AuditEvent, DataRequest, RecipientNotice, RequestKind, RequestStatus

logger = logging.getLogger(__name__)

QUANTILES = (0.5, 0.9, 0.99, 1.0)


def _quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted ``values`` (q=1: the largest)."""
    rank = max(1, min(len(values), int(-(-q * len(values) // 1))))
    return values[rank - 1]


def durations_search(*, recent: int) -> list[float]:
    """Seconds from SEARCHING to the search's end, for the searches among the newest ``recent`` rows."""
    newest = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    window = AuditEvent.objects.filter(id__gt=newest - recent)
    ended = dict(
        window.filter(from_status=RequestStatus.SEARCHING)
        .order_by("id")
        .values_list("request_id", "created_at")
    )  # the latest end of each request
    started = dict(
        window.filter(to_status=RequestStatus.SEARCHING, request_id__in=list(ended))
        .order_by("id")
        .values_list("request_id", "created_at")
    )  # the latest start of each request, the one its end closes
    return sorted(
        (ended[r] - started[r]).total_seconds() for r in ended if r in started and ended[r] >= started[r]
    )


def durations_erasure(*, recent: int) -> list[float]:
    """Seconds from approval (first FULFILLING) to the answer, for erasures answered among the
    newest ``recent`` rows."""
    newest = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    answered = dict(
        AuditEvent.objects.filter(
            id__gt=newest - recent,
            to_status=RequestStatus.ANSWERED,
            request__kind__in=[RequestKind.ERASURE, RequestKind.OBJECTION],
        ).values_list("request_id", "created_at")
    )
    started = dict(
        AuditEvent.objects.filter(request_id__in=list(answered), to_status=RequestStatus.FULFILLING)
        .values("request_id")
        .annotate(first=Min("created_at"))
        .values_list("request_id", "first")
    )
    return sorted(
        (answered[r] - started[r]).total_seconds()
        for r in answered
        if r in started and answered[r] >= started[r]
    )


def _duration_family(name: str, doc: str, values: list[float]) -> Iterator[GaugeMetricFamily]:
    family = GaugeMetricFamily(name, doc + " (quantiles over the recent ones)", labels=["quantile"])
    for q in QUANTILES if values else ():
        family.add_metric([str(q)], _quantile(values, q))
    yield family
    yield GaugeMetricFamily(f"{name}_sample", "how many recent ones the quantiles cover", value=len(values))


def _oldest_unacknowledged(now: datetime) -> float:
    oldest = RecipientNotice.objects.filter(acknowledged_at__isnull=True, sent_at__isnull=False).aggregate(
        oldest=Min("sent_at")
    )["oldest"]
    return (now - oldest).total_seconds() if oldest else 0.0


def _queue_depth() -> int:
    from portal.celery import app

    with app.connection_for_read() as broker:
        broker.ensure_connection(max_retries=1, timeout=5)
        queue = settings.CELERY_TASK_DEFAULT_QUEUE
        return broker.default_channel.queue_declare(
            queue=queue, durable=True, auto_delete=False
        ).message_count


def counts_total(counts: dict[tuple[str, str], int], status: str) -> int:
    return sum(n for (_, s), n in counts.items() if s == status)


class PortalCollector(Collector):
    """Every figure, read fresh on each scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        by_status = GaugeMetricFamily(
            "facerights_requests", "rights requests by kind and status", labels=["kind", "status"]
        )
        counts = {(k, s): 0 for k in RequestKind.values for s in RequestStatus.values}
        for row in DataRequest.objects.values("kind", "status").annotate(n=Count("id")).order_by():
            counts[(row["kind"], row["status"])] = row["n"]
        for (kind, status), n in sorted(counts.items()):
            by_status.add_metric([kind, status], n)
        yield by_status
        yield GaugeMetricFamily(
            "facerights_requests_overdue",
            "confirmed open requests past their due date in force (the one overdue rule)",
            value=requests_overdue(now=now).count(),
        )
        yield GaugeMetricFamily(
            "facerights_requests_held",
            "requests held for staff (an answer failed a check, or stuck too often)",
            value=counts_total(counts, RequestStatus.HELD),
        )
        yield GaugeMetricFamily(
            "facerights_oldest_unacknowledged_notice_age_seconds",
            "age of the oldest erasure notice sent to a recipient and not acknowledged (0: none)",
            value=_oldest_unacknowledged(now),
        )
        broker_up = GaugeMetricFamily("facerights_broker_up", "1 when the broker answered this scrape")
        try:
            depth = _queue_depth()
        except Exception as exc:
            logger.warning("metrics: broker unreachable (%s)", type(exc).__name__)
            broker_up.add_metric([], 0)
        else:
            broker_up.add_metric([], 1)
            yield GaugeMetricFamily(
                "facerights_queue_depth", "tasks waiting in the default queue", value=depth
            )
        yield broker_up
        recent = settings.METRICS_RECENT_EVENTS
        yield from _duration_family(
            "facerights_search_duration_seconds", "search time per request", durations_search(recent=recent)
        )
        yield from _duration_family(
            "facerights_erasure_duration_seconds",
            "erasure time per request, approval to answer",
            durations_erasure(recent=recent),
        )


def metrics_allowed(*, request: HttpRequest) -> bool:
    """A staff login, or the METRICS_TOKEN bearer token (compared in constant time)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if not token or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header.removeprefix("Bearer ").encode(), token.encode())


def metrics_render() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PortalCollector())
    return generate_latest(registry)


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request=request):
        return HttpResponse(
            "Metrics need a staff login or 'Authorization: Bearer <METRICS_TOKEN>'.\n",
            status=403,
            content_type="text/plain",
        )
    return HttpResponse(metrics_render(), content_type=CONTENT_TYPE_LATEST)
