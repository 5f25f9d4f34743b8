"""The recipient form refuses a webhook on a non-public address, as the worker does at each send."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rights.models import Recipient
from tests.rights.staff_helpers import PRIVACY_OFFICER, staff_login, staff_user

pytestmark = pytest.mark.django_db


def _post(client, webhook_url: str):
    staff_login(client, staff_user(PRIVACY_OFFICER))
    return client.post(
        reverse("admin:rights_recipient_add"),
        {
            "name": "Hooked Ltd",
            "contact_email": "privacy@hooked.example",
            "webhook_url": webhook_url,
            "releases-TOTAL_FORMS": "0",
            "releases-INITIAL_FORMS": "0",
            "releases-MIN_NUM_FORMS": "0",
            "releases-MAX_NUM_FORMS": "1000",
        },
    )


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/hook", "http://169.254.169.254/", "http://10.1.2.3/x"]
)
def test_a_webhook_on_a_non_public_address_is_refused_with_the_reason(client, settings, url):
    settings.NOTICE_WEBHOOK_ALLOW_PRIVATE = False
    response = _post(client, url)
    # Before the fix the recipient was saved and the worker later posted to the address.
    assert response.status_code == 200
    assert "non-public address" in response.content.decode()
    assert not Recipient.objects.filter(name="Hooked Ltd").exists()


def test_with_the_setting_on_a_local_webhook_is_accepted(client, settings):
    settings.NOTICE_WEBHOOK_ALLOW_PRIVATE = True
    assert _post(client, "http://127.0.0.1:8000/hook").status_code == 302
    assert Recipient.objects.get(name="Hooked Ltd").webhook_url == "http://127.0.0.1:8000/hook"
