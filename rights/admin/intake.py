"""The dashboard's intake page: staff record a request received by email, post, phone or through an
authorised agent. It calls the form's own service (request_submit) with the channel, the date it was
received (the clock starts then) and the agent's evidence; the request then follows the same pipeline."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from rights.admin.common import permission_require, request_url
from rights.lifecycle.audit import actor_for
from rights.models import DataRequest, RequestChannel, RequestKind
from rights.requester.intake import Intake
from rights.requester.requests import RequestInvalid, request_submit

STAFF_CHANNELS = [c for c in RequestChannel.choices if c[0] not in (RequestChannel.WEB, RequestChannel.API)]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def clean(self, data, initial=None):  # type: ignore[no-untyped-def]
        single = super().clean
        return (
            [single(item, initial) for item in data]
            if isinstance(data, (list, tuple))
            else [single(data, initial)]
        )


class IntakeForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=STAFF_CHANNELS)
    received_at = forms.DateTimeField(
        label=_("Received at"),
        help_text=_("When it reached us (the statutory clock starts then), e.g. 2026-11-28 09:30."),
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=RequestKind.choices)
    email = forms.CharField(
        label=_("Email"), max_length=254, help_text=_("Where the confirmation and the answer go.")
    )
    language = forms.ChoiceField(
        label=_("Language"),
        choices=settings.LANGUAGES,
        help_text=_("The requester's language: every email, letter and answer to them is written in it."),
    )
    selfies = MultipleFileField(
        label=_("Selfies"), widget=MultipleFileInput(), help_text=_("The photos sent with the request.")
    )
    identifiers = forms.CharField(label=_("Identifiers"), widget=forms.Textarea, required=False)
    country = forms.CharField(label=_("Country"), max_length=2, required=False)
    suppression_consent = forms.BooleanField(label=_("Suppression consent"), required=False)
    agent_name = forms.CharField(label=_("Agent name"), max_length=200, required=False)
    agent_evidence = forms.FileField(
        label=_("Agent evidence"), required=False, help_text=_("The agent's mandate (PDF, JPEG or PNG).")
    )


def intake_view(request: HttpRequest) -> HttpResponse:
    """GET: the empty form; POST: the request recorded (then its page), or the form with each error."""
    permission_require(request, "add_datarequest")
    form = IntakeForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        evidence = data["agent_evidence"]
        try:
            created = request_submit(
                kind=data["kind"],
                email=data["email"],
                selfies=[f.read() for f in data["selfies"]],
                identifiers=data["identifiers"],
                country=data["country"],
                suppression_consent=data["suppression_consent"],
                language=data["language"],  # theirs, not the staff member's page language
                intake=Intake(
                    channel=data["channel"],
                    received_at=data["received_at"],
                    agent_name=data["agent_name"],
                    agent_evidence=evidence.read() if evidence else None,
                    recorded_by=actor_for(request.user),
                ),
            )
        except RequestInvalid as exc:
            for field, errors in exc.errors.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(
                request,
                gettext("Request %(reference)s recorded; the confirmation email went out.")
                % {"reference": created.reference},
            )
            return HttpResponseRedirect(request_url(created.id))
    context = {
        **admin.site.each_context(request),
        "title": gettext("Record a request received by email, post, phone or an agent"),
        "form": form,
        "opts": DataRequest._meta,
        "now": timezone.localtime(),
    }
    return TemplateResponse(request, "admin/rights/datarequest/intake.html", context)
