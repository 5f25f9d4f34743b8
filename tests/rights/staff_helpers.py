"""Seeding helpers for the staff tests (clock, audit, roles, admin, CNIL, compliance)."""

from __future__ import annotations

import copy
import importlib
import socket
from datetime import datetime
from typing import Any

import time_machine
from django.apps import apps as live_apps
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone

from matching.models import Image
from rights.lifecycle.audit import audit_record
from rights.models import Answer, DataRequest, RequestStatus
from rights.staff.actions import request_extend, request_refuse
from tests.factories import request_make as _request_make

PRIVACY_OFFICER = "Privacy officer"
REVIEWER = "Reviewer"
VIEWER = "Viewer"
ROLES = [PRIVACY_OFFICER, REVIEWER, VIEWER]


def local(*args: int) -> datetime:
    """An aware datetime in settings.TIME_ZONE (Europe/Paris in the tests)."""
    return timezone.make_aware(datetime(*args))


def make_request(**fields: Any) -> DataRequest:
    """tests.factories.request_make (an access request waiting for review unless told otherwise)."""
    return _request_make(**fields)


class _LiveApps:
    """The live app registry as the staff-roles migration expects its historical one (it marks the
    app configs it is given, so it gets copies)."""

    def get_app_config(self, label: str):
        return copy.copy(live_apps.get_app_config(label))

    def get_model(self, *args: Any, **kwargs: Any):
        return live_apps.get_model(*args, **kwargs)


def roles_ensure() -> None:
    """The roles the staff-roles migration creates, made again by that migration's own code when a
    transactional test's flush removed them (the flush recreates permissions, not migrations' rows)."""
    if Group.objects.filter(name__in=ROLES).count() == len(ROLES):
        return
    importlib.import_module("rights.migrations.0002_staff_roles").create_roles(_LiveApps(), None)


def staff_user(role: str | None, *, username: str | None = None) -> User:
    """A staff member in one of the roles created by the staff-roles migration (None: no role)."""
    user = User.objects.create_user(
        username=username or (role or "norole").lower().replace(" ", "_"),
        password="a long test password 1",
        is_staff=True,
    )
    if role:
        roles_ensure()
        user.groups.add(Group.objects.get(name=role))
    return user


