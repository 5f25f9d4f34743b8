"""The statutory clock: one calendar month from receipt, one extension of up to two more months,
and the optional pause while the organisation waits for the person. All with a frozen clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from rights.lifecycle import clock
from rights.lifecycle.transitions import request_transition
from rights.models import AuditEvent, DataRequest, RequestStatus
from rights.staff.actions import ActionRefused, request_extend
from tests.rights.staff_helpers import PRIVACY_OFFICER, break_the_mail_server, local, make_request, staff_user

# Received on the last day of every month of 2023 (not a leap year) -> due date.
MONTH_ENDS_2023 = [
    (date(2023, 1, 31), date(2023, 2, 28)),
    (date(2023, 2, 28), date(2023, 3, 28)),
    (date(2023, 3, 31), date(2023, 4, 30)),
    (date(2023, 4, 30), date(2023, 5, 30)),
    (date(2023, 5, 31), date(2023, 6, 30)),
    (date(2023, 6, 30), date(2023, 7, 30)),
    (date(2023, 7, 31), date(2023, 8, 31)),
    (date(2023, 8, 31), date(2023, 9, 30)),
    (date(2023, 9, 30), date(2023, 10, 30)),
    (date(2023, 10, 31), date(2023, 11, 30)),
    (date(2023, 11, 30), date(2023, 12, 30)),
    (date(2023, 12, 31), date(2024, 1, 31)),
]
LEAP_YEARS_AND_SHORT_MONTHS = [
    (date(2024, 1, 31), date(2024, 2, 29)),  # leap year
    (date(2024, 1, 30), date(2024, 2, 29)),
    (date(2024, 1, 29), date(2024, 2, 29)),
    (date(2024, 2, 29), date(2024, 3, 29)),
    (date(2023, 1, 29), date(2023, 2, 28)),
    (date(2023, 1, 28), date(2023, 2, 28)),
    (date(2100, 1, 31), date(2100, 2, 28)),  # divisible by 100: not a leap year
    (date(2000, 1, 31), date(2000, 2, 29)),  # divisible by 400: a leap year
    (date(2024, 3, 30), date(2024, 4, 30)),
    (date(2024, 8, 30), date(2024, 9, 30)),
    (date(2024, 7, 30), date(2024, 8, 30)),
    (date(2024, 5, 1), date(2024, 6, 1)),
]


def _due_when_received_on(day: date, hour: int = 12) -> datetime:
    with time_machine.travel(local(day.year, day.month, day.day, hour, 0), tick=False):
        return clock.due_at_for(received_at=timezone.now())


@pytest.mark.parametrize(("received", "due"), MONTH_ENDS_2023 + LEAP_YEARS_AND_SHORT_MONTHS, ids=str)
def test_due_one_calendar_month_later_at_the_end_of_that_local_day(received: date, due: date) -> None:
    due_at = timezone.localtime(_due_when_received_on(received))
    assert due_at.date() == due
    assert (due_at.hour, due_at.minute, due_at.second) == (23, 59, 59)


def test_receipt_time_of_day_does_not_change_the_due_date() -> None:
    assert _due_when_received_on(date(2023, 3, 31), hour=0) == _due_when_received_on(
        date(2023, 3, 31), hour=23
    )


def test_days_are_counted_in_local_time_not_utc() -> None:
    # 23:30 UTC on 31 January is already 1 February in Paris: due on 1 March, not 29 February.
    received = datetime(2024, 1, 31, 23, 30, tzinfo=UTC)
    assert timezone.localtime(clock.due_at_for(received_at=received)).date() == date(2024, 3, 1)
    # One second before local midnight is still 31 January.
    received = local(2024, 1, 31, 23, 59, 59)
    assert timezone.localtime(clock.due_at_for(received_at=received)).date() == date(2024, 2, 29)


def test_due_date_across_the_spring_dst_change() -> None:
    # Received at 01:30 on 31 March 2024 (CET, +01:00), minutes before clocks went forward.
    received = local(2024, 3, 31, 1, 30)
    assert received.utcoffset() == timedelta(hours=1)
    due_at = timezone.localtime(clock.due_at_for(received_at=received))
    assert due_at.date() == date(2024, 4, 30)
    assert due_at.utcoffset() == timedelta(hours=2)
    assert (due_at.hour, due_at.minute, due_at.second) == (23, 59, 59)


def test_due_date_on_the_autumn_dst_change_day() -> None:
    # Due on 27 October 2024, the 25-hour day: it still ends at 23:59:59 local time (+01:00).
    due_at = timezone.localtime(clock.due_at_for(received_at=local(2024, 9, 27, 9, 0)))
    assert due_at.date() == date(2024, 10, 27)
    assert due_at.utcoffset() == timedelta(hours=1)
    assert (due_at.hour, due_at.minute) == (23, 59)
    # Received in the repeated hour of that day (02:30 CEST = 00:30 UTC): due 27 November.
    received = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    assert timezone.localtime(clock.due_at_for(received_at=received)).date() == date(2024, 11, 27)


def test_days_left_counts_local_calendar_days_across_dst() -> None:
    due_at = clock.due_at_for(received_at=local(2024, 3, 1, 10, 0))  # 1 April 2024, 23:59:59
    assert clock.days_left(due_at=due_at, now=local(2024, 3, 30, 23, 30)) == 2
    assert clock.days_left(due_at=due_at, now=local(2024, 4, 1, 0, 0)) == 0
    assert clock.days_left(due_at=due_at, now=local(2024, 4, 1, 23, 59, 59)) == 0
    assert clock.days_left(due_at=due_at, now=local(2024, 4, 2, 0, 0)) == -1
    with time_machine.travel(local(2024, 3, 25, 8, 0), tick=False):
        assert clock.days_left(due_at=due_at) == 7


def test_overdue_only_after_the_last_second_of_the_due_day() -> None:
    due_at = clock.due_at_for(received_at=local(2023, 1, 31, 12, 0))
    request = DataRequest(status=RequestStatus.QUEUED, due_at=due_at)
    assert not clock.request_overdue(request=request, now=local(2023, 2, 28, 23, 59, 59))
    assert clock.request_overdue(request=request, now=local(2023, 3, 1, 0, 0, 0))
    with time_machine.travel(local(2023, 3, 1, 0, 0, 1), tick=False):
        assert clock.request_overdue(request=request)


@pytest.mark.parametrize(
    ("due", "latest"),
    [
        (date(2023, 2, 28), date(2023, 4, 28)),
        (date(2023, 12, 31), date(2024, 2, 29)),
        (date(2023, 12, 30), date(2024, 2, 29)),
        (date(2024, 12, 31), date(2025, 2, 28)),
        (date(2024, 8, 31), date(2024, 10, 31)),
        (date(2024, 7, 31), date(2024, 9, 30)),
    ],
    ids=str,
)
def test_latest_extension_is_two_further_calendar_months(due: date, latest: date) -> None:
    due_at = clock.end_of_local_day(day=due)
    limit = timezone.localtime(clock.latest_extension_for(due_at=due_at))
    assert limit.date() == latest
    assert clock.extended_due_at(due_at=due_at, months=2) == clock.latest_extension_for(due_at=due_at)
    assert clock.extended_due_at(due_at=due_at, months=1) < limit


@pytest.mark.parametrize("months", [0, 3, -1])
def test_an_extension_is_one_or_two_months(months: int) -> None:
    with pytest.raises(ValueError, match="1 to 2 months"):
        clock.extended_due_at(due_at=clock.end_of_local_day(day=date(2024, 1, 31)), months=months)


def test_reminder_thresholds_reached_once_each_and_none_once_overdue() -> None:
    due_at = clock.end_of_local_day(day=date(2024, 6, 30))
    days = [7, 2]
    assert (
        clock.reminders_due(due_at=due_at, reminder_days=days, already_sent=[], now=local(2024, 6, 22, 9))
        == []
    )
    assert clock.reminders_due(
        due_at=due_at, reminder_days=days, already_sent=[], now=local(2024, 6, 23, 9)
    ) == [7]
    assert (
        clock.reminders_due(due_at=due_at, reminder_days=days, already_sent=[7], now=local(2024, 6, 25, 9))
        == []
    )
    assert clock.reminders_due(
        due_at=due_at, reminder_days=days, already_sent=[7], now=local(2024, 6, 28, 9)
    ) == [2]
    # A missed sweep: both thresholds reached at once.
    assert clock.reminders_due(
        due_at=due_at, reminder_days=days, already_sent=[], now=local(2024, 6, 30, 9)
    ) == [
        7,
        2,
    ]
    assert (
        clock.reminders_due(due_at=due_at, reminder_days=days, already_sent=[], now=local(2024, 7, 1, 0))
        == []
    )


# --- The extension rules ---------------------------------------------------------------------

RECEIVED = (2024, 1, 31, 10, 0)  # due 29 February 2024, 23:59:59; extended at most to 29 April 2024


@pytest.fixture
def officer(db):
    return staff_user(PRIVACY_OFFICER)


@pytest.fixture
def received_request(db) -> DataRequest:
    return make_request(received_at=local(*RECEIVED), status=RequestStatus.REVIEW)


def _unchanged(data_request: DataRequest) -> None:
    fresh = DataRequest.objects.get(id=data_request.id)
    assert (fresh.extended_until, fresh.extension_reason, fresh.extension_notified_at, fresh.due_at) == (
        None,
        "",
        None,
        data_request.due_at,
    )
    assert not AuditEvent.objects.filter(action="extended").exists()


@pytest.mark.django_db
def test_extension_is_recorded_after_the_letter_is_sent(officer, received_request, mailoutbox) -> None:
    with time_machine.travel(local(2024, 2, 10, 15, 0), tick=False):
        extended = request_extend(
            request_id=received_request.id,
            user=officer,
            months=2,
            reason="We received 4,000 requests this week.",
        )
        now = timezone.now()
    assert timezone.localtime(extended.extended_until).date() == date(2024, 4, 29)
    assert extended.extended_until == clock.latest_extension_for(due_at=received_request.due_at)
    assert extended.due_at == received_request.due_at  # the original due date is kept as the record
    assert clock.request_due_in_force(request=extended) == extended.extended_until
    assert (extended.extension_reason, extended.extension_notified_at) == (
        "We received 4,000 requests this week.",
        now,
    )
    [letter] = mailoutbox
    assert letter.to == ["person@example.org"]
    assert "We received 4,000 requests this week." in letter.body
    assert "29 April 2024" in letter.body and "29 February 2024" in letter.body
    assert "supervisory authority" in letter.body and "CNIL" in letter.body and "court" in letter.body
    assert extended.public_token in letter.body  # the status link
    assert "l'Informatique" in letter.body  # plain text: not HTML-escaped
    event = AuditEvent.objects.get(action="extended")
    assert (event.request_id, event.actor, event.reason) == (
        received_request.id,
        "staff:privacy_officer",
        "We received 4,000 requests this week.",
    )
    assert event.detail["months"] == 2


@pytest.mark.django_db
def test_extension_by_one_month(officer, received_request, mailoutbox) -> None:
    with time_machine.travel(local(2024, 2, 29, 23, 0), tick=False):  # the last hour of the due day
        extended = request_extend(
            request_id=received_request.id, user=officer, months=1, reason="Complex request."
        )
    assert timezone.localtime(extended.extended_until).date() == date(2024, 3, 29)


@pytest.mark.django_db
def test_extension_after_the_original_due_date_is_refused(officer, received_request, mailoutbox) -> None:
    with time_machine.travel(local(2024, 3, 1, 0, 0, 1), tick=False), pytest.raises(ActionRefused) as refused:
        request_extend(request_id=received_request.id, user=officer, months=1, reason="Too many requests.")
    assert refused.value.reason_code == "too_late"
    assert "29 February 2024" in refused.value.message
    _unchanged(received_request)
    assert mailoutbox == []


@pytest.mark.django_db
def test_a_second_extension_is_refused(officer, received_request, mailoutbox) -> None:
    with time_machine.travel(local(2024, 2, 5, 9, 0), tick=False):
        first = request_extend(
            request_id=received_request.id, user=officer, months=1, reason="Complex request."
        )
        with pytest.raises(ActionRefused) as refused:
            request_extend(request_id=received_request.id, user=officer, months=1, reason="Still complex.")
    assert refused.value.reason_code == "already_extended"
    fresh = DataRequest.objects.get(id=received_request.id)
    assert (fresh.extended_until, fresh.extension_reason) == (first.extended_until, "Complex request.")
    assert AuditEvent.objects.filter(action="extended").count() == 1
    assert len(mailoutbox) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("reason", ["", "   \n", None])
def test_extension_without_a_reason_is_refused(officer, received_request, mailoutbox, reason) -> None:
    with time_machine.travel(local(2024, 2, 5, 9, 0), tick=False), pytest.raises(ActionRefused) as refused:
        request_extend(request_id=received_request.id, user=officer, months=2, reason=reason)
    assert refused.value.reason_code == "no_reason"
    _unchanged(received_request)
    assert mailoutbox == []


@pytest.mark.django_db
@pytest.mark.parametrize("months", [3, 0, -1, 12, True, "2"])
def test_extension_beyond_two_further_months_is_refused(
    officer, received_request, mailoutbox, months
) -> None:
    with time_machine.travel(local(2024, 2, 5, 9, 0), tick=False), pytest.raises(ActionRefused) as refused:
        request_extend(request_id=received_request.id, user=officer, months=months, reason="Complex request.")
    assert refused.value.reason_code == "months_out_of_range"
    _unchanged(received_request)
    assert mailoutbox == []


@pytest.mark.django_db
def test_extension_whose_letter_cannot_be_sent_is_not_recorded(officer, received_request, settings) -> None:
    break_the_mail_server(settings)
    with time_machine.travel(local(2024, 2, 5, 9, 0), tick=False), pytest.raises(ActionRefused) as refused:
        request_extend(request_id=received_request.id, user=officer, months=2, reason="Complex request.")
    assert refused.value.reason_code == "letter_not_sent"
    _unchanged(received_request)
    # The failed attempt itself is on the record, with who tried.
    failed = AuditEvent.objects.get(action="extension_letter_failed")
    assert (failed.request_id, failed.actor) == (received_request.id, "staff:privacy_officer")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "code"),
    [
        (RequestStatus.ANSWERED, "closed"),
        (RequestStatus.REFUSED, "closed"),
        (RequestStatus.UNCONFIRMED, "unconfirmed"),
    ],
)
def test_closed_or_unconfirmed_requests_cannot_be_extended(officer, mailoutbox, status, code) -> None:
    data_request = make_request(received_at=local(*RECEIVED), status=status)
    with time_machine.travel(local(2024, 2, 5, 9, 0), tick=False), pytest.raises(ActionRefused) as refused:
        request_extend(request_id=data_request.id, user=officer, months=1, reason="Complex request.")
    assert refused.value.reason_code == code
    _unchanged(data_request)
    assert mailoutbox == []


@pytest.mark.django_db
def test_extension_of_a_missing_request_is_refused(officer) -> None:
    with pytest.raises(ActionRefused) as refused:
        request_extend(request_id=424242, user=officer, months=1, reason="Complex request.")
    assert refused.value.reason_code == "not_found"


@pytest.mark.django_db
def test_extension_needs_the_permission(received_request, mailoutbox) -> None:
    for user in (None, staff_user(None, username="no_role")):
        with pytest.raises(ActionRefused) as refused:
            request_extend(request_id=received_request.id, user=user, months=1, reason="Complex request.")
        assert refused.value.reason_code == "not_permitted"
    _unchanged(received_request)
    assert mailoutbox == []


# --- The pause while waiting for the person (CLOCK_PAUSES_WHILE_WAITING) -------------------------


def _move(data_request: DataRequest, to_status: str) -> DataRequest:
    current = DataRequest.objects.get(id=data_request.id).status
    assert request_transition(
        request_id=data_request.id,
        from_statuses=[current],
        to_status=to_status,
        actor="system",
        action="test",
    )
    return DataRequest.objects.get(id=data_request.id)


@pytest.mark.django_db
def test_by_default_the_clock_runs_while_waiting_for_confirmation(settings) -> None:
    assert settings.CLOCK_PAUSES_WHILE_WAITING is False
    data_request = make_request(received_at=local(2024, 1, 10, 9, 0), status=RequestStatus.UNCONFIRMED)
    with time_machine.travel(local(2024, 1, 16, 12, 0), tick=False):
        moved = _move(data_request, RequestStatus.QUEUED)
    assert moved.due_at == data_request.due_at
    assert (moved.paused_seconds, moved.waiting_since) == (0, None)


@pytest.mark.django_db
def test_by_default_the_clock_runs_while_waiting_for_a_new_photo(settings) -> None:
    data_request = make_request(received_at=local(2024, 1, 10, 9, 0), status=RequestStatus.SEARCHING)
    with time_machine.travel(local(2024, 1, 11, 9, 0), tick=False):
        waiting = _move(data_request, RequestStatus.NEEDS_SELFIE)
    assert waiting.waiting_since is None
    with time_machine.travel(local(2024, 1, 25, 9, 0), tick=False):
        resumed = _move(waiting, RequestStatus.QUEUED)
    assert resumed.due_at == data_request.due_at
    assert resumed.paused_seconds == 0


@pytest.mark.django_db
def test_with_the_pause_on_confirmation_time_moves_the_due_date(settings) -> None:
    settings.CLOCK_PAUSES_WHILE_WAITING = True
    data_request = make_request(received_at=local(2024, 1, 10, 9, 0), status=RequestStatus.UNCONFIRMED)
    assert timezone.localtime(data_request.due_at).date() == date(2024, 2, 10)
    with time_machine.travel(local(2024, 1, 13, 11, 0), tick=False):  # 3 days and 2 hours later
        confirmed = _move(data_request, RequestStatus.QUEUED)
    assert timezone.localtime(confirmed.due_at).date() == date(2024, 2, 13)
    assert timezone.localtime(confirmed.due_at).time().isoformat() == "23:59:59"
    assert confirmed.paused_seconds == (3 * 24 + 2) * 3600
    assert confirmed.waiting_since is None


@pytest.mark.django_db
def test_with_the_pause_on_waiting_for_a_new_photo_moves_the_due_date(settings) -> None:
    settings.CLOCK_PAUSES_WHILE_WAITING = True
    data_request = make_request(received_at=local(2024, 1, 10, 9, 0), status=RequestStatus.SEARCHING)
    with time_machine.travel(local(2024, 1, 12, 9, 0), tick=False):
        waiting = _move(data_request, RequestStatus.NEEDS_SELFIE)
        assert waiting.waiting_since == timezone.now()
        assert waiting.due_at == data_request.due_at  # the due date moves only once waiting ends
    with time_machine.travel(local(2024, 1, 16, 10, 0), tick=False):  # 4 days and 1 hour later
        resumed = _move(waiting, RequestStatus.QUEUED)
    assert timezone.localtime(resumed.due_at).date() == date(2024, 2, 14)
    assert resumed.paused_seconds == (4 * 24 + 1) * 3600
    assert resumed.waiting_since is None


@pytest.mark.django_db
def test_with_the_pause_on_less_than_a_day_of_waiting_keeps_the_due_date(settings) -> None:
    settings.CLOCK_PAUSES_WHILE_WAITING = True
    data_request = make_request(received_at=local(2024, 1, 10, 9, 0), status=RequestStatus.UNCONFIRMED)
    with time_machine.travel(local(2024, 1, 11, 8, 0), tick=False):
        confirmed = _move(data_request, RequestStatus.QUEUED)
    assert confirmed.due_at == data_request.due_at
    assert confirmed.paused_seconds == 23 * 3600


@pytest.mark.django_db
def test_with_the_pause_on_an_extended_deadline_moves_too(settings) -> None:
    settings.CLOCK_PAUSES_WHILE_WAITING = True
    data_request = make_request(received_at=local(2024, 1, 10, 9, 0), status=RequestStatus.SEARCHING)
    extended_until = clock.extended_due_at(due_at=data_request.due_at, months=2)  # 10 April
    DataRequest.objects.filter(id=data_request.id).update(extended_until=extended_until)
    with time_machine.travel(local(2024, 1, 12, 9, 0), tick=False):
        waiting = _move(data_request, RequestStatus.NEEDS_SELFIE)
    with time_machine.travel(local(2024, 1, 17, 9, 0), tick=False):
        resumed = _move(waiting, RequestStatus.QUEUED)
    assert timezone.localtime(resumed.extended_until).date() == date(2024, 4, 15)
    assert timezone.localtime(resumed.due_at).date() == date(2024, 2, 15)


# --- The due date in force while waiting (pause on): every reader of the clock agrees ------------


@pytest.fixture
def waiting_since_before_due(settings) -> DataRequest:
    """Received 10 January (due 10 February), waiting for a new photo since 1 February 10:00."""
    settings.CLOCK_PAUSES_WHILE_WAITING = True
    data_request = make_request(received_at=local(2024, 1, 10, 9, 0), status=RequestStatus.SEARCHING)
    with time_machine.travel(local(2024, 2, 1, 10, 0), tick=False):
        return _move(data_request, RequestStatus.NEEDS_SELFIE)


@pytest.mark.django_db
def test_with_the_pause_on_the_due_date_in_force_adds_the_whole_days_waited(waiting_since_before_due) -> None:
    # Swept 12 February 12:00: 11 days and 2 hours waited -> due 21 February (whole days, as the
    # transition will move it when the wait ends).
    now = local(2024, 2, 12, 12, 0)
    due = clock.request_due_in_force(request=waiting_since_before_due, now=now)
    assert timezone.localtime(due).date() == date(2024, 2, 21)
    assert timezone.localtime(due).time().isoformat() == "23:59:59"
    with time_machine.travel(now, tick=False):
        resumed = _move(waiting_since_before_due, RequestStatus.QUEUED)
    assert resumed.due_at == due  # the date shown while waiting is the one it gets


@pytest.mark.django_db
def test_with_the_pause_on_a_request_waiting_past_its_stored_due_date_is_not_overdue(
    waiting_since_before_due, officer, mailoutbox
) -> None:
    from rights.reporting.cnil import cnil_figures, overdue_requests
    from rights.upkeep.deadlines import deadlines_sweep

    request_id = waiting_since_before_due.id
    # Before the fix every one of these used the stored due date (10 February): the sweep counted
    # it overdue and escalated it, the figures counted it, and the extension was refused as too late.
    with time_machine.travel(local(2024, 2, 12, 12, 0), tick=False):
        result = deadlines_sweep()
        figures = cnil_figures()
        overdue = list(overdue_requests().values_list("id", flat=True))
        extended = request_extend(request_id=request_id, user=officer, months=1, reason="Complex request.")
    assert (result.overdue, result.escalated) == (0, 0)
    assert not AuditEvent.objects.filter(action="overdue_escalated").exists()
    assert figures.overdue_now == [] and overdue == []
    assert extended.extended_until is not None  # not refused as too late


@pytest.mark.django_db
def test_with_the_pause_on_a_waiting_request_is_overdue_once_its_moved_date_passes(
    waiting_since_before_due,
) -> None:
    from rights.reporting.cnil import cnil_figures
    from rights.upkeep.deadlines import deadlines_sweep

    # On 4 March, 32 days waited: due 13 March in force, though 10 February is stored.
    with time_machine.travel(local(2024, 3, 4, 12, 0), tick=False):
        due = clock.request_due_in_force(request=waiting_since_before_due)
        assert timezone.localtime(due).date() == date(2024, 3, 13)
        assert deadlines_sweep().overdue == 0
    # Once the wait ends the stored due date is moved, and it is overdue when that passes.
    with time_machine.travel(local(2024, 3, 5, 10, 0), tick=False):
        resumed = _move(waiting_since_before_due, RequestStatus.QUEUED)  # 33 days: due 14 March
    assert timezone.localtime(resumed.due_at).date() == date(2024, 3, 14)
    with time_machine.travel(local(2024, 3, 15, 0, 0, 1), tick=False):
        result = deadlines_sweep()
        assert cnil_figures().overdue_now == [resumed.id]
    assert (result.overdue, result.escalated) == (1, 1)


@pytest.mark.django_db
def test_with_the_pause_off_waiting_changes_nothing(settings) -> None:
    settings.CLOCK_PAUSES_WHILE_WAITING = False
    data_request = make_request(
        received_at=local(2024, 1, 10, 9, 0),
        status=RequestStatus.NEEDS_SELFIE,
        waiting_since=local(2024, 2, 1, 10, 0),  # left over from a time the pause was on
    )
    now = local(2024, 2, 12, 12, 0)
    assert clock.request_due_in_force(request=data_request, now=now) == data_request.due_at
    overdue = clock.requests_overdue(queryset=DataRequest.objects.all(), now=now)
    assert list(overdue.values_list("id", flat=True)) == [data_request.id]


# --- Reminders after an extension ---------------------------------------------------------------


@pytest.mark.django_db
def test_an_extension_owes_the_reminders_before_the_new_due_date(
    officer, received_request, mailoutbox, settings
) -> None:
    from rights.upkeep.deadlines import deadlines_sweep

    settings.DUE_SOON_REMINDER_DAYS = [7]
    with time_machine.travel(local(2024, 2, 22, 9, 0), tick=False):  # 7 days before 29 February
        assert deadlines_sweep().reminded == 1
    assert DataRequest.objects.get(id=received_request.id).reminders_sent == [7]
    with time_machine.travel(local(2024, 2, 23, 9, 0), tick=False):
        extended = request_extend(request_id=received_request.id, user=officer, months=2, reason="Complex.")
    assert timezone.localtime(extended.extended_until).date() == date(2024, 4, 29)
    assert (extended.reminders_sent, extended.escalated_at) == ([], None)
    with time_machine.travel(local(2024, 4, 21, 9, 0), tick=False):  # 8 days before: not yet
        assert deadlines_sweep().reminded == 0
    # Before the fix the 7-day reminder of the old date silenced this one: reminded == 0.
    with time_machine.travel(local(2024, 4, 22, 9, 0), tick=False):  # 7 days before 29 April
        assert deadlines_sweep().reminded == 1
    reminders = AuditEvent.objects.filter(action="due_soon_reminder", request_id=received_request.id)
    assert [event.detail["due_at"][:10] for event in reminders.order_by("id")] == ["2024-02-29", "2024-04-29"]


@pytest.mark.django_db
def test_the_extension_error_explains_the_clamped_two_month_rule(officer, received_request) -> None:
    with time_machine.travel(local(2024, 2, 5, 9, 0), tick=False), pytest.raises(ActionRefused) as refused:
        request_extend(request_id=received_request.id, user=officer, months=3, reason="Complex request.")
    assert "a due date of 28 February can be extended to 28 April at the most, not 30 April" in str(
        refused.value
    )


def test_days_to_answer_counts_local_calendar_days() -> None:
    from rights.lifecycle.clock import days_to_answer

    # 20 minutes across local midnight is a day; 23 hours within one local day is none.
    assert days_to_answer(received_at=local(2026, 3, 1, 23, 50), answered_at=local(2026, 3, 2, 0, 10)) == 1
    assert days_to_answer(received_at=local(2026, 3, 1, 0, 30), answered_at=local(2026, 3, 1, 23, 30)) == 0
