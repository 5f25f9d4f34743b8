"""The privacy staff dashboard, in the Django admin.

Nothing here decides anything: every action calls a service (rights.staff.actions for extend,
refuse and link; rights.staff.review for match decisions and approval), which writes the audit
trail. Each action view checks its own permission on the server, whatever buttons the page shows.
Requests are never edited as forms: their fields only change through services.

Images (selfies and candidate matches) are served through views that check the permission; media
is never served directly. Faces are shown to those who review matches (reviewers and the privacy
officer), not to read-only viewers.
"""

from __future__ import annotations

import io
import logging
from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import SimpleListFilter
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from rights.lifecycle import clock
from rights.lifecycle.audit import actor_for, audit_record, review_screen_view_record
from rights.models import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    AuditEvent,
    DataRequest,
    ErasureRecord,
    Match,
    PurgeRecord,
    Recipient,
    RecipientNotice,
    Release,
    RequestStatus,
    Selfie,
)
from rights.reporting.cnil import cnil_figures
from rights.reporting.compliance import (
    FORMATS,
    ReportError,
    answered_chart,
    compliance_report_export,
    report_date_parse,
)
from rights.staff.actions import ActionRefused, request_extend, request_refuse, requests_link

logger = logging.getLogger(__name__)

DUE_SOON_DAYS = 7
# Decisions on matches are possible while staff hold the request (rights.staff.review).
REVIEWABLE_STATUSES = [RequestStatus.REVIEW, RequestStatus.HELD]
FACE_CROP_MARGIN = 0.6  # around the face box, as a share of its size


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(f"rights.{permission}"):
        raise PermissionDenied(f"This needs the rights.{permission} permission.")


def _effective_due_queryset(queryset: QuerySet[DataRequest]) -> QuerySet[DataRequest]:
    pending = Match.objects.filter(request=OuterRef("pk"), decision=Match.Decision.PENDING).exclude(
        band=Match.Band.MATCH
    )
    return queryset.annotate(effective_due=Coalesce("extended_until", "due_at"), needs_review=Exists(pending))


def _request_url(request_id: int) -> str:
    return reverse("admin:rights_datarequest_change", args=[request_id])


def _request_link(request_id: int | None) -> str:
    """A link to the request's page in the dashboard ("" when there is no request)."""
    if request_id is None:
        return ""
    return format_html('<a href="{}">#{}</a>', _request_url(request_id), request_id)


