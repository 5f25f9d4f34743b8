"""The dashboard's event endpoints screen: the privacy officer adds one (its secret shown once),
rotates its secret and deactivates it; a reviewer sees the list but changes nothing; an outsider
reaches nothing. A bad address is refused on the form with the reason."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from rights.models import AuditEvent, EventEndpoint
from rights.recipients.events import event_endpoint_create
from tests.rights.staff_helpers import PRIVACY_OFFICER, REVIEWER, staff_login, staff_user

pytestmark = pytest.mark.django_db

PUBLIC = "https://93.184.215.14/hooks/facerights"
ADD = reverse("admin:rights_eventendpoint_add")
LIST = reverse("admin:rights_eventendpoint_changelist")


@pytest.fixture
def officer(client):
    staff_login(client, staff_user(PRIVACY_OFFICER))
    return client


@pytest.fixture
def reviewer(client):
    staff_login(client, staff_user(REVIEWER))
    return client


@pytest.fixture
def endpoint():
    return event_endpoint_create(url=PUBLIC, events=["request.received"], actor="staff:someone")


def _change(pk: int) -> str:
    return reverse("admin:rights_eventendpoint_change", args=[pk])


def _rotate(pk: int) -> str:
    return reverse("admin:rights_eventendpoint_rotate", args=[pk])


def test_the_officer_adds_an_endpoint_and_sees_its_secret_once(officer):
    response = officer.post(
        ADD, {"url": PUBLIC, "description": "CRM", "events": ["request.received", "request.overdue"]}
    )
    assert response.status_code == 200
    endpoint = EventEndpoint.objects.get()
    page = response.content.decode()
    assert endpoint.secret in page and "shown only this once" in page
    assert "no-store" in response["Cache-Control"]
    assert endpoint.events == ["request.received", "request.overdue"] and endpoint.active
    assert AuditEvent.objects.filter(action="event_endpoint_created", actor="staff:privacy_officer").exists()
    # The change page and the list never show it again.
    assert endpoint.secret not in officer.get(_change(endpoint.pk)).content.decode()
    assert endpoint.secret not in officer.get(LIST).content.decode()


def test_the_officer_rotates_the_secret_by_post_only(officer, endpoint):
    old = endpoint.secret
    assert officer.get(_rotate(endpoint.pk)).status_code == 405
    response = officer.post(_rotate(endpoint.pk))
    endpoint.refresh_from_db()
    assert response.status_code == 200 and endpoint.secret != old
    assert endpoint.secret in response.content.decode() and old not in response.content.decode()
    assert (
        "The previous secret goes on signing every delivery beside this one until"
        in response.content.decode()
    )
    assert AuditEvent.objects.filter(action="event_endpoint_secret_rotated").count() == 1


def test_the_officer_deactivates_an_endpoint_and_cannot_delete_it(officer, endpoint):
    response = officer.post(
        _change(endpoint.pk), {"url": PUBLIC, "description": "", "events": ["request.received"]}
    )  # "active" unticked
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert not endpoint.active
    assert AuditEvent.objects.get(action="event_endpoint_changed").detail["changed"] == ["active"]
    delete = reverse("admin:rights_eventendpoint_delete", args=[endpoint.pk])
    assert officer.post(delete, {"post": "yes"}).status_code == 403
    assert EventEndpoint.objects.filter(pk=endpoint.pk).exists()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://93.184.215.14/hook", "must start with https://"),
        ("https://10.1.2.3/hook", "non-public address"),
        ("https://user:pw@93.184.215.14/hook", "user name or password"),
    ],
)
def test_a_bad_address_is_refused_on_the_form_with_the_reason(officer, settings, url, says):
    settings.NOTICE_WEBHOOK_ALLOW_PRIVATE = False
    response = officer.post(ADD, {"url": url, "description": "", "events": ["request.received"]})
    assert response.status_code == 200 and says in response.content.decode()
    assert not EventEndpoint.objects.exists()


def test_no_event_ticked_is_refused(officer):
    response = officer.post(ADD, {"url": PUBLIC, "description": ""})
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    assert not EventEndpoint.objects.exists()


def test_a_reviewer_sees_the_list_but_adds_changes_and_rotates_nothing(reviewer, endpoint):
    listed = reviewer.get(LIST)
    assert listed.status_code == 200 and PUBLIC in listed.content.decode()
    assert endpoint.secret not in listed.content.decode()
    assert reviewer.get(ADD).status_code == 403
    assert reviewer.post(ADD, {"url": PUBLIC, "events": ["request.received"]}).status_code == 403
    assert reviewer.post(_rotate(endpoint.pk)).status_code == 403
    reviewer.post(_change(endpoint.pk), {"url": PUBLIC, "events": ["request.answered"]})
    endpoint.refresh_from_db()
    assert endpoint.events == ["request.received"] and endpoint.active
    assert EventEndpoint.objects.get().secret == endpoint.secret


def test_an_outsider_reaches_nothing(client, endpoint):
    # Not signed in, then signed in without being staff: the login page each time, nothing changed.
    outsider = User.objects.create_user(username="outsider", password="a long test password 3")
    for signed_in in (False, True):
        if signed_in:
            client.force_login(outsider)
        assert client.get(LIST).status_code == 302
        assert client.post(_rotate(endpoint.pk)).status_code == 302
        assert client.post(ADD, {"url": PUBLIC, "events": ["request.received"]}).status_code == 302
    assert EventEndpoint.objects.count() == 1
    assert EventEndpoint.objects.get().secret == endpoint.secret
