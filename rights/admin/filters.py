"""The queue's filters (overdue, due this week, needs review, held) and the notices' acknowledged filter."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.admin import SimpleListFilter
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from rights.admin.common import DUE_SOON_DAYS
from rights.lifecycle import clock
from rights.models import (
    CLOSED_STATUSES,
    CONFIRMED_OPEN_STATUSES,
    OPEN_STATUSES,
    REVIEWABLE_STATUSES,
    RequestStatus,
)

# --- Queue filters ------------------------------------------------------------------------------


class QueueFilter(SimpleListFilter):
    """Open requests by default: the queue is what is left to answer."""

    title = _("queue")
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("open", gettext("Open")), ("closed", gettext("Closed")), ("all", gettext("All"))]

    def choices(self, changelist: Any):
        current = self.value() or "open"
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == "all":
            return queryset
        if value == "closed":
            return queryset.filter(status__in=CLOSED_STATUSES)
        if value is None and any(key.startswith("status") for key in request.GET):
            return queryset  # a state chosen explicitly wins over the default
        return queryset.filter(status__in=OPEN_STATUSES)


class YesFilter(SimpleListFilter):
    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", gettext("Yes")), ("no", gettext("No"))]

    def matching(self, queryset: QuerySet) -> QuerySet:
        raise NotImplementedError

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return self.matching(queryset)
        if self.value() == "no":
            return queryset.exclude(pk__in=self.matching(queryset).values("pk"))
        return queryset


def _confirmed_open(queryset: QuerySet) -> QuerySet:
    # Never-confirmed requests are not yet requests staff can act on: neither overdue nor due soon
    # (as in the deadline sweep and the CNIL figures).
    return queryset.filter(status__in=CONFIRMED_OPEN_STATUSES)


class OverdueFilter(YesFilter):
    title = _("overdue")
    parameter_name = "overdue"

    def matching(self, queryset: QuerySet) -> QuerySet:
        return clock.requests_overdue(queryset=queryset, now=timezone.now())


class DueThisWeekFilter(YesFilter):
    title = _("due within 7 days")
    parameter_name = "due_this_week"

    def matching(self, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        horizon = clock.end_of_local_day(day=timezone.localdate(now) + timedelta(days=DUE_SOON_DAYS))
        return clock.requests_due_between(
            queryset=_confirmed_open(queryset), start=now, end=horizon + timedelta(seconds=1), now=now
        )


class NeedsReviewFilter(YesFilter):
    title = _("needs review")
    parameter_name = "needs_review"

    def matching(self, queryset: QuerySet) -> QuerySet:
        return queryset.filter(status=RequestStatus.REVIEW) | queryset.filter(
            status__in=REVIEWABLE_STATUSES, needs_review=True
        )


class HeldFilter(YesFilter):
    title = _("held")
    parameter_name = "held"

    def matching(self, queryset: QuerySet) -> QuerySet:
        return queryset.filter(status=RequestStatus.HELD)


class AcknowledgedFilter(YesFilter):
    title = _("acknowledged")
    parameter_name = "acknowledged"

    def matching(self, queryset: QuerySet) -> QuerySet:
        return queryset.filter(acknowledged_at__isnull=False)