class ReadOnlyAdminMixin:
    """Nothing is added, changed or deleted through these pages: rows change only through services."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class _ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    actions = None


class _RequestLinkColumn:
    """The ``request_link`` column of a model with a ``request`` foreign key."""

    @admin.display(description="Request", ordering="request_id")
    def request_link(self, obj: Any) -> str:
        return _request_link(obj.request_id)


def days_left_badge(data_request: DataRequest, *, now: Any = None) -> str:
    """Days left until the effective due date: red when overdue, amber when due within 7 days."""
    if data_request.status == RequestStatus.EXPIRED:
        # Closed unanswered because it was never confirmed: neither answered nor late.
        return format_html('<span class="days-left closed expired">{}</span>', "never confirmed, expired")
    if data_request.is_closed:
        answered = data_request.answered_at or data_request.closed_at
        if answered and answered > data_request.effective_due_at:
            return format_html('<span class="days-left closed late">{}, late</span>', data_request.status)
        return format_html('<span class="days-left closed">{}</span>', data_request.status)
    if data_request.status == RequestStatus.UNCONFIRMED:
        return format_html('<span class="days-left unconfirmed">{}</span>', "email not confirmed")
    now = now or timezone.now()
    due = clock.request_due_in_force(request=data_request, now=now)
    left = clock.days_left(due_at=due, now=now)
    if clock.is_overdue(due_at=due, now=now):
        return format_html(
            '<span class="days-left overdue" style="color:#fff;background:#c62828;padding:1px 6px;'
            'border-radius:3px;font-weight:bold">{} day{} overdue</span>',
            -left,
            "" if -left == 1 else "s",
        )
    if left <= DUE_SOON_DAYS:
        return format_html(
            '<span class="days-left due-soon" style="color:#000;background:#ffb300;padding:1px 6px;'
            'border-radius:3px;font-weight:bold">{} day{} left</span>',
            left,
            "" if left == 1 else "s",
        )
    return format_html('<span class="days-left">{} days left</span>', left)


# --- Queue filters ------------------------------------------------------------------------------


class QueueFilter(SimpleListFilter):
    """Open requests by default: the queue is what is left to answer."""

    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("open", "Open"), ("closed", "Closed"), ("all", "All")]

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


class _YesFilter(SimpleListFilter):
    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

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
    return queryset.filter(status__in=OPEN_STATUSES).exclude(status=RequestStatus.UNCONFIRMED)


class OverdueFilter(_YesFilter):
    title = "overdue"
    parameter_name = "overdue"

    def matching(self, queryset: QuerySet) -> QuerySet:
        return clock.requests_overdue(queryset=_confirmed_open(queryset), now=timezone.now())


class DueThisWeekFilter(_YesFilter):
    title = "due within 7 days"
    parameter_name = "due_this_week"

    def matching(self, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        horizon = clock.end_of_local_day(day=timezone.localdate(now) + timedelta(days=DUE_SOON_DAYS))
        return clock.requests_due_between(
            queryset=_confirmed_open(queryset), start=now, end=horizon + timedelta(seconds=1), now=now
        )


class NeedsReviewFilter(_YesFilter):
    title = "needs review"
    parameter_name = "needs_review"

    def matching(self, queryset: QuerySet) -> QuerySet:
        return queryset.filter(status=RequestStatus.REVIEW) | queryset.filter(
            status__in=REVIEWABLE_STATUSES, needs_review=True
        )


class HeldFilter(_YesFilter):
    title = "held"
    parameter_name = "held"

    def matching(self, queryset: QuerySet) -> QuerySet:
        return queryset.filter(status=RequestStatus.HELD)


# --- Action forms -------------------------------------------------------------------------------


class ExtendForm(forms.Form):
    months = forms.TypedChoiceField(
        choices=[(1, "1 further month"), (2, "2 further months")], coerce=int, initial=2
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        required=False,
        help_text="Sent to the person with the new date and their right to complain.",
    )


class RefuseForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        required=False,
        help_text="Why the request is manifestly unfounded or excessive (Art. 12(5)). Sent to the person.",
    )


class LinkForm(forms.Form):
    earlier_id = forms.IntegerField(min_value=1, label="Earlier request #")


# --- Requests: the queue, the request page and its actions --------------------------------------


@admin.register(DataRequest)
class DataRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # Requests are created by people through the public form and changed only through services.
    list_display = ["request_link", "kind", "status", "received", "due", "days_left", "flags"]
    list_display_links = None
    list_filter = [
        QueueFilter,
        "kind",
        "status",
        OverdueFilter,
        DueThisWeekFilter,
        NeedsReviewFilter,
        HeldFilter,
    ]
    search_fields = ["=id", "=email"]
    list_per_page = 100
    change_form_template = "admin/rights/datarequest/change_form.html"
    change_list_template = "admin/rights/datarequest/change_list.html"
    fieldsets = [
        ("Request", {"fields": ["kind", "status", "email", "email_verified_at", "country", "identifiers"]}),
        (
            "Statutory clock",
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
            "Outcome",
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
            "Search",
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
        queryset = _effective_due_queryset(self.model._default_manager.get_queryset())
        return queryset.order_by(*self.get_ordering(request))

    def get_ordering(self, request: HttpRequest) -> list[str]:
        return ["effective_due", "id"]

    @admin.display(description="Request", ordering="id")
    def request_link(self, obj: DataRequest) -> str:
        return _request_link(obj.pk)

    @admin.display(description="Received", ordering="received_at")
    def received(self, obj: DataRequest) -> str:
        return timezone.localtime(obj.received_at).strftime("%Y-%m-%d")

    @admin.display(description="Due", ordering="effective_due")
    def due(self, obj: DataRequest) -> str:
        due = timezone.localtime(clock.request_due_in_force(request=obj)).strftime("%Y-%m-%d")
        return f"{due} (extended)" if obj.extended_until else due

    @admin.display(description="Days left", ordering="effective_due")
    def days_left(self, obj: DataRequest) -> str:
        return days_left_badge(obj)

    @admin.display(description="Flags")
    def flags(self, obj: DataRequest) -> str:
        flags = []
        if getattr(obj, "needs_review", False) or obj.status == RequestStatus.REVIEW:
            flags.append("needs review")
        if obj.followups:
            flags.append(f"asked again ({obj.followups} times)")
        if obj.status == RequestStatus.HELD:
            flags.append("held")
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
        matches = sorted(
            data_request.matches.select_related("decided_by", "selfie"),
            key=lambda m: (m.decision != Match.Decision.PENDING, -(m.score if m.score is not None else -1)),
        )
        reviewable = data_request.status in REVIEWABLE_STATUSES
        can_see_faces = user.has_perm("rights.review_match")
        open_request = not data_request.is_closed
        extension_possible = (
            open_request
            and data_request.status != RequestStatus.UNCONFIRMED
            and not data_request.extended_until
            and now
            <= clock.due_in_force(
                due_at=data_request.due_at, waiting_since=data_request.waiting_since, now=now
            )
        )
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
            "matches": matches,
            "pending_count": sum(1 for m in matches if m.decision == Match.Decision.PENDING),
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
        return HttpResponseRedirect(_request_url(object_id))

    # --- Actions (POST only; each checks its permission) ---

    @staticmethod
    def _refused(request: HttpRequest, error: Exception) -> None:
        message = error.message if isinstance(error, ActionRefused) else str(error)
        messages.error(request, f"Not done: {message}")

    def approve_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return require_POST(self._approve)(request, object_id)

    def _approve(self, request: HttpRequest, object_id: int) -> HttpResponse:
        _require(request, "approve_request")
        from rights.staff.review import ReviewError, request_approve

        try:
            request_approve(request_id=object_id, user=request.user)
        except (ReviewError, ActionRefused) as error:
            self._refused(request, error)
        else:
            messages.success(request, f"Request #{object_id} approved: it is being carried out.")
        return self._back(object_id)

    def extend_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return require_POST(self._extend)(request, object_id)

    def _extend(self, request: HttpRequest, object_id: int) -> HttpResponse:
        _require(request, "extend_request")
        try:
            months = int(request.POST.get("months", ""))
        except ValueError:
            messages.error(request, "Not done: choose 1 or 2 further months.")
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
                f"Extended to {timezone.localtime(extended.extended_until):%d %B %Y}; the letter was sent.",
            )
        return self._back(object_id)

    def refuse_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return require_POST(self._refuse)(request, object_id)

    def _refuse(self, request: HttpRequest, object_id: int) -> HttpResponse:
        _require(request, "refuse_request")
        try:
            request_refuse(request_id=object_id, user=request.user, reason=request.POST.get("reason", ""))
        except ActionRefused as error:
            self._refused(request, error)
        else:
            messages.success(request, f"Request #{object_id} refused; the refusal letter was sent.")
        return self._back(object_id)

    def link_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return require_POST(self._link)(request, object_id)

    def _link(self, request: HttpRequest, object_id: int) -> HttpResponse:
        _require(request, "change_datarequest")
        form = LinkForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Not done: give the number of the earlier request.")
            return self._back(object_id)
        earlier_id = form.cleaned_data["earlier_id"]
        try:
            requests_link(request_id=object_id, earlier_id=earlier_id, user=request.user)
        except ActionRefused as error:
            self._refused(request, error)
        else:
            messages.success(request, f"Linked to earlier request #{earlier_id}.")
        return self._back(object_id)

    def matches_decide_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return require_POST(self._matches_decide)(request, object_id)

    def _matches_decide(self, request: HttpRequest, object_id: int) -> HttpResponse:
        _require(request, "review_match")
        from rights.staff.review import ReviewError, match_confirm, match_reject, matches_decide

        decisions = {Match.Decision.CONFIRMED: match_confirm, Match.Decision.REJECTED: match_reject}
        try:
            single = request.POST.get("single")
            if single:  # one row's own button: "<match id>:<decision>"
                match_id, _, decision = single.partition(":")
                match = Match.objects.filter(id=int(match_id), request_id=object_id).first()
                if match is None or decision not in decisions:
                    raise ActionRefused("bad_match", "That match is not one of this request's.")
                decisions[decision](match_id=match.id, user=request.user)
                messages.success(request, f"Match {match.id} {decision}.")
            else:
                ids = [int(value) for value in request.POST.getlist("match_ids")]
                decision = request.POST.get("decision", "")
                if not ids:
                    raise ActionRefused("no_match", "Tick the matches to decide first.")
                if Match.objects.filter(id__in=ids, request_id=object_id).count() != len(set(ids)):
                    raise ActionRefused("bad_match", "Some of those matches are not this request's.")
                matches_decide(match_ids=ids, decision=decision, user=request.user)
                messages.success(request, f"{len(set(ids))} matches {decision}.")
        except (ReviewError, ActionRefused) as error:
            self._refused(request, error)
        except ValueError:
            messages.error(request, "Not done: the form was not understood.")
        return self._back(object_id)

    # --- Images, served through permission-checked views ---

    def selfie_image_view(self, request: HttpRequest, selfie_id: int) -> HttpResponse:
        _require(request, "review_match")
        selfie = Selfie.objects.filter(id=selfie_id).first()
        if selfie is None or not selfie.file or selfie.purged_at:
            raise Http404("No such selfie, or it has been purged.")
        return _image_response(selfie.file, bbox=selfie.face_bbox, crop=request.GET.get("crop") == "face")

    def match_image_view(self, request: HttpRequest, match_id: int) -> HttpResponse:
        _require(request, "review_match")
        match = Match.objects.select_related("image").filter(id=match_id).first()
        if match is None or match.image is None or not match.image.file:
            raise Http404("No such image: it may have been erased.")
        return _image_response(match.image.file, bbox=match.face_bbox, crop=request.GET.get("crop") == "face")

    # --- Summary and compliance report ---

    def summary_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        figures = cnil_figures()
        today = timezone.localdate()
        context = {
            **self.admin_site.each_context(request),
            "title": "Summary: CNIL figures",
            "opts": self.model._meta,
            "figures": figures,
            "totals": figures.totals(),
            "chart": answered_chart(figures=figures),
            "links": True,
            "notices_waiting": RecipientNotice.objects.filter(acknowledged_at__isnull=True).count(),
            "can_export": request.user.has_perm("rights.export_compliance_report"),
            "formats": FORMATS,
            "default_from": date(today.year, 1, 1).isoformat(),
            "default_to": today.isoformat(),
        }
        return TemplateResponse(request, "admin/rights/summary.html", context)

    def compliance_report_view(self, request: HttpRequest) -> HttpResponse:
        _require(request, "export_compliance_report")
        try:
            exported = compliance_report_export(
                date_from=report_date_parse(value=request.GET.get("from", ""), name="From"),
                date_to=report_date_parse(value=request.GET.get("to", ""), name="To"),
                format=request.GET.get("format", "html"),
                actor=actor_for(request.user),
                via="dashboard",
            )
        except ReportError as error:
            messages.error(request, f"Not done: {error}")
            return HttpResponseRedirect(reverse("admin:rights_summary"))
        response = HttpResponse(exported.content, content_type=exported.content_type)
        response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
        response["Cache-Control"] = "private, no-store"
        return response


def _image_response(file: Any, *, bbox: list[float] | None, crop: bool) -> HttpResponse:
    """The stored image, or a crop around the face; never cached, never a public URL."""
    from PIL import Image as PILImage

    try:
        file.open("rb")
        data = file.read()
    except (FileNotFoundError, OSError):
        raise Http404("The image file is missing.") from None
    finally:
        file.close()
    with PILImage.open(io.BytesIO(data)) as image:
        image_format = (image.format or "JPEG").upper()
        if crop and bbox:
            x1, y1, x2, y2 = bbox
            margin_x, margin_y = (x2 - x1) * FACE_CROP_MARGIN, (y2 - y1) * FACE_CROP_MARGIN
            box = (
                max(0, int(x1 - margin_x)),
                max(0, int(y1 - margin_y)),
                min(image.width, int(x2 + margin_x)),
                min(image.height, int(y2 + margin_y)),
            )
            out = io.BytesIO()
            image.convert("RGB").crop(box).save(out, format="JPEG", quality=90)
            data, image_format = out.getvalue(), "JPEG"
    content_type = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}.get(image_format)
    if content_type is None:
        out = io.BytesIO()
        with PILImage.open(io.BytesIO(data)) as image:
            image.convert("RGB").save(out, format="JPEG", quality=90)
        data, content_type = out.getvalue(), "image/jpeg"
    response = FileResponse(io.BytesIO(data), content_type=content_type)
    response["Cache-Control"] = "private, no-store"
    response["Content-Disposition"] = "inline"
    return response


# --- The audit trail: read-only for everyone ----------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(_RequestLinkColumn, _ReadOnlyAdmin):
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

    @admin.display(description="Status")
    def transition(self, obj: AuditEvent) -> str:
        return f"{obj.from_status} → {obj.to_status}" if obj.to_status else ""


# --- Recipients, releases and notices -----------------------------------------------------------


class ReleaseForm(forms.ModelForm):
    class Meta:
        model = Release
        fields = ["image", "released_at"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["image"].required = True


class ReleaseInline(admin.TabularInline):
    """Existing releases are shown as recorded; new ones are added through the recipients service."""

    model = Release
    form = ReleaseForm
    fields = ["image", "image_sha256", "released_at"]
    readonly_fields = ["image_sha256"]
    raw_id_fields = ["image"]
    extra = 0
    can_delete = False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a release is a record of the past: corrected by adding, not by editing


@admin.register(Recipient)
class RecipientAdmin(admin.ModelAdmin):
    list_display = ["name", "contact", "webhook_url", "releases_count", "notices_waiting"]
    search_fields = ["name"]
    inlines = [ReleaseInline]
    fields = ["name", "contact_email", "webhook_url"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Contact")
    def contact(self, obj: Recipient) -> str:
        from rights.recipients.recipients import recipient_contact_missing

        if recipient_contact_missing(recipient=obj):
            return format_html('<strong style="color:#c62828">{}</strong>', "missing: notices cannot be sent")
        return obj.contact_email

    def get_queryset(self, request: HttpRequest) -> QuerySet[Recipient]:
        # Counted in the list's one query, not one query per row.
        return (
            super()
            .get_queryset(request)
            .annotate(
                released=Count("releases", distinct=True),
                waiting=Count("notices", filter=Q(notices__acknowledged_at__isnull=True), distinct=True),
            )
        )

    @admin.display(description="Images released", ordering="released")
    def releases_count(self, obj: Recipient) -> int:
        return obj.released

    @admin.display(description="Notices awaiting acknowledgement", ordering="waiting")
    def notices_waiting(self, obj: Recipient) -> int:
        return obj.waiting

    def save_model(self, request: HttpRequest, obj: Recipient, form: forms.ModelForm, change: bool) -> None:
        from rights.recipients.recipients import recipient_get_or_create, recipient_update

        actor = actor_for(request.user)
        if change:
            recipient_update(recipient=obj, changed_fields=form.changed_data, actor=actor)
            return

        recipient, _ = recipient_get_or_create(
            name=obj.name, contact_email=obj.contact_email, webhook_url=obj.webhook_url, actor=actor
        )
        obj.pk = recipient.pk
        obj._state.adding = False

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        if formset.model is not Release:
            return super().save_formset(request, form, formset, change)
        from rights.recipients.recipients import releases_record

        by_time: dict[Any, list[int]] = {}
        for release_form in formset.forms:
            if release_form.instance.pk or not release_form.has_changed():
                continue
            data = release_form.cleaned_data
            by_time.setdefault(data["released_at"], []).append(data["image"].pk)
        for released_at, image_ids in by_time.items():
            releases_record(
                recipient=form.instance,
                image_ids=image_ids,
                released_at=released_at,
                actor=actor_for(request.user),
            )
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        return None


class AcknowledgedFilter(_YesFilter):
    title = "acknowledged"
    parameter_name = "acknowledged"

    def matching(self, queryset: QuerySet) -> QuerySet:
        return queryset.filter(acknowledged_at__isnull=False)


@admin.register(RecipientNotice)
class RecipientNoticeAdmin(_RequestLinkColumn, _ReadOnlyAdmin):
    list_display = [
        "id",
        "request_link",
        "recipient",
        "images",
        "created_at",
        "sent_at",
        "state",
        "chase_count",
        "last_chased_at",
    ]
    list_filter = [AcknowledgedFilter, "recipient"]
    # Never the ack token: it is the recipient's key to acknowledge.
    fields = [
        "request",
        "recipient",
        "image_hashes",
        "created_at",
        "sent_at",
        "webhook_delivered_at",
        "acknowledged_at",
        "chase_count",
        "last_chased_at",
    ]
    readonly_fields = fields

    @admin.display(description="Images")
    def images(self, obj: RecipientNotice) -> int:
        return len(obj.image_hashes or [])

    @admin.display(description="State")
    def state(self, obj: RecipientNotice) -> str:
        if obj.acknowledged_at:
            return format_html(
                '<span class="notice acknowledged">acknowledged {}</span>', f"{obj.acknowledged_at:%Y-%m-%d}"
            )
        if not obj.sent_at:
            return format_html('<span class="notice unsent" style="color:#c62828">{}</span>', "not sent yet")
        chased = f", chased {obj.chase_count} times" if obj.chase_count else ""
        return format_html(
            '<span class="notice waiting" style="color:#e69500">awaiting acknowledgement since {}{}</span>',
            f"{obj.sent_at:%Y-%m-%d}",
            chased,
        )


# --- Ledgers: read-only ------------------------------------------------------------------------


@admin.register(ErasureRecord)
class ErasureRecordAdmin(_ReadOnlyAdmin):
    list_display = ["id", "request", "image_id", "image_sha256", "erased_at", "removed"]
    search_fields = ["=request__id", "=image_sha256"]

    @admin.display(description="Removed from")
    def removed(self, obj: ErasureRecord) -> str:
        return format_html_join(", ", "{}", ((str(place),) for place in obj.removed_from or []))


@admin.register(PurgeRecord)
class PurgeRecordAdmin(_ReadOnlyAdmin):
    list_display = ["id", "request", "purged_at", "what"]
    search_fields = ["=request__id"]


# --- Staff accounts and roles: every change through the admin is in the audit trail -------------


def _names(queryset: QuerySet) -> set[str]:
    return {str(item) for item in queryset}


def _permission_names(queryset: QuerySet) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in queryset.select_related("content_type")}


class _AuditedAccountsAdmin:
    """Adds an audit row to every addition, change and deletion of a staff account or role.

    Who gets which role is a staff action like any other (issue 4, item 9). The row is written in
    the transaction of the change (the admin's add, change and delete views are atomic; the
    password and bulk-delete paths are made so here), with the actor, the object and what changed:
    roles and permissions added or removed, and the flags before and after.
    """

    audit_noun = ""
    audit_flags: tuple[str, ...] = ()

    def audit_snapshot(self, obj: Any) -> dict[str, Any]:
        raise NotImplementedError

    def audit_identity(self, obj: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _audit(self, request: HttpRequest, obj: Any, verb: str, detail: dict[str, Any]) -> None:
        audit_record(
            actor=actor_for(request.user),
            action=f"{self.audit_noun}_{verb}",
            reason=f"{self.audit_noun.replace('_', ' ')} {verb} in the admin",
            detail={**self.audit_identity(obj), **detail},
        )

    def _difference(self, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        detail: dict[str, Any] = {}
        for key, now in after.items():
            was = before.get(key, set() if isinstance(now, set) else None)
            if isinstance(now, set):
                if now - was:
                    detail[f"{key}_added"] = sorted(now - was)
                if was - now:
                    detail[f"{key}_removed"] = sorted(was - now)
            elif was != now:
                detail[key] = {"from": was, "to": now}
        return detail

    @staticmethod
    def _as_recorded(snapshot: dict[str, Any]) -> dict[str, Any]:
        """What the account or role was when deleted."""
        return {key: sorted(value) if isinstance(value, set) else value for key, value in snapshot.items()}

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        obj._audit_before = self.audit_snapshot(obj) if change and obj.pk else {}
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        obj = form.instance
        obj._audit_detail = self._difference(getattr(obj, "_audit_before", {}), self.audit_snapshot(obj))

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        entry = super().log_addition(request, obj, message)
        self._audit(request, obj, "added", getattr(obj, "_audit_detail", {}))
        return entry

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        entry = super().log_change(request, obj, message)
        changed = [field for part in message or [] for field in part.get("changed", {}).get("fields", [])]
        self._audit(request, obj, "changed", {"fields": changed, **getattr(obj, "_audit_detail", {})})
        return entry

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            self._audit(request, obj, "deleted", self._as_recorded(self.audit_snapshot(obj)))
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with transaction.atomic():
            for obj in queryset:
                self._audit(request, obj, "deleted", self._as_recorded(self.audit_snapshot(obj)))
            super().delete_queryset(request, queryset)


class AuditedUserAdmin(_AuditedAccountsAdmin, UserAdmin):
    audit_noun = "staff_user"

    def audit_identity(self, obj: Any) -> dict[str, Any]:
        return {"user_id": obj.pk, "username": obj.get_username()}

    def audit_snapshot(self, obj: Any) -> dict[str, Any]:
        if not obj.pk:
            return {}
        fresh = type(obj)._default_manager.get(pk=obj.pk)
        return {
            "is_active": fresh.is_active,
            "is_staff": fresh.is_staff,
            "is_superuser": fresh.is_superuser,
            "groups": _names(fresh.groups.all()),
            "permissions": _permission_names(fresh.user_permissions.all()),
        }

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        # The new password and its audit row (written by log_change) in one transaction.
        with transaction.atomic():
            return super().user_change_password(request, id, form_url)


class AuditedGroupAdmin(_AuditedAccountsAdmin, GroupAdmin):
    audit_noun = "staff_role"

    def audit_identity(self, obj: Any) -> dict[str, Any]:
        return {"group_id": obj.pk, "group": obj.name}

    def audit_snapshot(self, obj: Any) -> dict[str, Any]:
        if not obj.pk:
            return {}
        fresh = type(obj)._default_manager.get(pk=obj.pk)
        return {"name": fresh.name, "permissions": _permission_names(fresh.permissions.all())}


for _model, _admin_class in ((User, AuditedUserAdmin), (Group, AuditedGroupAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _admin_class)
