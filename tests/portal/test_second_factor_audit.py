"""Every change to a staff second factor is in the audit trail: enrolment started and confirmed by its
owner (portal.staff_auth, through the enrolment page), and a device added, changed or removed by
another member of staff in the admin (rights.admin.accounts).

What each bad input gets: a wrong code, the enrolment form again (400) and no "confirmed" row; a
reload of the enrolment page, the same device and no second "started" row.
"""

from __future__ import annotations

import time

import pytest
import time_machine
from django.contrib.auth.models import User
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from rights.models import AuditEvent
from tests.portal.test_staff_auth import device_secret, password_login, totp
from tests.rights.staff_helpers import REVIEWER, staff_login, staff_user

pytestmark = pytest.mark.django_db

ENROL = reverse("staff_otp:enrol")
STARTED = "staff_second_factor_enrolment_started"
CONFIRMED = "staff_second_factor_confirmed"


def _rows(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_enrolling_and_confirming_a_device_write_one_audit_row_each(client):
    rita = staff_user(REVIEWER, username="rita")
    password_login(client, "rita")
    assert client.get(ENROL).status_code == 200
    assert client.get(ENROL).status_code == 200  # a reload: the same pending device, no second row
    device = TOTPDevice.objects.get(user=rita)
    (started,) = _rows(STARTED)
    assert started.actor == "staff:rita" and started.request_id is None
    assert started.detail == {"device_id": device.pk, "device": device.name, "user_id": rita.pk}

    wrong = "000000" if totp(device_secret(device)) != "000000" else "111111"
    assert client.post(ENROL, {"token": wrong}).status_code == 400
    assert _rows(CONFIRMED) == []  # a wrong code confirms nothing, and says so in no audit row

    with time_machine.travel(time.time() + 5):  # past django-otp's delay after a wrong code
        assert client.post(ENROL, {"token": totp(device_secret(device))}).status_code == 302
    (confirmed,) = _rows(CONFIRMED)
    assert confirmed.actor == "staff:rita" and confirmed.detail["device_id"] == device.pk
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert device.key not in str(started.detail) + str(confirmed.detail)  # never the secret


@pytest.fixture
def admin_client(client):
    boss = staff_user(None, username="boss")
    boss.is_superuser = True
    boss.save(update_fields=["is_superuser"])
    staff_login(client, boss)
    return client


def test_removing_a_device_in_the_admin_is_audited_with_who_and_what(admin_client):
    rita = staff_user(REVIEWER, username="rita")
    phone = TOTPDevice.objects.create(user=rita, name="phone", confirmed=True)
    url = reverse("admin:otp_totp_totpdevice_delete", args=[phone.pk])

    assert admin_client.post(url, {"post": "yes"}).status_code == 302

    assert not TOTPDevice.objects.filter(pk=phone.pk).exists()
    (row,) = _rows("staff_second_factor_deleted")
    assert row.actor == "staff:boss"
    assert row.detail == {
        "device_id": phone.pk,
        "device": "phone",
        "user_id": rita.pk,
        "name": "phone",
        "confirmed": True,
    }


def test_removing_devices_in_bulk_writes_a_row_per_device(admin_client):
    devices = [
        TOTPDevice.objects.create(user=staff_user(REVIEWER, username=name), name="app", confirmed=True)
        for name in ("rita", "rob")
    ]
    response = admin_client.post(
        reverse("admin:otp_totp_totpdevice_changelist"),
        {"action": "delete_selected", "_selected_action": [d.pk for d in devices], "post": "yes"},
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(pk__in=[d.pk for d in devices]).exists()
    rows = _rows("staff_second_factor_deleted")
    assert sorted(r.detail["device_id"] for r in rows) == sorted(d.pk for d in devices)
    assert {r.actor for r in rows} == {"staff:boss"}


def test_unconfirming_a_device_in_the_admin_is_audited_as_a_change(admin_client):
    rita = staff_user(REVIEWER, username="rita")
    phone = TOTPDevice.objects.create(user=rita, name="phone", confirmed=True)
    url = reverse("admin:otp_totp_totpdevice_change", args=[phone.pk])
    form = {
        "user": rita.pk,
        "name": "phone",
        "key": phone.key,
        "step": phone.step,
        "t0": phone.t0,
        "digits": phone.digits,
        "tolerance": phone.tolerance,
        "drift": phone.drift,
        "throttling_failure_count": 0,
    }  # "confirmed" left out: unticked

    response = admin_client.post(url, form)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert not TOTPDevice.objects.get(pk=phone.pk).confirmed
    (row,) = _rows("staff_second_factor_changed")
    assert row.actor == "staff:boss" and row.detail["confirmed"] == {"from": True, "to": False}
    assert User.objects.get(pk=rita.pk).is_active  # the account itself is untouched


def test_the_device_admin_never_shows_a_devices_key(admin_client):
    rita = staff_user(REVIEWER, username="rita")
    phone = TOTPDevice.objects.create(user=rita, name="phone", confirmed=True)

    page = admin_client.get(reverse("admin:otp_totp_totpdevice_change", args=[phone.pk]))

    assert page.status_code == 200
    assert phone.key not in page.content.decode()
