"""Abuse limits (portal.limits): each slows a flood with a 429 that says when to try again, writes
nothing, and leaves another person (another address, another email, another account) untouched.

A bad limit setting gets a clear ValueError naming it. No test here is timed: windows are moved
by passing ``now``, or by the frozen clock.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import threading
import uuid

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from portal import limits
from rights.models import DataRequest
from tests.portal.helpers import confirm_path, face_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def tight(settings):
    """Small limits so that a test needs few posts; the others as settings give them."""
    settings.LIMITS = {
        **settings.LIMITS,
        "request_posts": "4/h",
        "confirmation_mails": "2/h,3/d",
        "link_views": "3/10m",
        "status_posts": "2/h",
        "api_user": "3/m",
    }
    return settings.LIMITS


def _minutes_in(response) -> int:
    text = " ".join(response.content.decode().split())
    found = re.search(r"try again in (\d+) minutes?", text)
    assert found, text[:3000]
    return int(found.group(1))


def assert_try_again_later(response, *, at_most_minutes: int) -> None:
    """A 429 page saying "try again in N minutes" with a Retry-After that agrees."""
    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= at_most_minutes * 60
    assert _minutes_in(response) == -(-retry_after // 60)
    assert "never limits how many requests you may make" in " ".join(response.content.decode().split())


def _form(client, *, email: str, address: str) -> dict:
    page = client.get(reverse("public:request_new"), REMOTE_ADDR=address)
    key = re.search(r'name="form_key" value="([^"]+)"', page.content.decode()).group(1)
    return {
        "kind": "access",
        "email": email,
        "country": "FR",
        "form_key": key,
        "selfies": [SimpleUploadedFile("selfie.jpg", face_bytes(), content_type="image/jpeg")],
    }


def _post(client, *, email: str = "ana@example.org", address: str = "198.51.100.7"):
    data = _form(client, email=email, address=address)
    return client.post(reverse("public:request_new"), data, REMOTE_ADDR=address)


# --- The rule ------------------------------------------------------------------------------------


def test_rates_parse_and_a_bad_rate_is_refused_by_name():
    assert limits.rates_parse(spec="5/h, 20/d") == [limits.Rate(5, 3600), limits.Rate(20, 86400)]
    assert limits.rates_parse(spec="10/15m") == [limits.Rate(10, 900)]
    for bad in ("5", "five/h", "5/w", "0/h", "5/h,"):
        with pytest.raises(ValueError, match="COUNT/PERIOD"):
            limits.rates_parse(spec=bad)


def test_a_window_refuses_past_its_count_then_opens_again(tight):
    now = 3600 * 1000 + 10.0  # 10 s into an hour window
    for _ in range(2):
        limits.limit_take(scope="status_posts", key="a", now=now)
    with pytest.raises(limits.LimitExceeded) as refused:
        limits.limit_take(scope="status_posts", key="a", now=now)
    assert refused.value.retry_after == 3590
    limits.limit_take(scope="status_posts", key="b", now=now)  # another key: its own count
    limits.limit_take(scope="status_posts", key="a", now=now + 3600)  # the next window


def test_every_window_of_a_scope_counts(tight):
    """confirmation_mails is 2/h and 3/d: the day's count refuses even in a fresh hour."""
    day = 86400 * 500
    limits.limit_take(scope="confirmation_mails", key="x", now=day + 10)
    limits.limit_take(scope="confirmation_mails", key="x", now=day + 20)
    limits.limit_take(scope="confirmation_mails", key="x", now=day + 3600 + 10)
    with pytest.raises(limits.LimitExceeded) as refused:
        limits.limit_take(scope="confirmation_mails", key="x", now=day + 2 * 3600 + 10)
    assert refused.value.retry_after == 86400 - 2 * 3600 - 10


def test_check_counts_nothing_and_note_counts_without_refusing(tight):
    now = 3600 * 2000 + 5.0
    for _ in range(3):
        limits.limit_check(scope="status_posts", key="c", now=now)  # 2/h: nothing counted yet
    limits.limit_note(scope="status_posts", key="c", now=now)
    limits.limit_check(scope="status_posts", key="c", now=now)
    limits.limit_note(scope="status_posts", key="c", now=now)
    with pytest.raises(limits.LimitExceeded):
        limits.limit_check(scope="status_posts", key="c", now=now)
    limits.limit_note(scope="status_posts", key="c", now=now)  # what happened is counted, never refused


