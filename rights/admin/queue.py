"""The queue's bulk actions (CSV export, link as the same person) and its partial search.

Each calls a service: rights.staff.queue for the reads, rights.staff.actions.requests_link for links.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from rights.models import DataRequest
from rights.staff.actions import ActionRefused, requests_link
from rights.staff.queue import requests_csv, requests_search


@admin.action(description=_("Export the selected requests as CSV (no email or identifier)"))
def export_csv(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[DataRequest]
) -> HttpResponse:
    response = HttpResponse(
        requests_csv(requests=queryset.order_by("id")), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="requests-{timezone.localdate():%Y-%m-%d}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response


@admin.action(
    description=_("Link the selected requests as the same person (to the earliest)"),
    permissions=["link"],  # QueueMixin.has_link_permission
)
def link_same_person(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[DataRequest]
) -> None:
    ordered = list(queryset.order_by("received_at", "id").values_list("id", flat=True))
    if len(ordered) < 2:
        messages.error(request, gettext("Not done: tick at least two requests of the same person."))
        return
    earliest, linked, refused = ordered[0], [], []
    for request_id in ordered[1:]:
        try:
            requests_link(request_id=request_id, earlier_id=earliest, user=request.user)
            linked.append(f"#{request_id}")
        except ActionRefused as error:
            refused.append(f"#{request_id} ({error.message})")
    if linked:
        messages.success(
            request,
            gettext("Linked %(linked)s to the earliest, #%(earliest)s.")
            % {"linked": ", ".join(linked), "earliest": earliest},
        )
    if refused:
        messages.error(request, gettext("Not linked: %(refused)s.") % {"refused": "; ".join(refused)})


class AssignedFilter(admin.SimpleListFilter):
    title = _("assigned to")
    parameter_name = "assigned"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("me", gettext("Me")), ("nobody", gettext("No one"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[DataRequest]) -> QuerySet[DataRequest]:
        if self.value() == "me":
            return queryset.filter(assignment__assignee=request.user)
        if self.value() == "nobody":
            return queryset.filter(assignment__isnull=True)
        return queryset


class QueueMixin:
    """Partial search by email, identifier, image URL or account, or a request's number; who may link."""

    search_help_text = _(
        "Part of an email, an identifier, an image URL or account, or a request number (#42)."
    )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[DataRequest], search_term: str
    ) -> tuple[QuerySet[DataRequest], bool]:
        return requests_search(queryset=queryset, term=search_term), False

    def has_link_permission(self, request: HttpRequest) -> bool:
        # Requests are never changed as forms, but linking them is a service staff may call.
        return request.user.has_perm("rights.change_datarequest")
