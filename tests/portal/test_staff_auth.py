"""Staff accounts: lockout after wrong passwords (admin login and API Basic auth), the second factor
required by role (enrolment on the first login, then a code every session), working-day sessions,
and the Content-Security-Policy on public and admin pages.

What each bad input gets: a wrong password, the lockout page (429, when to retry) from the limit on,
and the right password refused meanwhile; a wrong or malformed code, the form again (400) with the
reason and no access; Basic auth for a role that needs a second factor, 401 saying why.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time
from datetime import timedelta
from html.parser import HTMLParser

import pytest
import time_machine
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from tests.rights.staff_helpers import (
    PRIVACY_OFFICER,
    REVIEWER,
    VIEWER,
    make_request,
    staff_login,
    staff_user,
)

pytestmark = pytest.mark.django_db

PASSWORD = "a long test password 1"
LOGIN = reverse("admin:login")
INDEX = reverse("admin:index")
QUEUE = reverse("admin:rights_datarequest_changelist")


def totp(secret_b32: str, *, at: float | None = None) -> str:
    """RFC 6238 (30 s steps, 6 digits, SHA-1), computed here from the key, not by django-otp."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def device_secret(device: TOTPDevice) -> str:
    return base64.b32encode(bytes.fromhex(device.key)).decode().rstrip("=")


def password_login(client, username: str, password: str = PASSWORD, *, address: str = "127.0.0.1"):
    return client.post(
        LOGIN, {"username": username, "password": password, "next": INDEX}, REMOTE_ADDR=address
    )


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


# --- Lockout ------------------------------------------------------------------------------------


def test_forty_wrong_passwords_then_the_right_one_is_refused_at_the_admin_login(client):
    staff_user(VIEWER, username="vera")
    answers = [password_login(client, "vera", f"wrong {n}") for n in range(40)]
    assert answers[0].status_code == 200  # the login form again, with its error
    assert {a.status_code for a in answers[5:]} == {429}  # locked from the limit (5) on
    right = password_login(client, "vera")
    assert right.status_code == 429 and not logged_in(client)
    text = " ".join(right.content.decode().split())
    assert "Too many failed sign-ins" in text and "Try again in 30 minutes" in text
    assert right["Retry-After"] == str(30 * 60)
    # The account is locked from another address too; another account elsewhere is not.
    assert password_login(client, "vera", address="203.0.113.4").status_code == 429
    staff_user(VIEWER, username="walt")
    assert password_login(client, "walt", address="203.0.113.5").status_code == 302
    assert logged_in(client)


def test_the_lockout_ends_after_the_cool_off(client):
    staff_user(VIEWER, username="vera")
    for n in range(5):
        password_login(client, "vera", f"wrong {n}")
    assert password_login(client, "vera").status_code == 429
    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        assert password_login(client, "vera").status_code == 302


def _basic(username: str, password: str) -> dict:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


def test_forty_wrong_api_passwords_then_the_right_one_is_refused(client):
    staff_user(VIEWER, username="sync")
    api = APIClient()
    url = reverse("api:request-list")
    assert api.get(url, **_basic("sync", PASSWORD)).status_code == 200
    # DRF answers a failed Basic auth 403 (the session scheme comes first, so no WWW-Authenticate).
    assert {api.get(url, **_basic("sync", f"wrong {n}")).status_code for n in range(40)} == {403}
    assert api.get(url, **_basic("sync", PASSWORD)).status_code == 403
    # The same lock holds at the admin login: the failures were counted for the account.
    assert password_login(client, "sync", address="203.0.113.9").status_code == 429


# --- The second factor, by role -----------------------------------------------------------------


def test_a_reviewer_without_a_device_is_sent_to_enrolment_then_gets_in_with_a_code(client):
    staff_user(REVIEWER, username="rita")
    response = password_login(client, "rita")
    assert response.status_code == 302 and logged_in(client)
    blocked = client.get(QUEUE)
    assert blocked.status_code == 302 and blocked.url.startswith(reverse("staff_otp:enrol"))
    page = client.get(blocked.url)
    html = page.content.decode()
    assert page.status_code == 200 and '<figure class="otp-qr"><svg' in html
    assert_csp_holds(page)  # the QR code is made here: no inline script, no CDN
    uri = re.search(r"otpauth://totp/[^<\"]+", html).group(0)
    secret = re.search(r'class="otp-secret">([A-Z2-7]+)<', html).group(1)
    assert f"secret={secret}" in uri.replace("&amp;", "&")
    # A wrong code and a malformed one: the page again with the reason; still no admin page.
    assert (
        client.post(blocked.url, {"token": "000000" if totp(secret) != "000000" else "111111"}).status_code
        == 400
    )
    assert "6 digits" in client.post(blocked.url, {"token": "12ab"}).content.decode()
    assert client.get(QUEUE).status_code == 302
    with time_machine.travel(time.time() + 5):  # past django-otp's delay after a wrong code
        done = client.post(blocked.url, {"token": totp(secret), "next": QUEUE})
    assert done.status_code == 302 and done.url == QUEUE
    assert client.get(QUEUE).status_code == 200
    assert TOTPDevice.objects.get(user__username="rita").confirmed


