"""The staff second factor: enrol an authenticator app on the first login, then give its code.

Both pages need a password login first (the admin's); StaffSessionMiddleware sends there every
account that needs a second factor and has not given it in this session.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.contrib.auth.decorators import user_passes_test
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login

from portal import staff_auth

_staff_only = user_passes_test(lambda user: user.is_active and user.is_staff, login_url="admin:login")


class TokenForm(forms.Form):
    token = forms.RegexField(
        regex=r"^\s*\d{6}\s*$",
        label=_("Code from your authenticator app"),
        error_messages={"invalid": _("Type the 6 digits your authenticator app shows.")},
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("admin:index")


def _render(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    # The admin's look without its menu: nothing of the dashboard shows before the second factor.
    base = {**admin.site.each_context(request), "available_apps": [], "is_nav_sidebar_enabled": False}
    return render(request, template, {**base, "next": _next(request), **context}, status=status)


@never_cache
@_staff_only
@require_http_methods(["GET", "POST"])
def enrol(request: HttpRequest) -> HttpResponse:
    user = request.user
    if staff_auth.second_factor_enrolled(user=user):
        return redirect(f"{reverse('staff_otp:verify')}?{urlencode({'next': _next(request)})}")
    device = staff_auth.device_for_enrolment(user=user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if staff_auth.device_confirm(device=device, token=form.cleaned_data["token"]):
            otp_login(request, device)
            return redirect(_next(request))
        form.add_error("token", gettext("That code is not the one the app shows now: type the current one."))
    context = {
        "title": gettext("Set up your second factor"),
        "form": form,
        "qr_svg": staff_auth.device_qr_svg(device=device),
        "secret": staff_auth.device_key_base32(device=device),
        "otpauth_uri": device.config_url,
    }
    return _render(request, "staff/otp_enrol.html", context, status=400 if form.errors else 200)


@never_cache
@_staff_only
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not staff_auth.second_factor_enrolled(user=user):
        return redirect(f"{reverse('staff_otp:enrol')}?{urlencode({'next': _next(request)})}")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = staff_auth.device_match(user=user, token=form.cleaned_data["token"])
        if device is not None:
            otp_login(request, device)
            return redirect(_next(request))
        form.add_error("token", gettext("That code is not valid (or too many wrong codes: wait a little)."))
    context = {"title": gettext("Your second factor"), "form": form}
    return _render(request, "staff/otp_verify.html", context, status=400 if form.errors else 200)


app_name = "staff_otp"
urlpatterns = [
    path("enrol/", enrol, name="enrol"),
    path("verify/", verify, name="verify"),
]
