"""POST /api/v1/event-endpoints/<id>/rotate/: the owner gets a new secret (in this answer only; the
old one signs beside it for a day, and the answer says until when); a teammate or an outsider gets
403 and the secret stays."""

from __future__ import annotations

from datetime import datetime

import pytest

from rights.models import AuditEvent, EventEndpoint
from rights.recipients.events import event_endpoint_create


@pytest.fixture
def endpoint(db):
    return event_endpoint_create(url="https://93.184.215.14/h", events=["request.received"], actor="t")


def _url(endpoint) -> str:
    return f"/api/v1/event-endpoints/{endpoint.public_id}/rotate/"


@pytest.mark.django_db
def test_the_owner_rotates_and_gets_the_new_secret_once(owner, endpoint):
    response = owner.client.post(_url(endpoint))
    assert response.status_code == 200
    secret = response.json()["secret"]
    assert secret.startswith("whsec_") and secret != endpoint.secret
    stored = EventEndpoint.objects.get()
    assert stored.secret == secret and stored.previous_secret == endpoint.secret
    until = datetime.fromisoformat(response.json()["previous_secret_until"])
    assert until == stored.previous_secret_until
    assert endpoint.secret not in response.content.decode()  # the old secret is never shown again
    assert AuditEvent.objects.filter(action="event_endpoint_secret_rotated", actor="staff:owner").count() == 1


@pytest.mark.django_db
def test_a_teammate_and_an_outsider_get_403_and_the_secret_stays(teammate, outsider, endpoint):
    for caller in (teammate, outsider):
        assert caller.client.post(_url(endpoint)).status_code == 403
    assert EventEndpoint.objects.get().secret == endpoint.secret


@pytest.mark.django_db
def test_an_unknown_endpoint_is_404(owner):
    assert (
        owner.client.post("/api/v1/event-endpoints/00000000-0000-0000-0000-000000000000/rotate/").status_code
        == 404
    )
