"""The audit trail and the ledgers (erasures, purges): read-only for everyone."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from rights.admin.common import ReadOnlyAdmin, RequestLinkColumn, action_label, status_label
from rights.models import (
    AuditAction,
    AuditEvent,
    ErasureRecord,
    PurgeRecord,
)

# --- The audit trail: read-only for everyone ----------------------------------------------------


class ActionFilter(admin.SimpleListFilter):
    """The actions by their labels (a filter on the column would list the stored codes)."""

    title = _("action")
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(value, str(label)) for value, label in AuditAction.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(RequestLinkColumn, ReadOnlyAdmin):
    list_display = ["id", "created_at", "actor", "what", "request_link", "transition", "reason"]
    list_filter = [ActionFilter, "actor"]
    search_fields = ["=request__id", "action", "actor"]
    date_hierarchy = "created_at"
    list_per_page = 200
    fields = [
        "id",
        "created_at",
        "actor",
        "what",
        "request",
        "transition",
        "reason",
        "detail",
        "prev_hash",
        "hash",
    ]
    readonly_fields = fields

    @admin.display(description=_("Action"), ordering="action")
    def what(self, obj: AuditEvent) -> str:
        # The label staff read; the stored code (what exports, filters and searches use) on hover.
        return format_html('<span title="{}">{}</span>', obj.action, action_label(obj.action))

    @admin.display(description=_("Status"))
    def transition(self, obj: AuditEvent) -> str:
        # The labels staff read; the stored codes stay in the row (and in every export).
        if not obj.to_status:
            return ""
        return f"{status_label(obj.from_status)} → {status_label(obj.to_status)}"


# --- Ledgers: read-only ------------------------------------------------------------------------


@admin.register(ErasureRecord)
class ErasureRecordAdmin(ReadOnlyAdmin):
    list_display = ["id", "request", "image_id", "image_sha256", "erased_at", "removed"]
    search_fields = ["=request__id", "=image_sha256"]

    @admin.display(description=_("Removed from"))
    def removed(self, obj: ErasureRecord) -> str:
        return format_html_join(", ", "{}", ((str(place),) for place in obj.removed_from or []))


@admin.register(PurgeRecord)
class PurgeRecordAdmin(ReadOnlyAdmin):
    list_display = ["id", "request", "purged_at", "what"]
    search_fields = ["=request__id"]
