"""The deadline sweep: due-soon reminders to staff and escalation of overdue requests.

The clock rules themselves are in ``rights.lifecycle.clock``; this only watches them. Each
reminder threshold (settings.DUE_SOON_REMINDER_DAYS) is sent once per request, recorded in
``DataRequest.reminders_sent``; an overdue request is escalated once to the privacy officer
(``escalated_at``). Both are audited.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from rights.lifecycle import enqueue
from rights.lifecycle.audit import SYSTEM, audit_record
from rights.lifecycle.clock import (
    days_left,
    reminders_due,
    request_due_in_force,
    requests_due_between,
    requests_overdue,
)
from rights.lifecycle.emails import public_url, staff_email_send
from rights.models import (
    CONFIRMED_OPEN_STATUSES,
    AuditAction,
    DataRequest,
    JobCursor,
    due_stored_expression,
)

logger = logging.getLogger(__name__)

# Requests whose email was never confirmed are not yet requests staff can act on; the expiry job
# (rights.upkeep.purge.requests_expire_unconfirmed) closes them as EXPIRED. Every other open
# request is watched, including those waiting for a new photo.
# Each finished sweep stamps this cursor (position: the overdue count): /health/ reads its age to
# tell whether beat is still sending the daily jobs.
SWEEP_CURSOR = "deadline_sweep"


@dataclass(frozen=True)
class SweepResult:
    reminded: int  # reminder emails sent by this sweep
    escalated: int  # overdue requests escalated by this sweep
    overdue: int  # open requests past their effective due date now
    failed: int = 0  # reminders or escalations that could not be sent (left for the next run)


def _admin_url(request_id: int) -> str:
    try:
        return public_url(path=reverse("admin:rights_datarequest_change", args=[request_id]))
    except NoReverseMatch:
        return public_url(path=f"/admin/rights/datarequest/{request_id}/change/")


def _watched() -> QuerySet[DataRequest]:
    watched = DataRequest.objects.filter(status__in=CONFIRMED_OPEN_STATUSES)
    return watched.annotate(effective_due=due_stored_expression())


def reminder_thresholds_due(*, request: DataRequest, now: datetime) -> list[int]:
    """The reminder thresholds (days before due) reached and not yet sent; empty once overdue."""
    return sorted(
        reminders_due(
            due_at=request_due_in_force(request=request, now=now),
            reminder_days=settings.DUE_SOON_REMINDER_DAYS,
            already_sent=request.reminders_sent or [],
            now=now,
        )
    )


def request_remind(*, request_id: int, now: datetime) -> bool:
    """Send one due-soon reminder if a threshold is reached and not yet reminded; True if sent.

    When a sweep was missed and several thresholds are reached at once, one email goes out and
    every reached threshold is marked, so staff are not sent a burst of reminders.
    """
    with transaction.atomic():
        request = (
            DataRequest.objects.select_for_update()
            .filter(id=request_id, status__in=CONFIRMED_OPEN_STATUSES)
            .first()
        )
        if request is None:
            return False
        reached = reminder_thresholds_due(request=request, now=now)
        if not reached:
            return False
        due = request_due_in_force(request=request, now=now)
        left = days_left(due_at=due, now=now)
        staff_email_send(
            to=settings.STAFF_REMINDER_EMAIL,
            template="reminder",
            context={
                "request": request,
                "days_left": left,
                "due_at": due,
                "admin_url": _admin_url(request.id),
            },
            request_id=request.id,
        )
        request.reminders_sent = sorted({*(request.reminders_sent or []), *reached})
        request.save(update_fields=["reminders_sent"])
        audit_record(
            actor=SYSTEM,
            action=AuditAction.DUE_SOON_REMINDER,
            request_id=request.id,
            detail={"days_left": left, "thresholds": reached, "due_at": due.isoformat()},
        )
    logger.info("reminder sent request=%s days_left=%s", request_id, left)
    return True


def request_escalate(*, request_id: int, now: datetime) -> bool:
    """Escalate an overdue request to the privacy officer, once; True if escalated now."""
    with transaction.atomic():
        request = (
            DataRequest.objects.select_for_update()
            .filter(id=request_id, status__in=CONFIRMED_OPEN_STATUSES, escalated_at__isnull=True)
            .first()
        )
        if request is None:
            return False
        # The due date in force: with the pause on, a request waiting for the person is not overdue
        # until its due date moved by the days waited so far has passed.
        due = request_due_in_force(request=request, now=now)
        if due >= now:
            return False
        overdue_days = -days_left(due_at=due, now=now)
        staff_email_send(
            to=settings.PRIVACY_OFFICER_EMAIL,
            template="escalation",
            context={
                "request": request,
                "due_at": due,
                "days_overdue": overdue_days,
                "admin_url": _admin_url(request.id),
            },
            request_id=request.id,
        )
        DataRequest.objects.filter(id=request.id).update(escalated_at=now)
        audit_record(
            actor=SYSTEM,
            action=AuditAction.OVERDUE_ESCALATED,
            request_id=request.id,
            detail={"days_overdue": overdue_days, "due_at": due.isoformat()},
        )
        enqueue.event_webhooks_enqueue(event="request.overdue", request_id=request.id)
    logger.info("overdue request escalated request=%s days_overdue=%s", request_id, overdue_days)
    return True


def deadlines_sweep(*, now: datetime | None = None) -> SweepResult:
    """Remind staff of requests due soon, escalate overdue ones, and count those overdue now."""
    now = now or timezone.now()
    horizon_days = max(settings.DUE_SOON_REMINDER_DAYS, default=0) + 1
    reminded = escalated = 0

    overdue_ids = list(
        requests_overdue(queryset=_watched(), now=now).order_by("effective_due").values_list("id", flat=True)
    )
    failed = 0
    for request_id in overdue_ids:
        try:
            escalated += request_escalate(request_id=request_id, now=now)
        except Exception as exc:
            # One unsendable email must not stop the others; nothing was recorded, so it is retried.
            # The error's type only: a mail server's message may quote an address.
            logger.error("escalation of request %s failed (%s)", request_id, type(exc).__name__)
            failed += 1

    # Due soon: due within the largest threshold, not overdue; a wide filter, the exact rule is
    # counted in local calendar days by reminder_thresholds_due.
    soon = (
        requests_due_between(queryset=_watched(), start=now, end=now + timedelta(days=horizon_days), now=now)
        .order_by("effective_due")
        .values_list("id", flat=True)
    )
    for request_id in list(soon):
        try:
            reminded += request_remind(request_id=request_id, now=now)
        except Exception as exc:
            logger.error("reminder for request %s failed (%s)", request_id, type(exc).__name__)
            failed += 1

    result = SweepResult(reminded=reminded, escalated=escalated, overdue=len(overdue_ids), failed=failed)
    JobCursor.objects.update_or_create(name=SWEEP_CURSOR, defaults={"position": result.overdue})
    logger.info(
        "deadline sweep reminded=%s escalated=%s overdue=%s failed=%s",
        reminded,
        escalated,
        result.overdue,
        failed,
    )
    return result


def deadlines_last_sweep() -> datetime | None:
    """When the last deadline sweep finished (None: never)."""
    return JobCursor.objects.filter(name=SWEEP_CURSOR).values_list("updated_at", flat=True).first()
