"""The compliance report for a regulator: each request's timeline and the CNIL figures.

One service builds it (``compliance_report_build``), one renders it as JSON, CSV or HTML
(``compliance_report_render``), and ``compliance_report_export`` does both and records the export
in the audit trail; the ``compliance_report`` command and the dashboard's download both call it.
The totals are ``rights.reporting.cnil.cnil_figures`` over the same period, never recomputed here.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext

from rights.lifecycle.audit import audit_record
from rights.lifecycle.clock import days_to_answer
from rights.models import AuditAction
from rights.reporting.cnil import (
    CnilFigures,
    cnil_figures,
    request_earlier_ids,
    request_in_time,
    requests_for_figures,
)
from rights.reporting.labels import answer_label, flag_label, kind_label, status_label

FORMATS = ("json", "csv", "html")
CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}
LINE_COLUMNS = [
    "request_id",
    "kind",
    "status",
    "received_at",
    "channel",
    "confirmed_at",
    "due_at",
    "extended_until",
    "extension_reason",
    "extension_notified_at",
    "answered_at",
    "answer_kind",
    "days_taken",
    "in_time",
    "followups",
    "earlier_requests",
    "flags",
]

# The CSV's sections after the requests and the totals: each repeated request and how it was
# answered, and each search's span and face counts against the collection's (the CNIL's findings).
REPEATED_COLUMNS = ["request_id", "kind", "status", "earlier_ids", "answer_kinds", "answered_at", "in_time"]
SEARCH_COLUMNS = [
    "request_id",
    "kind",
    "searched_at",
    "searched_from",
    "searched_to",
    "searched_size",
    "index_faces",
    "collection_faces",
    "collection_from",
    "collection_to",
    "covers_whole",
    "problem",
]


class ReportError(ValueError):
    """A report that cannot be made as asked (bad period or format); the message says why."""


@dataclass(frozen=True)
class ReportLine:
    request_id: int
    kind: str
    channel: str  # web, email, post, phone, agent, api: every channel follows the same clock
    status: str
    received_at: datetime
    confirmed_at: datetime | None
    due_at: datetime
    extended_until: datetime | None
    extension_reason: str
    extension_notified_at: datetime | None
    answered_at: datetime | None
    answer_kind: str
    days_taken: int | None  # calendar days from receipt to answer, in local time
    in_time: bool | None  # None while open
    followups: int
    earlier_requests: list[int]
    flags: list[str]

    # The HTML report's words for the codes (the JSON and CSV keep the codes).
    @property
    def kind_label(self) -> str:
        return kind_label(self.kind)

    @property
    def status_label(self) -> str:
        return status_label(self.status)

    @property
    def answer_label(self) -> str:
        return answer_label(self.answer_kind) if self.answer_kind else ""

    @property
    def flag_labels(self) -> list[str]:
        return [flag_label(flag) for flag in self.flags]


@dataclass(frozen=True)
class ComplianceReport:
    date_from: date
    date_to: date
    generated_at: datetime
    lines: list[ReportLine]
    figures: CnilFigures


@dataclass(frozen=True)
class ExportedReport:
    content: bytes
    content_type: str
    filename: str


def compliance_report_build(
    *, date_from: date, date_to: date, now: datetime | None = None
) -> ComplianceReport:
    """Every request received from ``date_from`` to ``date_to`` (inclusive, local days), and the totals."""
    if date_from > date_to:
        raise ReportError(
            gettext("The period starts (%(start)s) after it ends (%(end)s).")
            % {"start": date_from, "end": date_to}
        )
    now = now or timezone.now()
    figures = cnil_figures(received_from=date_from, received_to=date_to, now=now)
    requests = requests_for_figures(received_from=date_from, received_to=date_to)
    lines = []
    for request in requests:
        answers = sorted(request.answers.all(), key=lambda a: (a.created_at, a.id))
        days_taken = (
            days_to_answer(received_at=request.received_at, answered_at=request.answered_at)
            if request.answered_at is not None
            else None
        )
        lines.append(
            ReportLine(
                request_id=request.id,
                kind=request.kind,
                channel=request.channel,
                status=request.status,
                received_at=request.received_at,
                confirmed_at=request.email_verified_at,
                due_at=request.due_at,
                extended_until=request.extended_until,
                extension_reason=request.extension_reason,
                extension_notified_at=request.extension_notified_at,
                answered_at=request.answered_at,
                answer_kind=answers[-1].kind if answers else "",
                days_taken=days_taken,
                in_time=request_in_time(request=request),
                followups=request.followups,
                earlier_requests=request_earlier_ids(request=request),
                flags=list(figures.flags.get(request.id, [])),
            )
        )
    return ComplianceReport(
        date_from=date_from, date_to=date_to, generated_at=now, lines=lines, figures=figures
    )


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _plain(value: Any) -> Any:
    """Dataclass dicts with datetimes as local ISO strings, for JSON."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return _iso(value)


