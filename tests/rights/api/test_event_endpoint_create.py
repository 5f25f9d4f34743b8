"""POST /api/v1/event-endpoints/create/: a service account with the officer's permission adds an event
endpoint; the answer carries its secret, once. Others get 403; bad input gets 400 and writes nothing."""

from __future__ import annotations

import pytest

from rights.models import AuditEvent, EventEndpoint

URL = "/api/v1/event-endpoints/create/"
PUBLIC = "https://93.184.215.14/hooks/crm"


@pytest.mark.django_db
def test_the_owner_adds_an_endpoint_and_gets_its_secret_once(owner):
    response = owner.client.post(URL, {"url": PUBLIC, "events": ["request.answered"]}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    endpoint = EventEndpoint.objects.get()
    assert body["secret"] == endpoint.secret and body["secret"].startswith("whsec_")
    assert body["id"] == str(endpoint.public_id) and body["events"] == ["request.answered"] and body["active"]
    assert AuditEvent.objects.filter(action="event_endpoint_created", actor="staff:owner").exists()
    # Read back: never the secret again.
    detail = owner.client.get(f"/api/v1/event-endpoints/{endpoint.public_id}/").json()
    assert "secret" not in detail and endpoint.secret not in str(detail)


@pytest.mark.django_db
def test_a_teammate_and_an_outsider_get_403_and_add_nothing(teammate, outsider):
    for caller in (teammate, outsider):
        response = caller.client.post(URL, {"url": PUBLIC, "events": ["request.answered"]}, format="json")
        assert response.status_code == 403 and response.json()["detail"]
    assert not EventEndpoint.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"url": "http://93.184.215.14/x", "events": ["request.answered"]}, "url", "https://"),
        ({"url": "https://10.0.0.7/x", "events": ["request.answered"]}, "url", "non-public address"),
        ({"url": "https://no-such-host.invalid/x", "events": ["request.answered"]}, "url", "resolved"),
        ({"url": PUBLIC, "events": []}, "events", ""),
        ({"url": PUBLIC, "events": ["request.deleted"]}, "events", "request.deleted"),
        ({"events": ["request.answered"]}, "url", ""),
    ],
)
def test_bad_input_is_400_saying_why_and_writes_nothing(owner, settings, body, field, says):
    settings.NOTICE_WEBHOOK_ALLOW_PRIVATE = False
    response = owner.client.post(URL, body, format="json")
    assert response.status_code == 400
    assert says in " ".join(response.json()["errors"][field])
    assert not EventEndpoint.objects.exists() and not AuditEvent.objects.exists()
