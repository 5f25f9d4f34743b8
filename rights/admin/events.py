"""Event webhook endpoints (other systems told of request events): the privacy officer adds, changes,
deactivates them and rotates their secret; every role sees them, nobody sees a secret twice.

A secret is shown once, on the page that answers the creation or the rotation (never cached, never
put in a message or the session); the change page never shows it. Nothing is deleted: an endpoint
is retired by deactivating it, and its record stays.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_lazy as _

from rights.lifecycle.audit import actor_for
from rights.models import EventEndpoint, EventType
from rights.recipients.events import (
    EndpointInvalid,
    event_endpoint_create,
    event_endpoint_events_check,
    event_endpoint_rotate,
    event_endpoint_update,
    event_endpoint_url_check,
)

SECRET_TEMPLATE = "admin/rights/eventendpoint/secret.html"


class EventEndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        label=_("Events"), choices=EventType.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = EventEndpoint
        fields = ["url", "description", "events", "active"]
        help_texts = {
            "url": _(
                "https:// only. The host must resolve to public addresses (checked again at each send)."
            ),
            "active": _("An inactive endpoint gets nothing, not even deliveries queued before."),
        }

    def clean_url(self) -> str:
        # The service's rule, told to staff as they type the address.
        try:
            return event_endpoint_url_check(url=self.cleaned_data.get("url") or "")
        except EndpointInvalid as exc:
            raise forms.ValidationError(exc.errors["url"]) from None

    def clean_events(self) -> list[str]:
        try:
            return event_endpoint_events_check(events=self.cleaned_data.get("events") or [])
        except EndpointInvalid as exc:
            raise forms.ValidationError(exc.errors["events"]) from None


@admin.register(EventEndpoint)
class EventEndpointAdmin(admin.ModelAdmin):
    form = EventEndpointForm
    change_form_template = "admin/rights/eventendpoint/change_form.html"
    list_display = ["url", "description", "events_list", "active", "last_delivery_at", "last_delivery_status"]
    list_filter = ["active"]
    search_fields = ["url", "description"]
    readonly_fields = ["public_id", "created_at", "updated_at", "last_delivery_at", "last_delivery_status"]
    actions = None

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["url", "description", "events"]  # created active
        return ["url", "description", "events", "active", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else list(self.readonly_fields)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivated, never deleted: the record of who was told what stays

    @admin.display(description=_("Events"))
    def events_list(self, obj: EventEndpoint) -> str:
        # Staff read the events' labels; the receiving system gets the codes (request.received...).
        labels = dict(EventType.choices)
        return ", ".join(str(labels.get(event, event)) for event in obj.events)

    def save_model(
        self, request: HttpRequest, obj: EventEndpoint, form: forms.ModelForm, change: bool
    ) -> None:
        data = form.cleaned_data
        actor = actor_for(request.user)
        if change:
            changed = set(form.changed_data)
            event_endpoint_update(
                endpoint=obj,
                actor=actor,
                url=data["url"] if "url" in changed else None,
                events=data["events"] if "events" in changed else None,
                description=data["description"] if "description" in changed else None,
                active=data["active"] if "active" in changed else None,
            )
            return
        created = event_endpoint_create(
            url=data["url"], events=data["events"], description=data["description"], actor=actor
        )
        obj.pk, obj.public_id, obj.secret = created.pk, created.public_id, created.secret
        obj._state.adding = False

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        return None  # no relations; the services wrote everything

    def response_add(
        self, request: HttpRequest, obj: EventEndpoint, post_url_continue: Any = None
    ) -> HttpResponse:
        return self._secret_page(request, obj, created=True)

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/rotate/", wrap(self.rotate_view), name="rights_eventendpoint_rotate"),
            *super().get_urls(),
        ]

    def rotate_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """POST only: a new secret, shown on the page this answers with (and never again)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        endpoint = EventEndpoint.objects.filter(pk=object_id).first()
        if not self.has_change_permission(request, endpoint):
            raise PermissionDenied(_("This needs the rights.change_eventendpoint permission."))
        if endpoint is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, str(object_id))
        rotated = event_endpoint_rotate(endpoint=endpoint, actor=actor_for(request.user))
        return self._secret_page(request, rotated, created=False)

    def _secret_page(self, request: HttpRequest, endpoint: EventEndpoint, *, created: bool) -> HttpResponse:
        response = TemplateResponse(
            request,
            SECRET_TEMPLATE,
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("The endpoint's signing secret"),
                "endpoint": endpoint,
                "secret": endpoint.secret,
                "created": created,
                "change_url": reverse("admin:rights_eventendpoint_change", args=[endpoint.pk]),
            },
        )
        add_never_cache_headers(response)
        return response
