"""POST /api/v1/event-endpoints/<id>/deactivate/: the owner retires an endpoint (it gets nothing more,
its record stays); a teammate or an outsider gets 403; running it twice changes nothing more."""

from __future__ import annotations

import pytest

from rights.models import AuditEvent, EventEndpoint, TaskOutbox
from rights.recipients.events import event_endpoint_create
from tests.rights.staff_helpers import make_request


@pytest.fixture
def endpoint(db):
    return event_endpoint_create(url="https://93.184.215.14/h", events=["request.received"], actor="t")


def _url(endpoint) -> str:
    return f"/api/v1/event-endpoints/{endpoint.public_id}/deactivate/"


@pytest.mark.django_db
def test_the_owner_deactivates_and_the_endpoint_gets_nothing_more(owner, endpoint):
    response = owner.client.post(_url(endpoint))
    assert response.status_code == 200 and response.json()["active"] is False
    assert owner.client.post(_url(endpoint)).status_code == 200  # twice: no second audit row
    assert AuditEvent.objects.filter(action="event_endpoint_changed").count() == 1
    assert EventEndpoint.objects.filter(pk=endpoint.pk, active=False).exists()
    from rights.lifecycle.enqueue import event_webhooks_enqueue

    event_webhooks_enqueue(event="request.received", request_id=make_request().id)
    assert not TaskOutbox.objects.filter(name="rights.jobs.event_deliver_task").exists()


@pytest.mark.django_db
def test_a_teammate_and_an_outsider_get_403(teammate, outsider, endpoint):
    for caller in (teammate, outsider):
        assert caller.client.post(_url(endpoint)).status_code == 403
    assert EventEndpoint.objects.get().active
