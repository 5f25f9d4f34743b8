"""Seeding helpers for the staff tests (clock, audit, roles, admin, CNIL, compliance)."""

from __future__ import annotations

import socket
from datetime import datetime
from typing import Any

from django.contrib.auth.models import Group, User
from django.utils import timezone

from rights.models import DataRequest, RequestKind, RequestStatus
from rights.services.clock import due_at_for

PRIVACY_OFFICER = "Privacy officer"
REVIEWER = "Reviewer"
VIEWER = "Viewer"
ROLES = [PRIVACY_OFFICER, REVIEWER, VIEWER]


def local(*args: int) -> datetime:
    """An aware datetime in settings.TIME_ZONE (Europe/Paris in the tests)."""
    return timezone.make_aware(datetime(*args))


def make_request(
    *,
    kind: str = RequestKind.ACCESS,
    status: str = RequestStatus.REVIEW,
    received_at: datetime | None = None,
    email: str = "person@example.org",
    **fields: Any,
) -> DataRequest:
    received_at = received_at or timezone.now()
    fields.setdefault("due_at", due_at_for(received_at=received_at))
    if status != RequestStatus.UNCONFIRMED:
        fields.setdefault("email_verified_at", received_at)
    return DataRequest.objects.create(
        kind=kind, status=status, email=email, received_at=received_at, **fields
    )


def staff_user(role: str | None, *, username: str | None = None) -> User:
    """A staff member in one of the roles created by the staff-roles migration (None: no role)."""
    user = User.objects.create_user(
        username=username or (role or "norole").lower().replace(" ", "_"),
        password="a long test password 1",
        is_staff=True,
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def closed_port() -> int:
    """A local TCP port nothing listens on: an SMTP server there refuses every connection."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def break_the_mail_server(settings) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = closed_port()
    settings.EMAIL_TIMEOUT = 5
