"""The dashboard summary counts the erasure notices waiting for a recipient's contact."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from rights.models import Recipient, RequestKind, RequestStatus
from rights.recipients.notices import notices_create_for_erasure
from rights.recipients.recipients import CONTACT_UNKNOWN
from tests.rights import jobs_helpers
from tests.rights.staff_helpers import PRIVACY_OFFICER, staff_login, staff_user

pytestmark = pytest.mark.django_db


def test_the_summary_counts_notices_waiting_for_a_contact(client):
    request = jobs_helpers.make_request(kind=RequestKind.ERASURE, status=RequestStatus.FULFILLING)
    known = Recipient.objects.create(name="Known", contact_email="dpo@known.example")
    nameless = [
        Recipient.objects.create(name=f"Nameless {n}", contact_email=CONTACT_UNKNOWN) for n in range(2)
    ]
    image = jobs_helpers.make_image("shared")
    for recipient in [known, *nameless]:
        jobs_helpers.release(recipient, image)
    jobs_helpers.erase(request, image)
    notices_create_for_erasure(request_id=request.id)

    staff_login(client, staff_user(PRIVACY_OFFICER))
    html = client.get(reverse("admin:rights_summary")).content.decode()

    # Before the fix the summary had no such count (only "awaiting acknowledgement": 3).
    found = re.search(r'id="notices-waiting-contact">.*?>(\d+) erasure notices? waiting', html, re.S)
    assert found and int(found.group(1)) == 2
