"""Event webhooks (request received, answered, overdue) to the active EventEndpoints that want them,
each signed with its own endpoint's secret (Standard Webhooks), reaching a real local HTTP server;
the task run twice, for a request or endpoint gone, an inactive or unsubscribed endpoint, or failing."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from django.utils import timezone

from portal.celery import app
from rights.jobs import event_deliver_task, event_webhook_task
from rights.lifecycle.transitions import request_transition
from rights.lifecycle.webhooks import webhook_verify
from rights.models import DataRequest, EventEndpoint, RequestStatus, TaskOutbox
from rights.recipients.events import event_endpoint_create, event_endpoint_update
from rights.recipients.notices import WebhookError
from rights.upkeep.deadlines import request_escalate
from tests.rights.api.conftest import jpeg
from tests.rights.jobs_helpers import server_url, webhook_server
from tests.rights.staff_helpers import make_request

ALL = ["request.received", "request.answered", "request.overdue"]


@pytest.fixture
def eager():
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False
    app.conf.task_eager_propagates = False


@pytest.fixture
def local_hooks(settings):
    settings.NOTICE_WEBHOOK_ALLOW_PRIVATE = True  # the receivers are on 127.0.0.1


def _endpoint(server, events=ALL, path="/hook") -> EventEndpoint:
    return event_endpoint_create(url=server_url(server, path), events=events, actor="staff:test")


def _types(server, endpoint: EventEndpoint) -> list[str]:
    for received in server.received:
        assert webhook_verify(secret=endpoint.secret, headers=received["headers"], body=received["body"])
    return [r["json"]["type"] for r in server.received]


@pytest.mark.django_db
def test_received_answered_and_overdue_reach_each_subscribed_endpoint_signed_with_its_own_secret(
    owner, local_hooks, eager, django_capture_on_commit_callbacks
):
    with webhook_server() as everything, webhook_server() as overdue_only:
        all_events = _endpoint(everything)
        only_overdue = _endpoint(overdue_only, events=["request.overdue"])
        assert all_events.secret != only_overdue.secret
        with django_capture_on_commit_callbacks(execute=True):
            response = owner.client.post(
                "/api/v1/requests/submit/",
                {"kind": "access", "email": "p@example.org", "selfies": [jpeg()]},
                format="multipart",
            )
        assert response.status_code == 201
        reference = response.json()["reference"]
        assert _types(everything, all_events) == ["request.received"]
        data = everything.received[0]["json"]["data"]
        assert data["reference"] == reference and "email" not in data
        assert overdue_only.received == []  # not subscribed to request.received

        late = make_request(received_at=timezone.now() - timezone.timedelta(days=45))
        with django_capture_on_commit_callbacks(execute=True):
            assert request_escalate(request_id=late.id, now=timezone.now()) is True
        with django_capture_on_commit_callbacks(execute=True):
            request_transition(
                request_id=late.id,
                from_statuses=[RequestStatus.REVIEW],
                to_status=RequestStatus.ANSWERED,
                actor="system",
                action="answered",
            )
        assert _types(everything, all_events) == ["request.received", "request.overdue", "request.answered"]
        assert _types(overdue_only, only_overdue) == ["request.overdue"]
        # The other endpoint's secret does not verify this one's delivery.
        assert not webhook_verify(
            secret=all_events.secret,
            headers=overdue_only.received[0]["headers"],
            body=overdue_only.received[0]["body"],
        )
    ids = [r["headers"]["webhook-id"] for r in everything.received]
    assert len(set(ids)) == 3 and ids[1] == f"msg_request_overdue_{late.reference}"
    all_events.refresh_from_db()
    assert all_events.last_delivery_status == "HTTP 204" and all_events.last_delivery_at is not None


@pytest.mark.django_db
def test_the_signature_is_the_standard_webhooks_hmac_of_id_timestamp_body(local_hooks):
    with webhook_server() as server:
        endpoint = _endpoint(server)
        assert event_deliver_task("request.received", make_request().id, endpoint.id) is True
    received = server.received[0]
    headers = received["headers"]
    # Computed here from the specification, not by the portal's own code.
    key = base64.b64decode(endpoint.secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + received["body"]
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == expected


@pytest.mark.django_db
def test_an_inactive_or_unsubscribed_endpoint_gets_nothing_not_even_what_was_queued(local_hooks):
    with webhook_server() as server:
        endpoint = _endpoint(server, events=["request.answered"])
        request = make_request()
        assert event_deliver_task("request.received", request.id, endpoint.id) is False  # not wanted
        event_endpoint_update(endpoint=endpoint, actor="staff:test", active=False)
        assert event_deliver_task("request.answered", request.id, endpoint.id) is False  # queued before
        make_request()  # a new request: nothing queued for the inactive endpoint
        assert not TaskOutbox.objects.filter(name="rights.jobs.event_deliver_task").exists()
    assert server.received == []


@pytest.mark.django_db
def test_the_task_twice_sends_the_same_message_and_a_gone_request_or_endpoint_sends_nothing(local_hooks):
    with webhook_server() as server:
        endpoint = _endpoint(server)
        request = make_request()
        assert event_deliver_task("request.received", request.id, endpoint.id) is True
        assert event_deliver_task("request.received", request.id, endpoint.id) is True
        first, second = server.received
        assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
        gone = request.id
        DataRequest.objects.filter(id=gone).delete()
        assert event_deliver_task("request.received", gone, endpoint.id) is False
        assert event_deliver_task("request.deleted", make_request().id, endpoint.id) is False  # not ours
        assert event_deliver_task("request.received", make_request().id, endpoint.id + 99) is False
    assert len(server.received) == 2


@pytest.mark.django_db
def test_a_failing_endpoint_raises_for_the_retry_and_its_status_says_why(local_hooks):
    with webhook_server(statuses=[503]) as server:
        endpoint = _endpoint(server)
        request = make_request()
        with pytest.raises(WebhookError):
            event_deliver_task("request.received", request.id, endpoint.id)
        endpoint.refresh_from_db()
        assert "HTTP 503" in endpoint.last_delivery_status
        assert server_url(server) not in endpoint.last_delivery_status  # never the address
        assert event_deliver_task("request.received", request.id, endpoint.id) is True  # the retry
        endpoint.refresh_from_db()
        assert endpoint.last_delivery_status == "HTTP 204"


@pytest.mark.django_db
def test_no_endpoint_queues_nothing():
    make_request()
    request_escalate(
        request_id=make_request(received_at=timezone.now() - timezone.timedelta(days=45)).id,
        now=timezone.now(),
    )
    assert not TaskOutbox.objects.filter(name__startswith="rights.jobs.event_").exists()


@pytest.mark.django_db
def test_a_delivery_queued_before_endpoints_were_data_goes_to_the_seeded_endpoint(settings, local_hooks):
    with webhook_server() as server:
        settings.API_EVENT_WEBHOOKS = [f"{server_url(server)} whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
        endpoint = _endpoint(server)  # as the seed made it (same address)
        request = make_request()
        assert event_webhook_task("request.received", request.id, 0) is True
        assert event_webhook_task("request.received", request.id, 3) is False  # no such entry
        settings.API_EVENT_WEBHOOKS = []
        assert event_webhook_task("request.received", request.id, 0) is False  # the setting is gone
    assert len(server.received) == 1
    assert webhook_verify(
        secret=endpoint.secret, headers=server.received[0]["headers"], body=server.received[0]["body"]
    )
