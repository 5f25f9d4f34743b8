"""The request queue, a request's page and its actions (approve, extend, refuse, link, decide
matches), the images shown for review, the dashboard summary and the compliance report download.

Images (selfies and candidate matches) are served through views that check the permission; media
is never served directly. Faces are shown to those who review matches (reviewers and the privacy
officer), not to read-only viewers.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from rights.admin.casework import CaseworkMixin, casework_context
from rights.admin.common import (
    ReadOnlyAdminMixin,
    days_left_badge,
    permission_require,
    queue_annotate,
    request_link_html,
    request_url,
)
from rights.admin.filters import DueThisWeekFilter, HeldFilter, NeedsReviewFilter, OverdueFilter, QueueFilter
from rights.admin.queue import AssignedFilter, QueueMixin, export_csv, link_same_person
from rights.admin.review import ReviewScreenMixin, pending_refusal_message, review_context
from rights.lifecycle import clock
from rights.lifecycle.audit import actor_for, review_screen_view_record
from rights.models import (
    REVIEWABLE_STATUSES,
    DataRequest,
    RecipientNotice,
    RequestStatus,
    due_stored_expression,
)
from rights.pipeline.search import request_bands
from rights.recipients.notices import notices_without_contact
from rights.reporting.charts import summary_charts
from rights.reporting.cnil import cnil_figures
from rights.reporting.compliance import (
    FORMATS,
    ReportError,
    answered_chart,
    compliance_report_export,
    report_date_parse,
)
from rights.requester.progress import erasure_progress, erasure_waiting_for_access
from rights.staff.actions import (
    ActionRefused,
    request_extend,
    request_extension_refusal,
    request_refuse,
    requests_link,
)
from rights.staff.review import ReviewError, request_approve

# --- Action forms -------------------------------------------------------------------------------


class ExtendForm(forms.Form):
    months = forms.TypedChoiceField(
        label=_("Months"),
        choices=[(1, _("1 further month")), (2, _("2 further months"))],
        coerce=int,
        initial=2,
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        label=_("Reason"),
        required=False,
        help_text=_("Sent to the person with the new date and their right to complain."),
    )


class RefuseForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        label=_("Reason"),
        required=False,
        help_text=_("Why the request is manifestly unfounded or excessive (Art. 12(5)). Sent to the person."),
    )


class LinkForm(forms.Form):
    earlier_id = forms.IntegerField(min_value=1, label=_("Earlier request #"))


# --- Requests: the queue, the request page and its actions --------------------------------------


@admin.register(DataRequest)
class DataRequestAdmin(QueueMixin, ReviewScreenMixin, CaseworkMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    # Requests are created by people through the public form and changed only through services.
    list_display = ["request_link", "kind", "status", "received", "due", "days_left", "assigned", "flags"]
    list_display_links = None
    list_filter = [
        QueueFilter,
        AssignedFilter,
        "kind",
        "status",
        OverdueFilter,
        DueThisWeekFilter,
        NeedsReviewFilter,
        HeldFilter,
    ]
    search_fields = ["=id"]  # shows the search box; QueueMixin does the searching
    actions = [export_csv, link_same_person]
    list_per_page = 100
    change_form_template = "admin/rights/datarequest/change_form.html"
    change_list_template = "admin/rights/datarequest/change_list.html"
    fieldsets = [
        (
            _("Request"),
            {"fields": ["kind", "status", "email", "email_verified_at", "country", "identifiers"]},
        ),
        (
            _("Statutory clock"),
            {
                "fields": [
                    "received_at",
                    "due_at",
                    "extended_until",
                    "extension_reason",
                    "extension_notified_at",
                    "paused_seconds",
                    "reminders_sent",
                    "escalated_at",
                ]
            },
        ),
        (
            _("Outcome"),
            {
                "fields": [
                    "answered_at",
                    "closed_at",
                    "followups",
                    "refusal_reason",
                    "hold_reason",
                    "selfie_problem",
                    "suppression_consent",
                    "attempts",
                    "purged_at",
                ]
            },
        ),
        (
            _("Search"),
            {
                "fields": [
                    "searched_at",
                    "searched_collection_from",
                    "searched_collection_to",
                    "searched_collection_size",
                ]
            },
        ),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[DataRequest]:
        # The ordering uses the annotation, so annotate before ordering (super() orders first).
        queryset = queue_annotate(self.model._default_manager.select_related("assignment__assignee"))
        return queryset.order_by(*self.get_ordering(request))

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        # The expression, not the annotation's name: other admins order their choice of requests (a
        # ledger row's foreign key) by this too, on a queryset that lacks the annotation.
        return [due_stored_expression().asc(), "id"]

    @admin.display(description=_("Request"), ordering="id")
    def request_link(self, obj: DataRequest) -> str:
        return request_link_html(obj.pk)

    @admin.display(description=_("Received"), ordering="received_at")
    def received(self, obj: DataRequest) -> str:
        return timezone.localtime(obj.received_at).strftime("%Y-%m-%d")

    @admin.display(description=_("Due"), ordering="effective_due")
    def due(self, obj: DataRequest) -> str:
        due = timezone.localtime(clock.request_due_in_force(request=obj)).strftime("%Y-%m-%d")
        return gettext("%(due)s (extended)") % {"due": due} if obj.extended_until else due

    @admin.display(description=_("Days left"), ordering="effective_due")
    def days_left(self, obj: DataRequest) -> str:
        return days_left_badge(obj)

    @admin.display(description=_("Assigned to"))
    def assigned(self, obj: DataRequest) -> str:
        assignment = getattr(obj, "assignment", None)
        return assignment.assignee.get_username() if assignment else "—"

    @admin.display(description=_("Flags"))
    def flags(self, obj: DataRequest) -> str:
        flags = []
        if getattr(obj, "needs_review", False) or obj.status == RequestStatus.REVIEW:
            flags.append(gettext("needs review"))
        if obj.followups:
            flags.append(gettext("asked again (%(times)s times)") % {"times": obj.followups})
        if obj.status == RequestStatus.HELD:
            flags.append(gettext("held"))
        return ", ".join(flags)

    # --- URLs ---

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path("summary/", wrap(self.summary_view), name="rights_summary"),
            path("compliance-report/", wrap(self.compliance_report_view), name="rights_compliance_report"),
            path("<int:object_id>/approve/", wrap(self.approve_view), name="rights_datarequest_approve"),
            path("<int:object_id>/extend/", wrap(self.extend_view), name="rights_datarequest_extend"),
            path("<int:object_id>/refuse/", wrap(self.refuse_view), name="rights_datarequest_refuse"),
            path("<int:object_id>/link/", wrap(self.link_view), name="rights_datarequest_link"),
            path("<int:object_id>/assign/", wrap(self.assign_view), name="rights_datarequest_assign"),
            path("<int:object_id>/note/", wrap(self.note_view), name="rights_datarequest_note"),
            path("<int:object_id>/message/", wrap(self.message_view), name="rights_datarequest_message"),
            path(
                "<int:object_id>/matches/decide/",
                wrap(self.matches_decide_view),
                name="rights_datarequest_matches_decide",
            ),
            path("selfie/<int:selfie_id>/image/", wrap(self.selfie_image_view), name="rights_selfie_image"),
            path("match/<int:match_id>/image/", wrap(self.match_image_view), name="rights_match_image"),
            *super().get_urls(),
        ]

    # --- The request page ---

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        data_request = self.get_object(request, object_id)
        if data_request is None or not self.has_view_permission(request, data_request):
            return super().change_view(request, object_id, form_url, extra_context)
        panels = self._panels(request, data_request)
        if request.method == "GET" and panels["can_see_faces"]:
            self._record_biometric_view(request, data_request, panels)
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **panels})

    @staticmethod
    def _record_biometric_view(
        request: HttpRequest, data_request: DataRequest, panels: dict[str, Any]
    ) -> None:
        # The thumbnails the template will show (same conditions as change_form.html): staff
        # looking at selfies or candidate faces is itself processing of biometric data.
        selfie_ids = [s.id for s in panels["selfies"] if s.file and not s.purged_at]
        selfie_ids += [
            m.selfie_id for m in panels["matches"] if m.selfie and m.selfie.file and not m.selfie.purged_at
        ]
        image_ids = [m.image_id for m in panels["matches"] if m.image_id]
        if selfie_ids or image_ids:
            review_screen_view_record(
                request_id=data_request.id,
                user=request.user,
                selfie_ids=sorted(set(selfie_ids)),
                image_ids=image_ids,
            )

    def _panels(self, request: HttpRequest, data_request: DataRequest) -> dict[str, Any]:
        user = request.user
        now = timezone.now()
        reviewable = data_request.status in REVIEWABLE_STATUSES
        can_see_faces = user.has_perm("rights.review_match")
        open_request = not data_request.is_closed
        extension_possible = request_extension_refusal(request=data_request, now=now) is None
        return {
            "clock": {
                "received_at": data_request.received_at,
                "due_at": data_request.due_at,
                "extended_until": data_request.extended_until,
                "effective_due_at": clock.request_due_in_force(request=data_request, now=now),
                "badge": days_left_badge(data_request, now=now),
                "latest_extension": clock.latest_extension_for(due_at=data_request.due_at),
                "extension_possible": extension_possible,
                "paused_days": data_request.paused_seconds // 86400,
            },
            **review_context(request, data_request),
            **casework_context(request, data_request),
            "erasure_progress": erasure_progress(request=data_request),
            "erasure_waiting": erasure_waiting_for_access(request=data_request),
            "bands": request_bands(request=data_request),
            "selfies": list(data_request.selfies.order_by("id")),
            "events": list(data_request.events.order_by("id")),
            "answers": list(data_request.answers.order_by("created_at")),
            "earlier": list(data_request.earlier_requests.order_by("received_at")),
            "later": list(data_request.later_requests.order_by("received_at")),
            "notices": list(data_request.notices.select_related("recipient").order_by("id")),
            "can_see_faces": can_see_faces,
            "can_review": user.has_perm("rights.review_match") and reviewable,
            "can_approve": user.has_perm("rights.approve_request") and reviewable,
            "can_extend": user.has_perm("rights.extend_request") and extension_possible,
            "can_refuse": user.has_perm("rights.refuse_request") and open_request,
            "can_link": user.has_perm("rights.change_datarequest"),
            "extend_form": ExtendForm(),
            "refuse_form": RefuseForm(),
            "link_form": LinkForm(),
        }

    def _back(self, object_id: int) -> HttpResponseRedirect:
        return HttpResponseRedirect(request_url(object_id))

    # --- Actions (POST only; each checks its permission) ---

    @staticmethod
    def _refused(request: HttpRequest, error: Exception) -> None:
        message = error.message if isinstance(error, ActionRefused) else str(error)
        messages.error(request, gettext("Not done: %(reason)s") % {"reason": message})

    def approve_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return require_POST(self._approve)(request, object_id)

    def _approve(self, request: HttpRequest, object_id: int) -> HttpResponse:
        permission_require(request, "approve_request")
        try:
            request_approve(request_id=object_id, user=request.user)
        except (ReviewError, ActionRefused) as error:
            # Name what still waits as the review screen shows it, not by internal match ids.
            pending = pending_refusal_message(request_id=object_id)
            if pending:
                messages.error(request, gettext("Not done: %(reason)s") % {"reason": pending})
            else:
                self._refused(request, error)
        else:
            messages.success(
                request,
                gettext("Request #%(number)s approved: it is being carried out.") % {"number": object_id},
            )
        return self._back(object_id)

    def extend_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return require_POST(self._extend)(request, object_id)

    def _extend(self, request: HttpRequest, object_id: int) -> HttpResponse:
        permission_require(request, "extend_request")
        try:
            months = int(request.POST.get("months", ""))
        except ValueError:
            messages.error(request, gettext("Not done: choose 1 or 2 further months."))
            return self._back(object_id)
        try:
            extended = request_extend(
                request_id=object_id, user=request.user, months=months, reason=request.POST.get("reason", "")
            )
        except ActionRefused as error:
            self._refused(request, error)
        else:
            messages.success(
                request,
                gettext("Extended to %(until)s; the letter was sent.")
                % {"until": date_format(timezone.localtime(extended.extended_until), "d F Y")},
            )
        return self._back(object_id)

    def refuse_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return require_POST(self._refuse)(request, object_id)

    def _refuse(self, request: HttpRequest, object_id: int) -> HttpResponse:
        permission_require(request, "refuse_request")
        try:
            request_refuse(request_id=object_id, user=request.user, reason=request.POST.get("reason", ""))
        except ActionRefused as error:
            self._refused(request, error)
        else:
            messages.success(
                request,
                gettext("Request #%(number)s refused; the refusal letter was sent.") % {"number": object_id},
            )
        return self._back(object_id)

    def link_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return require_POST(self._link)(request, object_id)

    def _link(self, request: HttpRequest, object_id: int) -> HttpResponse:
        permission_require(request, "change_datarequest")
        form = LinkForm(request.POST)
        if not form.is_valid():
            messages.error(request, gettext("Not done: give the number of the earlier request."))
            return self._back(object_id)
        earlier_id = form.cleaned_data["earlier_id"]
        try:
            requests_link(request_id=object_id, earlier_id=earlier_id, user=request.user)
        except ActionRefused as error:
            self._refused(request, error)
        else:
            messages.success(
                request, gettext("Linked to earlier request #%(number)s.") % {"number": earlier_id}
            )
        return self._back(object_id)

    # --- Summary and compliance report ---

    def summary_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        figures = cnil_figures()
        today = timezone.localdate()
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Summary: CNIL figures"),
            "opts": self.model._meta,
            "figures": figures,
            "totals": figures.totals(),
            "chart": answered_chart(figures=figures),
            "charts": summary_charts(),
            "links": True,
            "notices_waiting": RecipientNotice.objects.filter(acknowledged_at__isnull=True).count(),
            "notices_waiting_contact": notices_without_contact().count(),
            "can_export": request.user.has_perm("rights.export_compliance_report"),
            "formats": FORMATS,
            "default_from": date(today.year, 1, 1).isoformat(),
            "default_to": today.isoformat(),
        }
        return TemplateResponse(request, "admin/rights/summary.html", context)

    def compliance_report_view(self, request: HttpRequest) -> HttpResponse:
        permission_require(request, "export_compliance_report")
        try:
            exported = compliance_report_export(
                date_from=report_date_parse(
                    value=request.GET.get("from", ""), name=pgettext("the period's first day", "From")
                ),
                date_to=report_date_parse(
                    value=request.GET.get("to", ""), name=pgettext("the period's last day", "To")
                ),
                format=request.GET.get("format", "html"),
                actor=actor_for(request.user),
                via="dashboard",
            )
        except ReportError as error:
            messages.error(request, gettext("Not done: %(reason)s") % {"reason": error})
            return HttpResponseRedirect(reverse("admin:rights_summary"))
        response = HttpResponse(exported.content, content_type=exported.content_type)
        response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
        response["Cache-Control"] = "private, no-store"
        return response
