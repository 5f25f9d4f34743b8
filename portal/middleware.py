"""Middleware for every page: the Content-Security-Policy, and the staff side's session rules and language."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation

from portal import staff_auth
from portal.staff_language import staff_language_stored


class ContentSecurityPolicyMiddleware:
    """CONTENT_SECURITY_POLICY on every response; ``request.csp_nonce`` for a page's inline <style>."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.csp_nonce = secrets.token_urlsafe(16)
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY.format(
                nonce=request.csp_nonce
            )
        return response


class StaffSecondFactorMiddleware:
    """Roles that need a second factor reach no admin page (nor the API through their session)
    until it is verified in this session: sent to enrol on a first login, else to give a code."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_staff:
            return self.get_response(request)
        admin_root = reverse("admin:index")
        if not self._guarded(request.path, admin_root) or not staff_auth.second_factor_required(user=user):
            return self.get_response(request)
        if user.is_verified():
            return self.get_response(request)
        if not request.path.startswith(admin_root):
            return JsonResponse({"detail": "Verify your second factor in the dashboard first."}, status=403)
        step = "verify" if staff_auth.second_factor_enrolled(user=user) else "enrol"
        return redirect(f"{reverse(f'staff_otp:{step}')}?{urlencode({'next': request.get_full_path()})}")

    @staticmethod
    def _guarded(path: str, admin_root: str) -> bool:
        if path.startswith("/api/"):
            return True
        if not path.startswith(admin_root):
            return False
        # The pages that lead to the second factor, and leaving.
        open_ = (
            reverse("admin:login"),
            reverse("admin:logout"),
            reverse("staff_otp:verify"),
            reverse("staff_otp:enrol"),
        )
        return path not in open_


class StaffLanguageMiddleware:
    """The admin pages of a signed-in staff member who chose a language on their account page are in
    that language (after LocaleMiddleware, which sets the browser's or the switcher's); every other
    page, and staff who have not chosen, keep the browser/switcher rule."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        staff = user is not None and user.is_authenticated and user.is_staff
        if staff and request.path.startswith(reverse("admin:index")):
            chosen = staff_language_stored(user=user)
            if chosen:
                translation.activate(chosen)
                request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)
