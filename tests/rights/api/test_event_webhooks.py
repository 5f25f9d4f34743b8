"""Event webhooks (request received, answered, overdue) to the endpoints in API_EVENT_WEBHOOKS,
signed in the Standard Webhooks format; the task run twice, for a request gone, or failing."""

from __future__ import annotations

import pytest
from django.utils import timezone

from portal.celery import app
from rights.jobs import event_webhook_task
from rights.lifecycle.transitions import request_transition
from rights.lifecycle.webhooks import webhook_verify
from rights.models import DataRequest, RequestStatus
from rights.recipients.notices import WebhookError
from rights.upkeep.deadlines import request_escalate
from tests.rights.api.conftest import jpeg
from tests.rights.jobs_helpers import server_url, webhook_server
from tests.rights.staff_helpers import make_request

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def eager():
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False
    app.conf.task_eager_propagates = False


@pytest.fixture
def hook(settings):
    settings.NOTICE_WEBHOOK_ALLOW_PRIVATE = True
    with webhook_server() as server:
        settings.API_EVENT_WEBHOOKS = [f"{server_url(server)} {SECRET}"]
        yield server


def _events(server):
    for received in server.received:
        assert webhook_verify(secret=SECRET, headers=received["headers"], body=received["body"])
    return [r["json"]["type"] for r in server.received]


@pytest.mark.django_db
def test_received_answered_and_overdue_are_posted_signed(
    owner, hook, eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.client.post(
            "/api/v1/requests/submit/",
            {"kind": "access", "email": "p@example.org", "selfies": [jpeg()]},
            format="multipart",
        )
    assert response.status_code == 201
    reference = response.json()["reference"]
    assert _events(hook) == ["request.received"]
    data = hook.received[0]["json"]["data"]
    assert data["reference"] == reference and "email" not in data

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
    assert _events(hook) == ["request.received", "request.overdue", "request.answered"]
    # The same message id each time an event of a request is sent: a receiver drops a copy.
    ids = [r["headers"]["webhook-id"] for r in hook.received]
    assert len(set(ids)) == 3 and ids[1] == f"msg_request_overdue_{late.reference}"


@pytest.mark.django_db
def test_the_task_twice_sends_the_same_message_and_a_gone_request_sends_nothing(hook):
    request = make_request()
    assert event_webhook_task("request.received", request.id, 0) is True
    assert event_webhook_task("request.received", request.id, 0) is True
    first, second = hook.received
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    gone = request.id
    DataRequest.objects.filter(id=gone).delete()
    assert event_webhook_task("request.received", gone, 0) is False
    assert event_webhook_task("request.deleted", gone, 0) is False  # not an event we send
    assert event_webhook_task("request.received", make_request().id, 5) is False  # no such endpoint
    assert len(hook.received) == 2


@pytest.mark.django_db
def test_a_failing_endpoint_raises_for_the_tasks_retry(settings):
    settings.NOTICE_WEBHOOK_ALLOW_PRIVATE = True
    with webhook_server(statuses=[503]) as server:
        settings.API_EVENT_WEBHOOKS = [f"{server_url(server)} {SECRET}"]
        request = make_request()
        with pytest.raises(WebhookError):
            event_webhook_task("request.received", request.id, 0)
        assert event_webhook_task("request.received", request.id, 0) is True  # the retry


@pytest.mark.django_db
def test_no_endpoint_configured_queues_nothing(owner, settings):
    from rights.models import TaskOutbox

    settings.API_EVENT_WEBHOOKS = []
    make_request()
    request_escalate(
        request_id=make_request(received_at=timezone.now() - timezone.timedelta(days=45)).id,
        now=timezone.now(),
    )
    assert not TaskOutbox.objects.filter(name="rights.jobs.event_webhook_task").exists()
