"""The compliance report: each figure checked against the seeded history, in JSON, CSV and HTML,
through the `compliance_report` command as a regulator's request would be answered."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime

import pytest
import time_machine
from django.core.management import CommandError, call_command

from rights.models import AuditEvent, DataRequest
from rights.reporting.compliance import ReportError, compliance_report_build, compliance_report_render
from tests.rights.staff_helpers import NOW, REFUSAL_REASON, SEEDED_TOTALS, local, seed_history

pytestmark = pytest.mark.django_db

YEAR = ["--from", "2024-01-01", "--to", "2024-12-31"]


@pytest.fixture
def seeded() -> dict[str, DataRequest]:
    return seed_history()


def run(*args: str) -> str:
    out = io.StringIO()
    with time_machine.travel(local(*NOW), tick=False):
        call_command("compliance_report", *args, stdout=out)
    return out.getvalue()


def test_json_report_totals_one_by_one(seeded) -> None:
    report = json.loads(run(*YEAR, "--format", "json"))
    assert report["period"] == {"from": "2024-01-01", "to": "2024-12-31"}
    for name, value in SEEDED_TOTALS.items():
        assert report["totals"][name] == value, name
    assert report["totals"] == SEEDED_TOTALS
    lists = report["lists"]
    assert lists["answered_late"] == [seeded["late"].id]
    assert lists["overdue_now"] == [seeded["overdue"].id]
    assert lists["answered_after_followup"] == [seeded["followed_up"].id]
    assert lists["held_access"] == [seeded["held"].id]
    assert lists["erasure_verification_failed"] == [seeded["erasure_failed"].id]
    assert lists["extended"] == [seeded["extended"].id]
    assert lists["searches_not_whole_collection"] == [seeded["search_incomplete"].id]
    [refusal] = report["refusals"]
    assert (refusal["request_id"], refusal["reason"]) == (seeded["refused"].id, REFUSAL_REASON)
    [repeated] = report["repeated"]
    assert (repeated["request_id"], repeated["earlier_ids"], repeated["answer_kinds"]) == (
        seeded["repeated"].id,
        [seeded["on_time"].id],
        ["access_report"],
    )
    assert [(m["month"], m["in_time"], m["late"]) for m in report["monthly"]] == [
        ("2024-03-01", 1, 0),
        ("2024-04-01", 1, 1),
        ("2024-05-01", 2, 0),
        ("2024-06-01", 1, 0),
    ]


def test_json_report_timeline_of_each_request(seeded) -> None:
    report = json.loads(run(*YEAR, "--format", "json"))
    lines = {line["request_id"]: line for line in report["requests"]}
    assert len(lines) == 12  # the ten requests and the two never confirmed

    late = lines[seeded["late"].id]
    assert late["received_at"] == "2024-03-05T10:00:00+01:00"
    assert late["confirmed_at"] == "2024-03-05T10:00:00+01:00"
    assert late["due_at"] == "2024-04-05T23:59:59+02:00"
    assert late["answered_at"] == "2024-04-10T10:00:00+02:00"
    assert (late["answer_kind"], late["days_taken"], late["in_time"], late["flags"]) == (
        "erasure_certificate",
        36,
        False,
        ["answered_late"],
    )

    extended = lines[seeded["extended"].id]
    assert extended["extended_until"] == "2024-05-01T23:59:59+02:00"  # 1 March + 2 months
    assert extended["extension_reason"] == "Many requests at once."
    assert extended["extension_notified_at"] == "2024-02-20T10:00:00+01:00"
    assert (extended["days_taken"], extended["in_time"], extended["flags"]) == (74, True, ["extended"])

    refused = lines[seeded["refused"].id]
    assert (refused["status"], refused["answer_kind"], refused["days_taken"], refused["flags"]) == (
        "refused",
        "refusal",
        9,
        ["refused"],
    )

    overdue = lines[seeded["overdue"].id]
    assert (overdue["answered_at"], overdue["days_taken"], overdue["in_time"], overdue["flags"]) == (
        None,
        None,
        None,
        ["overdue"],
    )
    on_time = lines[seeded["on_time"].id]
    assert (on_time["days_taken"], on_time["in_time"], on_time["flags"]) == (19, True, [])
    assert lines[seeded["repeated"].id]["earlier_requests"] == [seeded["on_time"].id]
    assert lines[seeded["unconfirmed_old"].id]["flags"] == ["unconfirmed"]


def test_csv_report_lines_and_totals(seeded) -> None:
    sections = run(*YEAR, "--format", "csv").split("\n\n")
    requests, totals, refusals, repeated, searches, monthly = (
        list(csv.reader(io.StringIO(s))) for s in sections
    )
    assert requests[0][:4] == ["request_id", "kind", "status", "received_at"]
    rows = {int(row[0]): dict(zip(requests[0], row, strict=True)) for row in requests[1:]}
    assert len(rows) == 12
    late = rows[seeded["late"].id]
    assert (late["answer_kind"], late["days_taken"], late["in_time"], late["flags"]) == (
        "erasure_certificate",
        "36",
        "no",
        "answered_late",
    )
    assert rows[seeded["overdue"].id]["in_time"] == ""
    assert rows[seeded["repeated"].id]["earlier_requests"] == str(seeded["on_time"].id)

    assert totals[0] == ["figure", "value", "request_ids"]
    by_name = {row[0]: row for row in totals[1:]}
    for name, value in SEEDED_TOTALS.items():
        assert int(by_name[name][1]) == value, name
    assert by_name["answered_late"][2] == str(seeded["late"].id)
    assert by_name["refused"][2] == str(seeded["refused"].id)
    assert by_name["searches_not_whole_collection"][2] == str(seeded["search_incomplete"].id)

    assert refusals[1] == [str(seeded["refused"].id), "2024-05-10T10:00:00+02:00", REFUSAL_REASON]
    # Before the fix the CSV had neither section, and the "repeated" figure's row had no ids.
    assert by_name["repeated"][2] == str(seeded["repeated"].id)
    assert by_name["searches"][2] == f"{seeded['on_time'].id};{seeded['search_incomplete'].id}"
    assert repeated == [
        ["request_id", "kind", "status", "earlier_ids", "answer_kinds", "answered_at", "in_time"],
        [
            str(seeded["repeated"].id),
            "access",
            "answered",
            str(seeded["on_time"].id),
            "access_report",
            "2024-06-05T10:00:00+02:00",
            "yes",
        ],
    ]
    assert searches[0][:3] == ["request_id", "kind", "searched_at"]
    spans = {int(row[0]): dict(zip(searches[0], row, strict=True)) for row in searches[1:]}
    assert sorted(spans) == sorted([seeded["on_time"].id, seeded["search_incomplete"].id])
    incomplete = spans[seeded["search_incomplete"].id]
    assert (incomplete["searched_from"], incomplete["searched_to"], incomplete["covers_whole"]) == (
        "2021-01-01T00:00:00+01:00",
        "2023-12-31T00:00:00+01:00",
        "no",
    )
    assert incomplete["problem"].startswith("images collected from 2019-06-01 were not covered")
    assert spans[seeded["on_time"].id]["covers_whole"] == "yes"
    assert monthly[1:] == [
        ["2024-03", "1", "0"],
        ["2024-04", "1", "1"],
        ["2024-05", "2", "0"],
        ["2024-06", "1", "0"],
    ]


def _figure(html: str, key: str) -> int:
    match = re.search(rf'<tr data-figure="{key}"[^>]*>.*?<td class="count">(\d+)</td>', html, re.S)
    assert match, key
    return int(match.group(1))


def test_html_report_figures_and_chart(seeded, tmp_path) -> None:
    output = tmp_path / "report.html"
    run(*YEAR, "--format", "html", "--output", str(output))
    html = output.read_text()
    assert html.startswith("<!DOCTYPE html>")
    for key in [
        "answered_late",
        "overdue_now",
        "answered_after_followup",
        "held_access",
        "erasure_verification_failed",
        "searches_not_whole_collection",
        "refused",
        "repeated",
        "extended",
    ]:
        assert _figure(html, key) == SEEDED_TOTALS[key], key
    assert _figure(html, "requests") == 10
    assert _figure(html, "answered_in_time") == 5
    assert REFUSAL_REASON in html
    assert "images collected from 2019-06-01 were not covered" in html
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="answered-chart"' in html
    assert re.search(r'<g class="month" data-month="2024-04" data-in-time="1" data-late="1">', html)
    for request in seeded.values():
        assert f'<tr data-request="{request.id}">' in html


def test_html_report_escapes_what_staff_typed(seeded) -> None:
    DataRequest.objects.filter(id=seeded["extended"].id).update(extension_reason="<script>alert(1)</script>")
    with time_machine.travel(local(*NOW), tick=False):
        report = compliance_report_build(
            date_from=local(2024, 1, 1).date(), date_to=local(2024, 12, 31).date()
        )
    html = compliance_report_render(report=report, format="html")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_a_period_holds_only_the_requests_received_in_it(seeded) -> None:
    report = json.loads(run("--from", "2024-04-01", "--to", "2024-05-31", "--format", "json"))
    assert sorted(line["request_id"] for line in report["requests"]) == sorted(
        seeded[name].id for name in ["overdue", "followed_up", "refused", "repeated", "search_incomplete"]
    )
    assert report["totals"]["requests"] == 5
    assert report["totals"]["answered_late"] == 0


def test_each_export_is_in_the_audit_trail(seeded) -> None:
    run(*YEAR, "--format", "csv")
    event = AuditEvent.objects.get(action="compliance_report_exported")
    assert (event.actor, event.detail["format"], event.detail["via"], event.detail["requests"]) == (
        "system",
        "csv",
        "command",
        12,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2024-13-01", "--to", "2024-12-31"], "--from must be a date written YYYY-MM-DD"),
        (["--from", "2024-01-01", "--to", "yesterday"], "--to must be a date written YYYY-MM-DD"),
        (["--from", "2024-06-01", "--to", "2024-05-01"], "The period starts (2024-06-01) after it ends"),
    ],
)
def test_bad_periods_are_refused_clearly_and_nothing_is_written(args, message, tmp_path) -> None:
    output = tmp_path / "report.json"
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("compliance_report", *args, "--output", str(output))
    assert not output.exists()
    assert not AuditEvent.objects.filter(action="compliance_report_exported").exists()


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(CommandError, match="invalid choice: 'pdf'"):
        call_command("compliance_report", *YEAR, "--format", "pdf")
    report = compliance_report_build(date_from=local(2024, 1, 1).date(), date_to=local(2024, 1, 2).date())
    with pytest.raises(ReportError, match="Unknown format 'xml'"):
        compliance_report_render(report=report, format="xml")


def test_the_sweep_and_the_report_agree_on_the_same_seeded_requests(seeded, settings) -> None:
    """Issue 4: the sweep on seeded requests (reminders, escalation, overdue counts) and the report's
    figures on the same data, checked one by one, at two moments."""
    from rights.lifecycle.clock import days_left
    from rights.models import RequestStatus
    from rights.upkeep.deadlines import deadlines_sweep
    from tests.rights.staff_helpers import make_request

    settings.DUE_SOON_REMINDER_DAYS = [7, 2]
    due_soon = make_request(received_at=local(2024, 5, 20, 10), status=RequestStatus.QUEUED)  # due 20 June
    year = ["--from", "2024-01-01", "--to", "2024-12-31", "--format", "json"]

    def events(action: str, after: int) -> set[int]:
        rows = AuditEvent.objects.filter(action=action, id__gt=after)
        return set(rows.values_list("request_id", flat=True))

    expected = {
        # moment: (overdue now, escalated by this sweep, reminded by this sweep)
        local(*NOW): ({"overdue"}, {"overdue"}, {"due_soon"}),
        # 2 July 00:01: due 20 June, 25 June and 1 July have passed too; erasure_failed is due 5 July.
        local(2024, 7, 2, 0, 1): (
            {"overdue", "due_soon", "search_incomplete", "held"},
            {"due_soon", "search_incomplete", "held"},
            {"erasure_failed"},
        ),
    }
    named = {**seeded, "due_soon": due_soon}
    for moment, (overdue, escalated, reminded) in expected.items():
        last_event = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
        with time_machine.travel(moment, tick=False):
            sweep = deadlines_sweep()
            out = io.StringIO()
            call_command("compliance_report", *year, stdout=out)
        report = json.loads(out.getvalue())
        lines = report["requests"]
        overdue_lines = sorted(line["request_id"] for line in lines if "overdue" in line["flags"])
        # Overdue: the sweep's count, the report's total, its list and its per-request flags.
        assert sorted(named[name].id for name in overdue) == overdue_lines, moment
        assert sweep.overdue == report["totals"]["overdue_now"] == len(overdue_lines), moment
        assert sorted(report["lists"]["overdue_now"]) == overdue_lines, moment
        # Escalated by this sweep: the report's overdue requests not escalated before.
        assert events("overdue_escalated", last_event) == {named[name].id for name in escalated}, moment
        assert sweep.escalated == len(escalated), moment
        # Every overdue request of the report has been escalated, once.
        assert set(overdue_lines) == events("overdue_escalated", 0), moment
        # Reminded by this sweep: the report's open, confirmed, not overdue requests due within 7 days.
        due_within_7 = {
            line["request_id"]
            for line in lines
            if line["status"] not in ("answered", "refused", "unconfirmed")
            and "overdue" not in line["flags"]
            and days_left(due_at=datetime.fromisoformat(line["extended_until"] or line["due_at"]), now=moment)
            <= 7
        }
        assert events("due_soon_reminder", last_event) == due_within_7 == {named[n].id for n in reminded}
        assert sweep.reminded == len(reminded), moment
