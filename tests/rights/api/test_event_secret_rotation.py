"""A rotated event endpoint secret: the new one signs every delivery at once, and the one it replaced
signs them too for SECRET_OVERLAP (a day), so the receiving system switches without refusing one.
Deliveries reach a real local HTTP server; each signature is checked against the specification."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
import time_machine
from django.utils import timezone

from rights.jobs import event_deliver_task
from rights.lifecycle.webhooks import webhook_verify
from rights.models import AuditEvent
from rights.recipients.events import SECRET_OVERLAP, event_endpoint_create, event_endpoint_rotate
from tests.rights.jobs_helpers import server_url, webhook_server
from tests.rights.staff_helpers import make_request

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _local_hooks(settings):
    settings.NOTICE_WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on 127.0.0.1


def _signature(secret: str, received: dict) -> str:
    """The v1 signature computed here from the specification, not by the portal's code."""
    headers = received["headers"]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + received["body"]
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def test_after_a_rotation_both_secrets_sign_until_the_overlap_ends_then_only_the_new_one():
    request = make_request()
    with webhook_server() as server:
        endpoint = event_endpoint_create(
            url=server_url(server, "/hook"), events=["request.received"], actor="t"
        )
        old = endpoint.secret
        rotated = event_endpoint_rotate(endpoint=endpoint, actor="staff:owner")
        assert rotated.previous_secret == old and rotated.secret != old
        assert rotated.previous_secret_until - timezone.now() == pytest.approx(
            SECRET_OVERLAP, abs=timezone.timedelta(minutes=1)
        )

        assert event_deliver_task("request.received", request.id, endpoint.id) is True
        during = server.received[-1]
        # The new secret's signature first, then the old one's, space-separated (Standard Webhooks).
        assert (
            during["headers"]["webhook-signature"]
            == f"{_signature(rotated.secret, during)} {_signature(old, during)}"
        )
        assert webhook_verify(secret=rotated.secret, headers=during["headers"], body=during["body"])
        assert webhook_verify(secret=old, headers=during["headers"], body=during["body"])

        with time_machine.travel(rotated.previous_secret_until + timezone.timedelta(seconds=1), tick=False):
            assert event_deliver_task("request.received", request.id, endpoint.id) is True
        after = server.received[-1]
        assert after["headers"]["webhook-signature"] == _signature(rotated.secret, after)  # one signature
        assert _signature(old, after) not in after["headers"]["webhook-signature"]


def test_a_second_rotation_stops_the_oldest_secret_at_once():
    request = make_request()
    with webhook_server() as server:
        endpoint = event_endpoint_create(
            url=server_url(server, "/hook"), events=["request.received"], actor="t"
        )
        first = endpoint.secret
        second = event_endpoint_rotate(endpoint=endpoint, actor="staff:owner").secret
        third = event_endpoint_rotate(endpoint=endpoint, actor="staff:owner").secret
        assert event_deliver_task("request.received", request.id, endpoint.id) is True
    received = server.received[-1]
    assert (
        received["headers"]["webhook-signature"]
        == f"{_signature(third, received)} {_signature(second, received)}"
    )
    assert not webhook_verify(secret=first, headers=received["headers"], body=received["body"])


def test_the_audit_says_until_when_the_old_secret_signs_and_names_neither_secret():
    endpoint = event_endpoint_create(url="https://93.184.215.14/hook", events=["request.received"], actor="t")
    old = endpoint.secret
    rotated = event_endpoint_rotate(endpoint=endpoint, actor="staff:owner")
    event = AuditEvent.objects.get(action="event_endpoint_secret_rotated")
    assert event.detail["previous_secret_until"] == rotated.previous_secret_until.isoformat()
    assert old not in str(event.detail) and rotated.secret not in str(event.detail)