def compliance_report_data(*, report: ComplianceReport) -> dict[str, Any]:
    figures = report.figures
    return {
        "period": {"from": report.date_from.isoformat(), "to": report.date_to.isoformat()},
        "generated_at": _iso(report.generated_at),
        "totals": figures.totals(),
        "by_kind": figures.by_kind,
        "lists": {
            "answered_late": figures.answered_late,
            "overdue_now": figures.overdue_now,
            "answered_after_followup": figures.answered_after_followup,
            "followed_up_open": figures.followed_up_open,
            "held_access": figures.held_access,
            "erasure_verification_failed": figures.erasure_verification_failed,
            "held_other": figures.held_other,
            "expired": figures.expired,
            "extended": figures.extended,
            "searches_not_whole_collection": figures.searches_not_whole,
        },
        "refusals": _plain([asdict(r) for r in figures.refusals]),
        "repeated": _plain([asdict(r) for r in figures.repeated]),
        "searches": _plain([asdict(s) for s in figures.searches]),
        "collection": {"from": _iso(figures.collection_from), "to": _iso(figures.collection_to)},
        "monthly": _plain([asdict(m) for m in figures.monthly]),
        "requests": _plain([asdict(line) for line in report.lines]),
    }


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ";".join(str(item) for item in value)
    return _iso(value)


def compliance_report_render(*, report: ComplianceReport, format: str) -> str:
    """The report as JSON, CSV or a standalone HTML page.

    The CSV's sections, separated by a blank line: the requests, the figures (with their request
    ids), the refusals, the repeated requests, the searches, and the months.
    """
    if format == "json":
        return json.dumps(compliance_report_data(report=report), indent=2, ensure_ascii=False) + "\n"
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(LINE_COLUMNS)
        for line in report.lines:
            row = asdict(line)
            writer.writerow([_csv_cell(row[column]) for column in LINE_COLUMNS])
        writer.writerow([])
        writer.writerow(["figure", "value", "request_ids"])
        figures = report.figures
        ids = {
            **compliance_report_data(report=report)["lists"],
            "requests": figures.request_ids,
            "refused": [r.request_id for r in figures.refusals],
            "repeated": [r.request_id for r in figures.repeated],
            "searches": [s.request_id for s in figures.searches],
        }
        for name, value in figures.totals().items():
            writer.writerow([name, value, _csv_cell(ids.get(name, []))])
        writer.writerow([])
        writer.writerow(["refused_request_id", "refused_at", "reason"])
        for refusal in figures.refusals:
            writer.writerow([refusal.request_id, _csv_cell(refusal.refused_at), refusal.reason])
        writer.writerow([])
        writer.writerow(REPEATED_COLUMNS)
        for repeated in figures.repeated:
            row = asdict(repeated)
            writer.writerow([_csv_cell(row[column]) for column in REPEATED_COLUMNS])
        writer.writerow([])
        writer.writerow(SEARCH_COLUMNS)
        for span in figures.searches:
            row = asdict(span)
            writer.writerow([_csv_cell(row[column]) for column in SEARCH_COLUMNS])
        writer.writerow([])
        writer.writerow(["month", "answered_in_time", "answered_late"])
        for month in report.figures.monthly:
            writer.writerow([month.month.strftime("%Y-%m"), month.in_time, month.late])
        return out.getvalue()
    if format == "html":
        return render_to_string(
            "admin/rights/compliance_report.html",
            {
                "report": report,
                "figures": report.figures,
                "totals": report.figures.totals(),
                "chart": answered_chart(figures=report.figures),
            },
        )
    raise ReportError(format_unknown(format))


