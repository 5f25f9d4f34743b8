"""The audit trail and the ledgers (erasures, purges): read-only for everyone."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from rights.admin.common import ReadOnlyAdmin, RequestLinkColumn, status_label
from rights.models import (
    AuditEvent,
    ErasureRecord,
    PurgeRecord,
)

# --- The audit trail: read-only for everyone ----------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(RequestLinkColumn, ReadOnlyAdmin):
    list_display = ["id", "created_at", "actor", "action", "request_link", "transition", "reason"]
    list_filter = ["action", "actor"]
    search_fields = ["=request__id", "action", "actor"]
    date_hierarchy = "created_at"
    list_per_page = 200
    fields = [
        "id",
        "created_at",
        "actor",
        "action",
        "request",
        "transition",
        "reason",
        "detail",
        "prev_hash",
        "hash",
    ]
    readonly_fields = fields

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
