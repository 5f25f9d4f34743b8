"""Staff accounts: who needs a second factor, TOTP enrolment and checks, the lockout page, and the
API's Basic auth (which cannot carry a second factor).

Reviewers and privacy officers see faces and decide on them, so their accounts need a TOTP device
(django-otp) verified in the session before any admin page (STAFF_SECOND_FACTOR_GROUPS, and every
superuser). Wrong passwords are counted by django-axes (settings: AXES_*).
"""

from __future__ import annotations

import base64
import math
from typing import Any

import segno
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django_otp import match_token
from django_otp.plugins.otp_totp.models import TOTPDevice
from drf_spectacular.authentication import BasicScheme
from rest_framework import authentication, exceptions

from rights.lifecycle.audit import actor_for, audit_record
from rights.models import AuditAction

DEVICE_NAME = "Authenticator app"


def second_factor_required(*, user: AbstractBaseUser) -> bool:
    """A superuser, or staff in a role that sees faces or decides (STAFF_SECOND_FACTOR_GROUPS)."""
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return False
    return user.is_superuser or user.groups.filter(name__in=settings.STAFF_SECOND_FACTOR_GROUPS).exists()


def second_factor_enrolled(*, user: AbstractBaseUser) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def _device_audit(*, device: TOTPDevice, action: AuditAction, reason: str) -> None:
    """The audit row of a change to a staff member's second factor, made by its owner."""
    audit_record(
        actor=actor_for(device.user),
        action=action,
        reason=reason,
        detail={"device_id": device.pk, "device": device.name, "user_id": device.user_id},
    )


def device_for_enrolment(*, user: AbstractBaseUser) -> TOTPDevice:
    """The account's pending (unconfirmed) device, made once so that a reload shows the same code."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    if device is not None:
        return device
    with transaction.atomic():  # the device and its audit row together
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
        _device_audit(
            device=device,
            action=AuditAction.STAFF_SECOND_FACTOR_ENROLMENT_STARTED,
            reason="second factor enrolment started (device made, not yet confirmed)",
        )
    return device


def device_confirm(*, device: TOTPDevice, token: str) -> bool:
    """Confirm a pending device with a code from the app; False (nothing changed) for a wrong code."""
    if device.confirmed or not device.verify_token(token.strip()):
        return False
    with transaction.atomic():
        # Conditional: two tabs confirming at once confirm (and audit) the device once.
        if not TOTPDevice.objects.filter(pk=device.pk, confirmed=False).update(confirmed=True):
            return False
        device.confirmed = True
        _device_audit(
            device=device,
            action=AuditAction.STAFF_SECOND_FACTOR_CONFIRMED,
            reason="second factor confirmed with a code from the app",
        )
    return True


def device_match(*, user: AbstractBaseUser, token: str) -> TOTPDevice | None:
    """The confirmed device that accepts this code (django-otp throttles repeated wrong codes)."""
    return match_token(user, token.strip())


def device_key_base32(*, device: TOTPDevice) -> str:
    """The secret as authenticator apps take it when typed in (no padding)."""
    return base64.b32encode(device.bin_key).decode().rstrip("=")


def device_qr_svg(*, device: TOTPDevice) -> str:
    """The otpauth:// URI as an inline SVG QR code, made here (no CDN, no script)."""
    return segno.make(device.config_url, error="m").svg_inline(
        scale=5, dark="#000", light="#fff", title=gettext("QR code for your authenticator app")
    )


def lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    """django-axes' AXES_LOCKOUT_CALLABLE: HTTP 429 saying when to try again."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    response = render(
        request,
        "staff/locked_out.html",
        {"minutes": max(1, math.ceil(seconds / 60)), "site_header": "facerights", "title": gettext("Locked")},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response


class BasicAuthentication(authentication.BasicAuthentication):
    """The API's Basic auth, refused to accounts that need a second factor (it cannot carry one)."""

    def authenticate_credentials(self, userid: str, password: str, request: Any = None) -> tuple:
        user, auth = super().authenticate_credentials(userid, password, request)
        if second_factor_required(user=user):
            raise exceptions.AuthenticationFailed(
                "This account needs a second factor, which Basic auth cannot carry: sign in to the "
                "dashboard, or give the calling system an account without the reviewer or privacy "
                "officer role."
            )
        return user, auth


class BasicAuthenticationScheme(BasicScheme):
    """The OpenAPI schema describes it as the HTTP Basic scheme it is."""

    target_class = "portal.staff_auth.BasicAuthentication"
