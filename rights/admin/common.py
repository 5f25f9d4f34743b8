"""What every dashboard page shares: permission checks, request links, read-only admins, the due badge."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from rights.lifecycle import clock
from rights.models import (
    AuditAction,
    DataRequest,
    Match,
    RequestStatus,
    due_stored_expression,
)

DUE_SOON_DAYS = 7


def permission_require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(f"rights.{permission}"):
        raise PermissionDenied(f"This needs the rights.{permission} permission.")


def queue_annotate(queryset: QuerySet[DataRequest]) -> QuerySet[DataRequest]:
    pending = Match.objects.filter(request=OuterRef("pk"), decision=Match.Decision.PENDING).exclude(
        band=Match.Band.MATCH
    )
    return queryset.annotate(effective_due=due_stored_expression(), needs_review=Exists(pending))


def status_label(code: str) -> str:
    """A stored status code as staff read it: its choice's label, in the current language. A code
    that is no longer a status (an old audit row) is shown as stored rather than hidden."""
    try:
        return str(RequestStatus(code).label)
    except ValueError:
        return code


def action_label(code: str) -> str:
    """A stored audit action as staff read it (its label, in the current language); an action no
    longer in AuditAction is shown as stored."""
    try:
        return str(AuditAction(code).label)
    except ValueError:
        return code


def request_url(request_id: int) -> str:
    return reverse("admin:rights_datarequest_change", args=[request_id])


def request_link_html(request_id: int | None) -> str:
    """A link to the request's page in the dashboard ("" when there is no request)."""
    if request_id is None:
        return ""
    return format_html('<a href="{}">#{}</a>', request_url(request_id), request_id)


class ReadOnlyAdminMixin:
    """Nothing is added, changed or deleted through these pages: rows change only through services."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    actions = None


class RequestLinkColumn:
    """The ``request_link`` column of a model with a ``request`` foreign key."""

    @admin.display(description=_("Request"), ordering="request_id")
    def request_link(self, obj: Any) -> str:
        return request_link_html(obj.request_id)


def days_left_badge(data_request: DataRequest, *, now: Any = None) -> str:
    """Days left until the effective due date: red when overdue, amber when due within 7 days."""
    if data_request.status == RequestStatus.EXPIRED:
        # Closed unanswered because it was never confirmed: neither answered nor late.
        expired = gettext("never confirmed, expired")
        return format_html('<span class="days-left closed expired">{}</span>', expired)
    if data_request.is_closed:
        answered = data_request.answered_at or data_request.closed_at
        if answered and answered > clock.request_due_in_force(request=data_request, now=answered):
            late = gettext("%(status)s, late") % {"status": data_request.get_status_display()}
            return format_html('<span class="days-left closed late">{}</span>', late)
        return format_html('<span class="days-left closed">{}</span>', data_request.get_status_display())
    if data_request.status == RequestStatus.UNCONFIRMED:
        return format_html('<span class="days-left unconfirmed">{}</span>', gettext("email not confirmed"))
    now = now or timezone.now()
    due = clock.request_due_in_force(request=data_request, now=now)
    left = clock.days_left(due_at=due, now=now)
    if clock.request_overdue(request=data_request, now=now):
        return format_html(
            '<span class="days-left overdue" style="color:#fff;background:#c62828;padding:1px 6px;'
            'border-radius:3px;font-weight:bold">{}</span>',
            ngettext("%(days)s day overdue", "%(days)s days overdue", -left) % {"days": -left},
        )
    if left <= DUE_SOON_DAYS:
        return format_html(
            '<span class="days-left due-soon" style="color:#000;background:#ffb300;padding:1px 6px;'
            'border-radius:3px;font-weight:bold">{}</span>',
            ngettext("%(days)s day left", "%(days)s days left", left) % {"days": left},
        )
    remaining = ngettext("%(days)s day left", "%(days)s days left", left) % {"days": left}
    return format_html('<span class="days-left">{}</span>', remaining)
