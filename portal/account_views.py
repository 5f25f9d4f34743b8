"""A staff member's own account page in the admin: the language of their admin pages and of the
emails sent to them.

Any active staff account reaches it (no permission needed: it changes only the account's own
choice), behind the admin's login and second factor (admin.site.admin_view).
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_http_methods

from portal.staff_language import StaffLanguageInvalid, staff_language_get, staff_language_set


class StaffLanguageForm(forms.Form):
    language = forms.ChoiceField(
        label=gettext_lazy("Language of the admin pages and of the emails sent to you"),
        choices=settings.LANGUAGES,
        help_text=gettext_lazy(
            "The admin pages are shown in it, and the reminders, escalations and alerts sent to your "
            "address are written in it. Mail to a team address is written in the portal's staff language."
        ),
        error_messages={
            "required": gettext_lazy("Choose one of the languages."),
            "invalid_choice": gettext_lazy("%(value)s is not one of the portal's languages."),
        },
    )


@require_http_methods(["GET", "POST"])
def account_view(request: HttpRequest) -> HttpResponse:
    """GET: the account's choices; POST: the language stored, then the page again."""
    user = request.user
    form = StaffLanguageForm(request.POST or None, initial={"language": staff_language_get(user=user)})
    if request.method == "POST" and form.is_valid():
        try:
            chosen = staff_language_set(user=user, language=form.cleaned_data["language"])
        except StaffLanguageInvalid as exc:
            form.add_error("language", str(exc))
        else:
            name = dict(settings.LANGUAGES)[chosen]
            # In the language just chosen: the page this redirects to is already in it.
            with translation.override(chosen):
                sentence = gettext("The admin pages and the emails sent to you will be in %(name)s.")
            messages.success(request, sentence % {"name": name})
            return HttpResponseRedirect(reverse("staff-account"))
    context = {
        **admin.site.each_context(request),
        "title": gettext("Your account"),
        "form": form,
        "email": user.email,
        "staff_language": dict(settings.LANGUAGES)[settings.STAFF_LANGUAGE],
    }
    return TemplateResponse(request, "staff/account.html", context, status=400 if form.errors else 200)
