"""Recipients, the releases of images to them, and the Art. 19 notices sent to them."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from rights.admin.common import ReadOnlyAdmin, RequestLinkColumn
from rights.admin.filters import AcknowledgedFilter
from rights.lifecycle.audit import actor_for
from rights.models import (
    Recipient,
    RecipientNotice,
    Release,
)
from rights.recipients.notices import WebhookError, webhook_addresses_check
from rights.recipients.recipients import (
    recipient_contact_missing,
    recipient_get_or_create,
    recipient_update,
    releases_record,
)

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


class RecipientForm(forms.ModelForm):
    class Meta:
        model = Recipient
        fields = ["name", "contact_email", "webhook_url"]

    def clean_webhook_url(self) -> str:
        # The rule the worker applies at each send, told to staff when they type the address.
        url = self.cleaned_data.get("webhook_url") or ""
        if url:
            try:
                webhook_addresses_check(url=url)
            except WebhookError as exc:
                raise forms.ValidationError(str(exc)) from None
        return url


@admin.register(Recipient)
class RecipientAdmin(admin.ModelAdmin):
    form = RecipientForm
    list_display = ["name", "contact", "webhook_url", "releases_count", "notices_waiting"]
    search_fields = ["name"]
    inlines = [ReleaseInline]
    fields = ["name", "contact_email", "webhook_url"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("Contact"))
    def contact(self, obj: Recipient) -> str:
        if recipient_contact_missing(recipient=obj):
            missing = gettext("missing: notices cannot be sent")
            return format_html('<strong style="color:#c62828">{}</strong>', missing)
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

    @admin.display(description=_("Images released"), ordering="released")
    def releases_count(self, obj: Recipient) -> int:
        return obj.released

    @admin.display(description=_("Notices awaiting acknowledgement"), ordering="waiting")
    def notices_waiting(self, obj: Recipient) -> int:
        return obj.waiting

    def save_model(self, request: HttpRequest, obj: Recipient, form: forms.ModelForm, change: bool) -> None:
        actor = actor_for(request.user)
        if change:
            recipient_update(recipient=obj, changed_fields=form.changed_data, actor=actor)
            return

        recipient, _created = recipient_get_or_create(
            name=obj.name, contact_email=obj.contact_email, webhook_url=obj.webhook_url, actor=actor
        )
        obj.pk = recipient.pk
        obj._state.adding = False

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        if formset.model is not Release:
            return super().save_formset(request, form, formset, change)
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


@admin.register(RecipientNotice)
class RecipientNoticeAdmin(RequestLinkColumn, ReadOnlyAdmin):
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

    @admin.display(description=_("Images"))
    def images(self, obj: RecipientNotice) -> int:
        return len(obj.image_hashes or [])

    @admin.display(description=_("State"))
    def state(self, obj: RecipientNotice) -> str:
        # The same sentences as the request page's recipient notices (change_form.html).
        if obj.acknowledged_at:
            acknowledged = gettext("acknowledged %(on)s") % {"on": f"{obj.acknowledged_at:%Y-%m-%d}"}
            return format_html('<span class="notice acknowledged">{}</span>', acknowledged)
        if not obj.sent_at:
            unsent = gettext("not sent yet")
            return format_html('<span class="notice unsent" style="color:#c62828">{}</span>', unsent)
        since = f"{obj.sent_at:%Y-%m-%d}"
        if obj.chase_count:
            waiting = ngettext(
                "awaiting acknowledgement since %(since)s, chased %(times)s time",
                "awaiting acknowledgement since %(since)s, chased %(times)s times",
                obj.chase_count,
            ) % {"since": since, "times": obj.chase_count}
        else:
            waiting = gettext("awaiting acknowledgement since %(since)s") % {"since": since}
        return format_html('<span class="notice waiting" style="color:#e69500">{}</span>', waiting)