def compliance_report_export(
    *, date_from: date, date_to: date, format: str, actor: str, via: str = "dashboard"
) -> ExportedReport:
    """Build and render the report, and record who exported which period in the audit trail."""
    if format not in FORMATS:
        raise ReportError(format_unknown(format))
    report = compliance_report_build(date_from=date_from, date_to=date_to)
    content = compliance_report_render(report=report, format=format).encode()
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.COMPLIANCE_REPORT_EXPORTED,
            detail={
                "from": date_from.isoformat(),
                "to": date_to.isoformat(),
                "format": format,
                "via": via,
                "requests": len(report.lines),
            },
        )
    return ExportedReport(
        content=content,
        content_type=CONTENT_TYPES[format],
        filename=f"compliance-report_{date_from.isoformat()}_{date_to.isoformat()}.{format}",
    )


def format_unknown(format: str) -> str:
    return gettext("Unknown format %(format)s: use one of %(formats)s.") % {
        "format": repr(format),
        "formats": ", ".join(FORMATS),
    }


def report_date_parse(*, value: str, name: str) -> date:
    """``name``: how the caller's form names the field (the dashboard's words, the command's option)."""
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        raise ReportError(
            gettext("%(name)s must be a date written YYYY-MM-DD, not %(value)s.")
            % {"name": name, "value": repr(value)}
        ) from None


@dataclass(frozen=True)
class ChartBar:
    label: str  # "2024-03"
    in_time: int
    late: int
    x: float
    width: float
    in_time_y: float
    in_time_height: float
    late_y: float
    late_height: float
    label_x: float


@dataclass(frozen=True)
class AnsweredChart:
    width: int
    height: int
    plot_top: int
    plot_bottom: int
    plot_left: int
    plot_right: int
    max_value: int
    ticks: list[tuple[int, float]]  # (value, y)
    bars: list[ChartBar]


def answered_chart(*, figures: CnilFigures, width: int = 720, height: int = 260) -> AnsweredChart:
    """Geometry of a stacked bar chart of requests answered in time and late per month.

    Rendered server-side as inline SVG by the templates: no script, nothing fetched.
    """
    left, right, top, bottom = 44, width - 12, 16, height - 40
    months = figures.monthly
    max_value = max((m.in_time + m.late for m in months), default=0) or 1
    scale = (bottom - top) / max_value
    slot = (right - left) / max(len(months), 1)
    bar_width = min(48.0, slot * 0.7)
    bars = []
    for index, month in enumerate(months):
        x = left + index * slot + (slot - bar_width) / 2
        in_time_height = month.in_time * scale
        late_height = month.late * scale
        bars.append(
            ChartBar(
                label=month.month.strftime("%Y-%m"),
                in_time=month.in_time,
                late=month.late,
                x=round(x, 1),
                width=round(bar_width, 1),
                in_time_y=round(bottom - in_time_height, 1),
                in_time_height=round(in_time_height, 1),
                late_y=round(bottom - in_time_height - late_height, 1),
                late_height=round(late_height, 1),
                label_x=round(x + bar_width / 2, 1),
            )
        )
    step = max(1, -(-max_value // 5))
    ticks = [(value, round(bottom - value * scale, 1)) for value in range(0, max_value + 1, step)]
    return AnsweredChart(
        width=width,
        height=height,
        plot_top=top,
        plot_bottom=bottom,
        plot_left=left,
        plot_right=right,
        max_value=max_value,
        ticks=ticks,
        bars=bars,
    )