def staff_login(client, user: User) -> None:
    """Log a staff member in as after both factors: the password (forced) and a confirmed TOTP
    device verified in this session, so that roles needing a second factor reach the admin pages."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    device = device or TOTPDevice.objects.create(user=user, name="test device", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


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


# --- One seeded history for the CNIL and compliance tests ----------------------------------------

NOW = (2024, 6, 15, 12, 0)  # the tests look at the seeded history from here
REFUSAL_REASON = (
    "The same person sent 40 identical access requests within one hour, each answered in full; "
    "this one repeats a request answered yesterday."
)
HOLD_REASON = "The access answer failed its completeness check: image 12 has no source URL"

# The seeded history's totals (test_cnil checks where each comes from; test_compliance, the report).
SEEDED_TOTALS = {
    "requests": 10,
    "unconfirmed": 2,
    "expired": 0,
    "open": 4,
    "answered": 6,
    "answered_in_time": 5,
    "answered_late": 1,
    "overdue_now": 1,
    "answered_after_followup": 1,
    "followed_up_open": 0,
    "held_access": 1,
    "erasure_verification_failed": 1,
    "held_other": 0,
    "refused": 1,
    "repeated": 1,
    "extended": 1,
    "searches": 2,
    "searches_not_whole_collection": 1,
}


def _answered(data_request: DataRequest, at: datetime, kind: str) -> None:
    DataRequest.objects.filter(id=data_request.id).update(
        status=RequestStatus.ANSWERED, answered_at=at, closed_at=at
    )
    Answer.objects.create(request=data_request, kind=kind, payload={})


def _audit(data_request: DataRequest, action: str, **fields: Any) -> None:
    with transaction.atomic():
        audit_record(actor="system", action=action, request_id=data_request.id, **fields)


def seed_history() -> dict[str, DataRequest]:
    """Requests on time, late, overdue, followed up, held, refused, repeated, extended, with a
    failed erasure, an incomplete search and two never confirmed; see test_cnil for the figures.
    Refusal and extension go through the real services, at the time they happened."""
    officer = User.objects.filter(username="seed_officer").first() or staff_user(
        PRIVACY_OFFICER, username="seed_officer"
    )
    images = [
        Image.objects.create(sha256=f"{n:064x}", collected_at=collected, width=10, height=10, file="")
        for n, collected in enumerate([local(2019, 6, 1), local(2023, 12, 31), local(2024, 5, 30)], start=1)
    ]
    Image.objects.filter(id__in=[images[0].id, images[1].id]).update(ingested_at=local(2024, 1, 15))
    Image.objects.filter(id=images[2].id).update(ingested_at=local(2024, 6, 1))

    seeded: dict[str, DataRequest] = {}
    seeded["on_time"] = make_request(
        received_at=local(2024, 3, 1, 10),
        searched_at=local(2024, 3, 2, 10),
        searched_collection_from=local(2019, 6, 1),
        searched_collection_to=local(2023, 12, 31),
        searched_collection_size=2,
    )
    _answered(seeded["on_time"], local(2024, 3, 20, 10), Answer.Kind.ACCESS_REPORT)

    seeded["late"] = make_request(kind="erasure", received_at=local(2024, 3, 5, 10))  # due 5 April
    _answered(seeded["late"], local(2024, 4, 10, 10), Answer.Kind.ERASURE_CERTIFICATE)

    seeded["overdue"] = make_request(received_at=local(2024, 4, 1, 10), status=RequestStatus.REVIEW)

    seeded["followed_up"] = make_request(received_at=local(2024, 4, 10, 10), followups=2)  # due 10 May
    _answered(seeded["followed_up"], local(2024, 5, 5, 10), Answer.Kind.ACCESS_REPORT)

    seeded["held"] = make_request(
        received_at=local(2024, 6, 1, 10), status=RequestStatus.HELD, hold_reason=HOLD_REASON
    )
    _audit(
        seeded["held"],
        "answer_held_incomplete",
        from_status="fulfilling",
        to_status="held",
        reason=HOLD_REASON,
    )

    seeded["refused"] = make_request(received_at=local(2024, 5, 1, 10), status=RequestStatus.REVIEW)
    with time_machine.travel(local(2024, 5, 10, 10), tick=False):
        request_refuse(request_id=seeded["refused"].id, user=officer, reason=REFUSAL_REASON)

    seeded["repeated"] = make_request(received_at=local(2024, 5, 20, 10))
    seeded["repeated"].earlier_requests.add(seeded["on_time"])
    _answered(seeded["repeated"], local(2024, 6, 5, 10), Answer.Kind.ACCESS_REPORT)

    seeded["extended"] = make_request(
        received_at=local(2024, 2, 1, 10), status=RequestStatus.REVIEW
    )  # due 1 Mar
    with time_machine.travel(local(2024, 2, 20, 10), tick=False):
        request_extend(
            request_id=seeded["extended"].id, user=officer, months=2, reason="Many requests at once."
        )
    _answered(seeded["extended"], local(2024, 4, 15, 10), Answer.Kind.ACCESS_REPORT)  # in time: 1 May

    seeded["erasure_failed"] = make_request(
        kind="erasure", received_at=local(2024, 6, 5, 10), status=RequestStatus.HELD
    )
    _audit(seeded["erasure_failed"], "erasure_verification_failed", reason="2 images still found")

    seeded["search_incomplete"] = make_request(
        received_at=local(2024, 5, 25, 10),
        status=RequestStatus.REVIEW,
        searched_at=local(2024, 5, 26, 10),
        searched_collection_from=local(2021, 1, 1),
        searched_collection_to=local(2023, 12, 31),
        searched_collection_size=1,
    )
    seeded["unconfirmed_old"] = make_request(
        received_at=local(2024, 1, 2, 10), status=RequestStatus.UNCONFIRMED
    )
    seeded["unconfirmed_new"] = make_request(
        received_at=local(2024, 6, 10, 10), status=RequestStatus.UNCONFIRMED
    )
    for key, value in seeded.items():
        seeded[key] = DataRequest.objects.get(id=value.id)
    return seeded