def test_a_reviewer_with_a_device_gives_its_code_in_each_new_session(client):
    user = staff_user(REVIEWER, username="rita")
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    password_login(client, "rita")
    blocked = client.get(INDEX)
    assert blocked.status_code == 302 and blocked.url.startswith(reverse("staff_otp:verify"))
    assert client.get(reverse("staff_otp:enrol")).status_code == 302  # no second device this way
    wrong = client.post(
        blocked.url, {"token": "000000" if totp(device_secret(device)) != "000000" else "111111"}
    )
    assert wrong.status_code == 400 and client.get(INDEX).status_code == 302
    with time_machine.travel(time.time() + 5):  # past django-otp's delay after a wrong code
        assert client.post(blocked.url, {"token": totp(device_secret(device))}).status_code == 302
    assert client.get(INDEX).status_code == 200


@pytest.mark.parametrize("role", [PRIVACY_OFFICER, "superuser"])
def test_officers_and_superusers_need_the_second_factor_too(client, role):
    if role == "superuser":
        User.objects.create_superuser("root", password=PASSWORD)
    else:
        staff_user(role, username="root")
    password_login(client, "root")
    assert client.get(INDEX).url.startswith(reverse("staff_otp:enrol"))


def test_a_viewer_needs_no_second_factor(client):
    staff_user(VIEWER, username="vera")
    password_login(client, "vera")
    assert client.get(QUEUE).status_code == 200


def test_the_api_refuses_a_reviewers_basic_auth_and_unverified_session(client):
    staff_user(REVIEWER, username="rita")
    api = APIClient()
    refused = api.get(reverse("api:request-list"), **_basic("rita", PASSWORD))
    assert refused.status_code == 403 and "second factor" in refused.json()["detail"]
    password_login(client, "rita")
    assert client.get(reverse("api:request-list")).status_code == 403


def test_the_test_helper_gives_a_verified_session(client):
    staff_login(client, staff_user(REVIEWER))
    assert client.get(QUEUE).status_code == 200


# --- Sessions of a working day ------------------------------------------------------------------


def test_a_staff_session_ends_after_a_working_day(client):
    staff_user(VIEWER, username="vera")
    login = password_login(client, "vera")
    assert int(login.cookies["sessionid"]["max-age"]) == 9 * 3600
    with time_machine.travel(timezone.now() + timedelta(hours=8, minutes=50)):
        assert client.get(INDEX).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=9, minutes=10)):
        gone = client.get(INDEX)
        assert gone.status_code == 302 and gone.url.startswith(LOGIN)


# --- Content-Security-Policy ----------------------------------------------------------------------


class InlineCode(HTMLParser):
    """Inline <script>/<style> elements (with their nonce) and style="" attributes of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict] = []
        self.styles: list[dict] = []
        self.style_attributes: list[str] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and "src" not in attrs and attrs.get("type") != "application/json":
            self.scripts.append(attrs)
        if tag == "style":
            self.styles.append(attrs)
        if "style" in attrs:
            self.style_attributes.append(tag)
        self.handlers += [name for name in attrs if name.startswith("on")]


def assert_csp_holds(response) -> None:
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    page = InlineCode()
    page.feed(response.content.decode())
    assert page.scripts == [] and page.handlers == [] and page.style_attributes == []
    assert all(style.get("nonce") == nonce for style in page.styles), page.styles


def test_csp_on_public_pages(client):
    for url in (reverse("public:home"), reverse("public:request_new")):
        response = client.get(url)
        assert response.status_code == 200
        assert_csp_holds(response)
    assert "Content-Security-Policy" in client.get(reverse("public:status", args=["nothing"]))


def test_csp_on_admin_pages_including_ours_with_inline_styles(client):
    assert_csp_holds(client.get(LOGIN))
    staff_login(client, staff_user(PRIVACY_OFFICER))
    data_request = make_request()
    pages = [
        INDEX,
        QUEUE,
        reverse("admin:rights_summary"),
        reverse("admin:rights_datarequest_change", args=[data_request.id]),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_csp_holds(response)
    assert_csp_holds(client.get(reverse("staff_otp:verify")))
