"""POST /api/v1/event-endpoints/<id>/update/: the owner changes what it gives (address, events,
description, active); a teammate or an outsider gets 403; bad input is 400 and changes nothing."""

from __future__ import annotations

import pytest

from rights.models import AuditEvent
from rights.recipients.events import event_endpoint_create


@pytest.fixture
def endpoint(db):
    return event_endpoint_create(url="https://93.184.215.14/h", events=["request.received"], actor="t")


def _url(endpoint) -> str:
    return f"/api/v1/event-endpoints/{endpoint.public_id}/update/"


@pytest.mark.django_db
def test_the_owner_changes_the_events_and_the_address(owner, endpoint):
    body = {"events": ["request.overdue", "request.answered"], "url": "https://93.184.215.15/new"}
    response = owner.client.post(_url(endpoint), body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["events"] == ["request.answered", "request.overdue"]
    endpoint.refresh_from_db()
    assert endpoint.url == "https://93.184.215.15/new" and "secret" not in response.json()
    assert AuditEvent.objects.get(action="event_endpoint_changed").detail["changed"] == ["events", "url"]


@pytest.mark.django_db
def test_a_teammate_and_an_outsider_get_403(teammate, outsider, endpoint):
    for caller in (teammate, outsider):
        assert caller.client.post(_url(endpoint), {"active": False}, format="json").status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.active


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [{"url": "http://93.184.215.14/x"}, {"events": []}, {"events": ["nope"]}, {"url": "https://[::1/x"}],
)
def test_bad_input_is_400_and_changes_nothing(owner, endpoint, body):
    response = owner.client.post(_url(endpoint), body, format="json")
    assert response.status_code == 400 and response.json()["errors"]
    endpoint.refresh_from_db()
    assert endpoint.url == "https://93.184.215.14/h" and endpoint.events == ["request.received"]
    assert not AuditEvent.objects.filter(action="event_endpoint_changed").exists()