def test_an_empty_limit_is_off(settings):
    settings.LIMITS = {**settings.LIMITS, "status_posts": ""}
    for _ in range(50):
        limits.limit_take(scope="status_posts", key="a")


def test_one_mailbox_is_one_key():
    same = ["Ana@Example.org", " ana+rights@example.org", "ana@example.org"]
    assert {limits.email_key(email=e) for e in same} == {"ana@example.org"}
    assert limits.email_key(email="a.n.a+x@googlemail.com") == limits.email_key(email="ana@gmail.com")
    assert limits.email_key(email="a.na@example.org") != limits.email_key(email="ana@example.org")


def test_concurrent_hits_are_counted_exactly(tight):
    """Threads racing on the file cache: the lock lets exactly the limit through."""
    allowed, refused = [], []

    def hit() -> None:
        for _ in range(10):
            try:
                limits.limit_take(scope="request_posts", key="racer")
                allowed.append(1)
            except limits.LimitExceeded:
                refused.append(1)

    threads = [threading.Thread(target=hit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(allowed), len(refused)) == (4, 56)


def _redis_url() -> str:
    url = os.environ.get("CACHE_URL") or settings.CELERY_BROKER_URL
    return url if url.startswith("redis") else ""


@pytest.mark.skipif(not _redis_url(), reason="needs Redis (CACHE_URL or CELERY_BROKER_URL): the server pass")
def test_counts_in_redis_are_exact_under_racing_threads(tight, settings):
    """The production cache: Redis's atomic INCR, its TTL kept (own key prefix: nothing flushed)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _redis_url(),
            "KEY_PREFIX": f"test-limits-{uuid.uuid4().hex}",
        }
    }
    allowed = []

    def hit() -> None:
        for _ in range(10):
            try:
                limits.limit_take(scope="request_posts", key="racer")
                allowed.append(1)
            except limits.LimitExceeded:
                pass

    threads = [threading.Thread(target=hit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 4
    with pytest.raises(limits.LimitExceeded) as refused:
        limits.limit_take(scope="request_posts", key="racer")
    assert 0 < refused.value.retry_after <= 3600


def test_another_process_sees_the_same_counts(tight, tmp_path):
    """The counts live in the shared cache, not in one process's memory."""
    for _ in range(4):
        limits.limit_take(scope="request_posts", key="shared")
    cache = settings.CACHES["default"]
    script = (
        "import django, os, sys; django.setup(); from django.conf import settings; "
        f"settings.CACHES = {{'default': {cache!r}}}; "
        f"settings.LIMITS = {dict(settings.LIMITS)!r}; "
        f"settings.LIMITS_LOCK_FILE = {str(settings.LIMITS_LOCK_FILE)!r}; "
        "from portal import limits\n"
        "try:\n    limits.limit_take(scope='request_posts', key='shared')\nexcept limits.LimitExceeded:\n"
        "    sys.exit(3)\n"
    )
    env = {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "VAR_DIR": str(settings.VAR_DIR),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run([sys.executable, "-c", script], cwd=settings.BASE_DIR, env=env, capture_output=True)
    assert done.returncode == 3, done.stderr.decode()[-2000:]


def test_the_client_address_behind_trusted_proxies(rf, settings):
    spoofed = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.9"}
    settings.TRUSTED_PROXY_COUNT = 0
    assert limits.client_address(rf.get("/", **spoofed)) == "10.0.0.2"
    settings.TRUSTED_PROXY_COUNT = 1  # our proxy appended the real client; the rest is the client's
    assert limits.client_address(rf.get("/", **spoofed)) == "203.0.113.9"
    assert limits.client_address(rf.get("/", REMOTE_ADDR="10.0.0.2")) == "10.0.0.2"
    # Not an address (a proxy count set too high, a test request): the next thing known, or "".
    garbage = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "not-an-ip"}
    assert limits.client_address(rf.get("/", **garbage)) == "10.0.0.2"
    assert limits.client_address(rf.get("/", REMOTE_ADDR="")) == ""


# --- The public form -----------------------------------------------------------------------------


def test_form_posts_past_the_limit_from_one_address_get_429_and_when_to_retry(client, tight, mailoutbox):
    for _ in range(4):  # invalid posts count too: a flood need not be valid
        assert client.post(reverse("public:request_new"), {}, REMOTE_ADDR="198.51.100.7").status_code == 400
    refused = _post(client, address="198.51.100.7")
    assert_try_again_later(refused, at_most_minutes=60)
    assert DataRequest.objects.count() == 0 and mailoutbox == []  # the refused post wrote nothing
    # Another person, at another address, is not affected.
    assert _post(client, email="bo@example.org", address="203.0.113.50").status_code == 302
    assert len(mailoutbox) == 1


def test_confirmation_mails_to_one_mailbox_stay_bounded_whatever_the_addresses(client, tight, mailoutbox):
    """The issue's flood: many posts naming one victim's address, each from another address."""
    variants = ["victim@example.org", "Victim@example.org", "victim+1@example.org", "victim+2@example.org"]
    answers = [_post(client, email=email, address=f"198.51.100.{n}") for n, email in enumerate(variants, 1)]
    assert [a.status_code for a in answers] == [302, 302, 429, 429]
    assert_try_again_later(answers[2], at_most_minutes=60)
    assert len(mailoutbox) == 2  # bounded by the limit, not by the number of posts
    assert DataRequest.objects.count() == 2
    # Another mailbox is not affected.
    assert _post(client, email="someone.else@example.org", address="198.51.100.1").status_code == 302
    assert [m.to for m in mailoutbox][-1] == ["someone.else@example.org"]


def test_a_post_refused_for_its_photo_does_not_use_up_the_mailboxs_allowance(client, tight, mailoutbox):
    for n in range(3):
        data = _form(client, email="dee@example.org", address=f"198.51.100.{n + 20}")
        data["selfies"] = [SimpleUploadedFile("selfie.jpg", b"", content_type="image/jpeg")]
        assert (
            client.post(reverse("public:request_new"), data, REMOTE_ADDR=f"198.51.100.{n + 20}").status_code
            == 400
        )
    assert mailoutbox == []
    answers = [_post(client, email="dee@example.org", address=f"198.51.100.{n + 30}") for n in range(3)]
    assert [a.status_code for a in answers] == [302, 302, 429]  # the full allowance of 2, then the limit


# --- The status page -----------------------------------------------------------------------------


@pytest.fixture
def confirmed(client, mailoutbox, settings):
    assert _post(client, email="cleo@example.org", address="192.0.2.1").status_code == 302
    client.get(confirm_path(mailoutbox[-1]), REMOTE_ADDR="192.0.2.1")
    return DataRequest.objects.get(email="cleo@example.org")


def test_status_page_views_past_the_limit_get_429(client, tight, confirmed):
    url = reverse("public:status", args=[confirmed.public_token])
    # The confirmation link above was the address's first link view.
    assert [client.get(url, REMOTE_ADDR="192.0.2.1").status_code for _ in range(3)] == [200, 200, 429]
    assert_try_again_later(client.get(url, REMOTE_ADDR="192.0.2.1"), at_most_minutes=10)
    assert client.get(url, REMOTE_ADDR="192.0.2.99").status_code == 200  # another address


def test_guessing_status_links_is_slowed_too(client, tight):
    answers = [
        client.get(reverse("public:status", args=[f"guess{n}"]), REMOTE_ADDR="192.0.2.5") for n in range(4)
    ]
    assert [a.status_code for a in answers] == [404, 404, 404, 429]


def test_follow_up_posts_past_the_limit_get_429_and_are_not_counted(client, tight, confirmed):
    url = reverse("public:followup", args=[confirmed.public_token])
    assert [client.post(url, REMOTE_ADDR="192.0.2.1").status_code for _ in range(2)] == [302, 302]
    confirmed.refresh_from_db()
    recorded = confirmed.followups
    assert recorded >= 1
    assert client.post(url, REMOTE_ADDR="192.0.2.1").status_code == 429
    confirmed.refresh_from_db()
    assert confirmed.followups == recorded  # the refused one was not recorded
    assert client.post(url, REMOTE_ADDR="192.0.2.77").status_code == 302  # another address


# --- The API -------------------------------------------------------------------------------------


def _basic(user: str) -> dict:
    return {
        "HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{user}:a long test password 1".encode()).decode()
    }


@pytest.fixture
def viewers() -> list[User]:
    made = []
    for name in ("sync-one", "sync-two"):
        user = User.objects.create_user(name, password="a long test password 1", is_staff=True)
        user.groups.add(Group.objects.get(name="Viewer"))
        made.append(user)
    return made


def test_api_calls_past_an_accounts_limit_get_429_with_retry_after(tight, viewers):
    api = APIClient()
    url = reverse("api:request-list")
    assert [api.get(url, **_basic("sync-one")).status_code for _ in range(3)] == [200, 200, 200]
    refused = api.get(url, **_basic("sync-one"))
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert api.get(url, **_basic("sync-two")).status_code == 200  # another account
