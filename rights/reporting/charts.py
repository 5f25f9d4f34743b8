"""The Summary's charts: requests received per month by kind, the backlog (confirmed requests open)
at each month's end, and the median days to answer per month; with the geometry of a stacked bar
chart that the template draws as inline SVG (server-side: no script, nothing fetched).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Count, Q
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext, pgettext

from rights.lifecycle.clock import days_to_answer
from rights.models import DataRequest, RequestKind
from rights.reporting.labels import kind_label

MONTHS = 12


def _month_starts(*, now: datetime, months: int) -> list[datetime]:
    """The first instant of each of the last ``months`` months (local time), oldest first."""
    local = timezone.localtime(now)
    year, month = local.year, local.month
    starts = []
    for _ in range(months):
        starts.append(timezone.make_aware(datetime(year, month, 1)))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def _next_month(start: datetime) -> datetime:
    year, month = (start.year, start.month + 1) if start.month < 12 else (start.year + 1, 1)
    return timezone.make_aware(datetime(year, month, 1))


def volume_by_kind(*, now: datetime | None = None, months: int = MONTHS) -> list[tuple[date, dict[str, int]]]:
    """Requests received per month, per kind (every request, confirmed or not)."""
    starts = _month_starts(now=now or timezone.now(), months=months)
    rows = (
        DataRequest.objects.filter(received_at__gte=starts[0])
        .annotate(month=TruncMonth("received_at"))
        .values("month", "kind")
        .annotate(n=Count("id"))
    )
    counts: dict[tuple[date, str], int] = {}
    for row in rows:
        counts[(timezone.localtime(row["month"]).date(), row["kind"])] = row["n"]
    return [
        (start.date(), {kind: counts.get((start.date(), kind), 0) for kind in RequestKind.values})
        for start in starts
    ]


def backlog_by_month(*, now: datetime | None = None, months: int = MONTHS) -> list[tuple[date, int]]:
    """Confirmed requests still open at each month's end (the current month: now)."""
    now = now or timezone.now()
    points = []
    for start in _month_starts(now=now, months=months):
        end = min(_next_month(start), now)
        open_then = DataRequest.objects.filter(received_at__lt=end, email_verified_at__lt=end).filter(
            Q(closed_at__isnull=True) | Q(closed_at__gte=end)
        )
        points.append((start.date(), open_then.count()))
    return points


def median_days_to_answer(
    *, now: datetime | None = None, months: int = MONTHS
) -> list[tuple[date, float | None]]:
    """The median calendar days from receipt to answer of the requests answered in each month (None: none)."""
    points = []
    for start in _month_starts(now=now or timezone.now(), months=months):
        answered = DataRequest.objects.filter(answered_at__gte=start, answered_at__lt=_next_month(start))
        days = [
            days_to_answer(received_at=r, answered_at=a)
            for r, a in answered.values_list("received_at", "answered_at")
        ]
        points.append((start.date(), round(statistics.median(days), 1) if days else None))
    return points


@dataclass(frozen=True)
class Segment:
    series: int
    value: float
    y: float
    height: float


@dataclass(frozen=True)
class Bar:
    label: str
    x: float
    width: float
    label_x: float
    total: float
    segments: list[Segment]


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_bottom: int
    series: list[str]
    bars: list[Bar]
    ticks: list[tuple[float, float]]  # (value, y)


def bar_chart(
    *, points: list[tuple[date, list[float | None]]], series: list[str], width: int = 720, height: int = 240
) -> BarChart:
    """Stacked bars, one per month; a missing value (None) draws nothing and is labelled as such."""
    left, right, top, bottom = 44, width - 12, 16, height - 40
    totals = [sum(v or 0 for v in values) for _, values in points]
    top_value = max(totals, default=0) or 1
    scale = (bottom - top) / top_value
    slot = (right - left) / max(len(points), 1)
    bar_width = min(40.0, slot * 0.7)
    bars = []
    for index, (month, values) in enumerate(points):
        x = left + index * slot + (slot - bar_width) / 2
        y, segments = float(bottom), []
        for number, value in enumerate(values):
            h = (value or 0) * scale
            y -= h
            segments.append(Segment(series=number, value=value or 0, y=round(y, 1), height=round(h, 1)))
        bars.append(
            Bar(
                label=month.strftime("%Y-%m"),
                x=round(x, 1),
                width=round(bar_width, 1),
                label_x=round(x + bar_width / 2, 1),
                total=round(totals[index], 1),
                segments=segments,
            )
        )
    step = max(1.0, float(-(-top_value // 5)))
    ticks, value = [], 0.0
    while value <= top_value:
        ticks.append((value, round(bottom - value * scale, 1)))
        value += step
    return BarChart(width, height, left, right, bottom, series, bars, ticks)


def summary_charts(*, now: datetime | None = None) -> dict[str, BarChart]:
    """The three charts of the Summary page."""
    now = now or timezone.now()
    kinds = list(RequestKind.values)
    volume = [(m, [float(c[k]) for k in kinds]) for m, c in volume_by_kind(now=now)]
    return {
        # The short names, in the reader's language: the legend has 100 px each.
        "volume": bar_chart(points=volume, series=[kind_label(kind) for kind in kinds]),
        "backlog": bar_chart(
            points=[(m, [float(n)]) for m, n in backlog_by_month(now=now)],
            series=[pgettext("not answered yet", "open")],
        ),
        "median": bar_chart(
            points=[(m, [d]) for m, d in median_days_to_answer(now=now)], series=[gettext("median days")]
        ),
    }
