"""The statutory clock (GDPR Art. 12(3)): one calendar month from receipt, extendable once by up
to two further months.

A period "of one month" ends at the end of the day, in the month after, that bears the same date
as the day of receipt; when that month is too short, at the end of its last day (31 January ->
28 or 29 February). This follows Regulation 1182/71 on periods, dates and time limits, which is
how EU supervisory authorities count GDPR deadlines. Days are counted in settings.TIME_ZONE.

An extension is of up to two further months counted from the due date as it stands, clamped: a
request received on 31 January is due on 28 February (29 in a leap year), and extended at the
most to 28 April, not 30 April. This is the stricter of the two readings of Art. 12(3) ("extended
by two further months"): it never gives the organisation more time than the person was told.

When settings.CLOCK_PAUSES_WHILE_WAITING is on, the time spent waiting for the person (email
confirmation, a usable photo) does not count. ``due_at`` and ``extended_until`` are moved, by
whole days, when the wait ends (rights.lifecycle.transitions); while a request is still waiting,
``due_in_force`` adds the whole days waited so far. Everything that asks "when is it due, how many
days are left" asks ``request_due_in_force``, and "is it overdue" ``requests_overdue`` /
``request_overdue``, never ``due_at`` itself.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from rights.models import CONFIRMED_OPEN_STATUSES, DataRequest, due_stored_expression

STATUTORY_MONTHS = 1
MAX_EXTENSION_MONTHS = 2


def date_add_months(*, day: date, months: int) -> date:
    """The same date ``months`` later, or the last day of that month when it has no such date."""
    month_index = day.month - 1 + months
    year = day.year + month_index // 12
    month = month_index % 12 + 1
    last_day = calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last_day))


def end_of_local_day(*, day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.max.replace(microsecond=0)))


def due_at_for(*, received_at: datetime, months: int = STATUTORY_MONTHS) -> datetime:
    received_day = timezone.localtime(received_at).date()
    return end_of_local_day(day=date_add_months(day=received_day, months=months))


def latest_extension_for(*, due_at: datetime) -> datetime:
    """The furthest an extension may move the deadline: two further months after the (clamped) due
    date, by the same rule as the extension itself (due 28 February -> 28 April at the most)."""
    return extended_due_at(due_at=due_at, months=MAX_EXTENSION_MONTHS)


def days_left(*, due_at: datetime, now: datetime | None = None) -> int:
    """Whole days until the due date (negative when overdue), counted in local calendar days."""
    today = timezone.localtime(now or timezone.now()).date()
    return (timezone.localtime(due_at).date() - today).days


def days_to_answer(*, received_at: datetime, answered_at: datetime) -> int:
    """Calendar days from receipt to answer, in local time: the compliance report and the charts alike."""
    return (timezone.localtime(answered_at).date() - timezone.localtime(received_at).date()).days


def pause_length(*, waiting_since: datetime, now: datetime) -> timedelta:
    return max(now - waiting_since, timedelta(0))


def shift_days(*, moment: datetime, days: int) -> datetime:
    """The end of the local day ``days`` after the local day of ``moment`` (a moved deadline)."""
    return end_of_local_day(day=timezone.localtime(moment).date() + timedelta(days=days))


def paused_days(*, waiting_since: datetime | None, now: datetime) -> int:
    """Whole days the clock has been paused so far (0 when not waiting or the pause setting is off)."""
    if waiting_since is None or not settings.CLOCK_PAUSES_WHILE_WAITING:
        return 0
    return pause_length(waiting_since=waiting_since, now=now).days


def due_in_force(
    *,
    due_at: datetime,
    extended_until: datetime | None = None,
    waiting_since: datetime | None = None,
    now: datetime | None = None,
) -> datetime:
    """The due date in force now: the extension's if any, moved by the whole days waited so far.

    Transitions move the stored dates by the same whole days when the wait ends, so the due date a
    waiting request shows is the one it will have if the person answers now.
    """
    effective = extended_until or due_at
    days = paused_days(waiting_since=waiting_since, now=now or timezone.now())
    return shift_days(moment=effective, days=days) if days else effective


def request_due_in_force(*, request: Any, now: datetime | None = None) -> datetime:
    """``due_in_force`` of a DataRequest (any object with its clock fields)."""
    return due_in_force(
        due_at=request.due_at,
        extended_until=request.extended_until,
        waiting_since=request.waiting_since,
        now=now,
    )


def requests_due_between(
    *,
    queryset: QuerySet,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
) -> QuerySet:
    """The requests whose due date in force ``now`` is >= ``start`` and < ``end`` (either may be open).

    The database compares the stored dates; requests still waiting (pause on) are checked one by
    one, since their due date in force is later than the stored one by the days waited so far.
    """
    now = now or timezone.now()
    queryset = queryset.annotate(stored_due=due_stored_expression())
    bounds = Q()
    if start is not None:
        bounds &= Q(stored_due__gte=start)
    if end is not None:
        bounds &= Q(stored_due__lt=end)
    if not settings.CLOCK_PAUSES_WHILE_WAITING:
        return queryset.filter(bounds)
    # A pause only ever moves the due date later: a waiting request due (stored) after ``end`` is
    # due after it in force too, so only the lower bound needs checking one by one.
    waiting = queryset.filter(waiting_since__isnull=False)
    if end is not None:
        waiting = waiting.filter(stored_due__lt=end)
    in_range = [
        row["id"]
        for row in waiting.values("id", "due_at", "extended_until", "waiting_since")
        if _in_range(
            due=due_in_force(
                due_at=row["due_at"],
                extended_until=row["extended_until"],
                waiting_since=row["waiting_since"],
                now=now,
            ),
            start=start,
            end=end,
        )
    ]
    return queryset.filter((Q(waiting_since__isnull=True) & bounds) | Q(id__in=in_range))


def _in_range(*, due: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or due >= start) and (end is None or due < end)


def requests_overdue(*, queryset: QuerySet | None = None, now: datetime | None = None) -> QuerySet:
    """Overdue, the one rule: confirmed, open, and past the due date in force ``now``.

    ``request_overdue`` is the same rule for one request. The API, the dashboard, the sweep and the
    CNIL figures all ask one of the two.
    """
    now = now or timezone.now()
    queryset = DataRequest.objects.all() if queryset is None else queryset
    confirmed_open = queryset.filter(status__in=CONFIRMED_OPEN_STATUSES)
    return requests_due_between(queryset=confirmed_open, end=now, now=now)


def request_overdue(*, request: Any, now: datetime | None = None) -> bool:
    """``requests_overdue`` for one request (any object with its status and clock fields)."""
    now = now or timezone.now()
    return request.status in CONFIRMED_OPEN_STATUSES and now > request_due_in_force(request=request, now=now)


def extended_due_at(*, due_at: datetime, months: int) -> datetime:
    """The deadline after an extension by ``months`` (1 or 2) further months, end of that local day.

    Counted from the clamped due date (due 28 February -> 28 April at the most; see the module's
    docstring for why this stricter reading).
    """
    if not 1 <= months <= MAX_EXTENSION_MONTHS:
        raise ValueError(f"an extension is 1 to {MAX_EXTENSION_MONTHS} months, not {months}")
    return end_of_local_day(day=date_add_months(day=timezone.localtime(due_at).date(), months=months))


def reminders_due(
    *, due_at: datetime, reminder_days: list[int], already_sent: list[int], now: datetime | None = None
) -> list[int]:
    """The reminder thresholds (days before due) reached and not yet sent, largest first.

    A threshold is reached once the days left fall to it or below; none is due once the request
    is overdue (that is escalation's business).
    """
    left = days_left(due_at=due_at, now=now)
    if left < 0:
        return []
    sent = set(already_sent)
    return sorted((d for d in set(reminder_days) if left <= d and d not in sent), reverse=True)
