"""The audit trail and the ledgers (erasures, purges): read-only for everyone."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from rights.admin.common import ReadOnlyAdmin, RequestLinkColumn
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
        "from_status",
        "to_status",
        "reason",
        "detail",
        "prev_hash",
        "hash",
    ]
    readonly_fields = fields

    @admin.display(description=_("Status"))
    def transition(self, obj: AuditEvent) -> str:
        return f"{obj.from_status} → {obj.to_status}" if obj.to_status else ""


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
