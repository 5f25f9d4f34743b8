"""The dashboard's intake page (/admin/rights/datarequest/record/): a request received by post,
phone, email or an agent, recorded by staff with the date it was received."""

from __future__ import annotations

import io

import pytest
from django.utils import timezone
from PIL import Image as PILImage

from rights.models import DataRequest, RequestChannel
from tests.rights.api.conftest import grant as grant_perm
from tests.rights.staff_helpers import PRIVACY_OFFICER, REVIEWER, staff_login, staff_user

URL = "/admin/rights/datarequest/record/"


def _jpeg() -> io.BytesIO:
    buffer = io.BytesIO()
    PILImage.new("RGB", (480, 480), (170, 130, 110)).save(buffer, format="JPEG")
    buffer.seek(0)
    buffer.name = "letter-photo.jpg"
    return buffer


def _data(**changes):
    received = timezone.localtime() - timezone.timedelta(days=5)
    data = {
        "channel": "post",
        "received_at": received.strftime("%Y-%m-%d %H:%M"),
        "kind": "erasure",
        "email": "writer@example.org",
        "language": "en",
        "selfies": _jpeg(),
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.django_db
def test_officer_records_a_letter_and_the_clock_starts_when_it_arrived(client, mailoutbox):
    officer = staff_user(PRIVACY_OFFICER, username="officer")
    grant_perm(officer, "rights.add_datarequest")
    staff_login(client, officer)
    assert client.get(URL).status_code == 200
    response = client.post(URL, _data())
    assert response.status_code == 302, response.content.decode()[:2000]
    created = DataRequest.objects.get()
    assert created.channel == RequestChannel.POST and created.recorded_by == "staff:officer"
    # The date on the form (five days ago, to the minute), not when it was typed in.
    received = timezone.now() - timezone.timedelta(days=5)
    assert abs((created.received_at - received).total_seconds()) < 120
    assert created.due_at < timezone.now() + timezone.timedelta(days=28)  # a month from receipt
    assert len(mailoutbox) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"channel": "agent", "agent_name": "Rights Ltd"}, "evidence"),  # an agent without a mandate
        ({"received_at": "2999-01-01 10:00"}, "future"),
        ({"selfies": None}, "required"),
        ({"channel": "web"}, "valid choice"),  # the web form records itself
        ({"language": "klingon"}, "valid choice"),  # only the five languages answers are written in
    ],
)
def test_each_bad_input_is_shown_on_the_form_and_nothing_is_recorded(client, changes, message):
    officer = staff_user(PRIVACY_OFFICER, username="officer")
    grant_perm(officer, "rights.add_datarequest")
    staff_login(client, officer)
    response = client.post(URL, _data(**changes))
    assert response.status_code == 200 and message in response.content.decode()
    assert not DataRequest.objects.exists()


@pytest.mark.django_db
def test_the_requesters_language_is_stored_and_written_in_not_the_staff_members(client, mailoutbox):
    officer = staff_user(PRIVACY_OFFICER, username="officer")
    grant_perm(officer, "rights.add_datarequest")
    staff_login(client, officer)

    response = client.post(URL, _data(language="ja"), HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 302, response.content.decode()[:2000]
    assert DataRequest.objects.get().language == "ja"
    (email,) = mailoutbox
    assert any("\u3040" <= c <= "\u30ff" for c in email.body)  # kana: the confirmation is in Japanese


@pytest.mark.django_db
def test_a_reviewer_may_not_record_requests(client):
    reviewer = staff_user(REVIEWER, username="reviewer")
    staff_login(client, reviewer)
    assert client.get(URL).status_code == 403
    assert client.post(URL, _data()).status_code == 403
    assert not DataRequest.objects.exists()
