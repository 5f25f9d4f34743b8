"""The shared base of the v1 tests: an owner (the privacy officer, every action), a teammate (a
reviewer: reads and decides matches only) and an outsider (a signed-in account with no permission),
each calling with its own service token (never a password)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from PIL import Image as PILImage
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from tests.rights.staff_helpers import PRIVACY_OFFICER, REVIEWER, staff_user


@dataclass
class Caller:
    user: User
    client: APIClient


def _caller(user: User) -> Caller:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return Caller(user=user, client=client)


def grant(user: User, *codenames: str) -> None:
    for codename in codenames:
        app_label, code = codename.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=code))


@pytest.fixture(autouse=True)
def _rates(settings, monkeypatch) -> None:
    # The throttles stay on (every endpoint has them); rates high enough for a test's calls. DRF
    # reads the rates once, into the throttle classes: set them there.
    high = {k: "100000/min" for k in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", high)
    settings.LIMITS = {**settings.LIMITS, "api_user": "100000/h"}
    cache.clear()


@pytest.fixture
def owner(db) -> Caller:
    user = staff_user(PRIVACY_OFFICER, username="owner")
    grant(user, "rights.add_datarequest", "matching.add_image")
    return _caller(User.objects.get(pk=user.pk))


@pytest.fixture
def teammate(db) -> Caller:
    return _caller(staff_user(REVIEWER, username="teammate"))


@pytest.fixture
def outsider(db) -> Caller:
    return _caller(User.objects.create_user(username="outsider", password="a long test password 2"))


def jpeg(size: int = 480, colour: tuple[int, int, int] = (180, 140, 120)) -> io.BytesIO:
    """A plain JPEG the web process's decoder accepts (faces are checked later, by the worker)."""
    buffer = io.BytesIO()
    PILImage.new("RGB", (size, size), colour).save(buffer, format="JPEG")
    buffer.seek(0)
    buffer.name = "selfie.jpg"
    return buffer
