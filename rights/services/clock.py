"""The statutory clock (GDPR Art. 12(3)): one calendar month from receipt, extendable once by up
to two further months.

A period "of one month" ends at the end of the day, in the month after, that bears the same date
as the day of receipt; when that month is too short, at the end of its last day (31 January ->
28 or 29 February). This follows Regulation 1182/71 on periods, dates and time limits, which is
how EU supervisory authorities count GDPR deadlines. Days are counted in settings.TIME_ZONE.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta

from django.utils import timezone

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
    """The furthest an extension may move the deadline: two further months after the due date."""
    return end_of_local_day(
        day=date_add_months(day=timezone.localtime(due_at).date(), months=MAX_EXTENSION_MONTHS)
    )


def days_left(*, due_at: datetime, now: datetime | None = None) -> int:
    """Whole days until the due date (negative when overdue), counted in local calendar days."""
    today = timezone.localtime(now or timezone.now()).date()
    return (timezone.localtime(due_at).date() - today).days


def pause_length(*, waiting_since: datetime, now: datetime) -> timedelta:
    return max(now - waiting_since, timedelta(0))


def extended_due_at(*, due_at: datetime, months: int) -> datetime:
    """The deadline after an extension by ``months`` (1 or 2) further months, end of that local day."""
    if not 1 <= months <= MAX_EXTENSION_MONTHS:
        raise ValueError(f"an extension is 1 to {MAX_EXTENSION_MONTHS} months, not {months}")
    return end_of_local_day(day=date_add_months(day=timezone.localtime(due_at).date(), months=months))


def effective_due_at(*, due_at: datetime, extended_until: datetime | None) -> datetime:
    return extended_until or due_at


def is_overdue(*, due_at: datetime, now: datetime | None = None) -> bool:
    return (now or timezone.now()) > due_at


def answered_in_time(*, answered_at: datetime, due_at: datetime) -> bool:
    return answered_at <= due_at


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
