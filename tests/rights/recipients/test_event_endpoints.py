"""rights.recipients.events: event endpoints as data (create, change, rotate, deactivate), the address
rule (https; http only to loopback with NOTICE_WEBHOOK_ALLOW_PRIVATE), the roles, and the one-time
seed from the old API_EVENT_WEBHOOKS setting (migration rights 0012)."""

from __future__ import annotations

import base64
import importlib
import json

import pytest
from django.contrib.auth.models import Group

from rights.models import AuditEvent, EventEndpoint
from rights.recipients.events import (
    EndpointInvalid,
    event_endpoint_create,
    event_endpoint_rotate,
    event_endpoint_update,
)
from tests.rights.staff_helpers import PRIVACY_OFFICER, REVIEWER, VIEWER, _LiveApps, roles_ensure

pytestmark = pytest.mark.django_db

PUBLIC = "https://93.184.215.14/hooks/facerights"  # an IP literal: checked without DNS


def _audit_text() -> str:
    return json.dumps([[e.action, e.detail, e.reason] for e in AuditEvent.objects.all()])


def test_a_new_endpoint_gets_a_standard_webhooks_secret_of_ours_never_written_to_the_audit():
    endpoint = event_endpoint_create(
        url=f"  {PUBLIC}  ", events=["request.overdue", "request.received"], actor="staff:owner"
    )
    assert endpoint.url == PUBLIC and endpoint.active
    assert endpoint.events == ["request.received", "request.overdue"]  # known order, each once
    assert endpoint.secret.startswith("whsec_")
    assert len(base64.b64decode(endpoint.secret.removeprefix("whsec_"), validate=True)) >= 24
    other = event_endpoint_create(url=PUBLIC, events=["request.answered"], actor="staff:owner")
    assert other.secret != endpoint.secret and other.public_id != endpoint.public_id
    event = AuditEvent.objects.filter(action="event_endpoint_created").first()
    assert event.actor == "staff:owner" and event.detail["host"] == "93.184.215.14"
    assert endpoint.secret not in _audit_text() and "/hooks/facerights" not in _audit_text()


def test_rotate_gives_a_new_secret_at_once_and_is_audited_without_either():
    endpoint = event_endpoint_create(url=PUBLIC, events=["request.received"], actor="staff:owner")
    old = endpoint.secret
    rotated = event_endpoint_rotate(endpoint=endpoint, actor="staff:owner")
    assert rotated.secret != old and rotated.secret.startswith("whsec_")
    assert EventEndpoint.objects.get(pk=endpoint.pk).secret == rotated.secret
    assert AuditEvent.objects.filter(action="event_endpoint_secret_rotated").count() == 1
    assert old not in _audit_text() and rotated.secret not in _audit_text()


def test_deactivate_and_change_are_audited_with_the_fields_changed_and_a_no_change_writes_nothing():
    endpoint = event_endpoint_create(url=PUBLIC, events=["request.received"], actor="staff:owner")
    event_endpoint_update(endpoint=endpoint, actor="staff:owner", active=False, events=["request.answered"])
    endpoint.refresh_from_db()
    assert not endpoint.active and endpoint.events == ["request.answered"]
    (changed,) = AuditEvent.objects.filter(action="event_endpoint_changed")
    assert changed.detail["changed"] == ["active", "events"]
    event_endpoint_update(endpoint=endpoint, actor="staff:owner", active=False)
    assert AuditEvent.objects.filter(action="event_endpoint_changed").count() == 1


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "Give the endpoint's address"),
        ("http://93.184.215.14/hook", "must start with https://"),
        ("ftp://93.184.215.14/hook", "must start with https://"),
        ("https://user:pw@93.184.215.14/hook", "user name or password"),
        ("https://93.184.215.14:99999/hook", "not a valid URL"),
        ("https:///hook", "not a valid URL"),
        ("https://10.1.2.3/hook", "non-public address"),
        ("https://127.0.0.1/hook", "non-public address"),
        ("https://169.254.169.254/latest", "non-public address"),
        ("https://no-such-host.invalid/hook", "could not be resolved"),
        ("https://93.184.215.14/" + "x" * 2000, "longer than 2000"),
    ],
)
def test_a_bad_address_gets_a_clear_error_and_writes_nothing(settings, url, says):
    settings.NOTICE_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(EndpointInvalid) as caught:
        event_endpoint_create(url=url, events=["request.received"], actor="staff:owner")
    assert says in caught.value.errors["url"][0]
    assert not EventEndpoint.objects.exists() and not AuditEvent.objects.exists()


def test_plain_http_only_to_loopback_and_only_with_the_setting_on(settings):
    settings.NOTICE_WEBHOOK_ALLOW_PRIVATE = True
    assert event_endpoint_create(url="http://127.0.0.1:8000/hook", events=["request.received"], actor="t")
    with pytest.raises(EndpointInvalid, match="https://"):
        event_endpoint_create(url="http://10.1.2.3/hook", events=["request.received"], actor="t")
    settings.NOTICE_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(EndpointInvalid, match="https://"):
        event_endpoint_create(url="http://127.0.0.1:8000/hook", events=["request.received"], actor="t")


@pytest.mark.parametrize(
    ("events", "says"),
    [([], "at least one event"), (["request.deleted"], "Unknown event(s): request.deleted")],
)
def test_bad_events_get_a_clear_error_and_a_bad_change_writes_nothing(events, says):
    with pytest.raises(EndpointInvalid) as caught:
        event_endpoint_create(url=PUBLIC, events=events, actor="staff:owner")
    assert says in caught.value.errors["events"][0]
    endpoint = event_endpoint_create(url=PUBLIC, events=["request.received"], actor="staff:owner")
    with pytest.raises(EndpointInvalid):
        event_endpoint_update(endpoint=endpoint, actor="staff:owner", events=events, active=False)
    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.events == ["request.received"]


def test_the_officer_manages_endpoints_and_the_other_roles_only_see_them():
    roles_ensure()
    importlib.import_module("rights.migrations.0012_event_endpoint").grant(_LiveApps(), None)

    def codenames(role: str) -> set[str]:
        group = Group.objects.get(name=role)
        return set(
            group.permissions.filter(codename__endswith="_eventendpoint").values_list("codename", flat=True)
        )

    assert codenames(PRIVACY_OFFICER) == {"view_eventendpoint", "add_eventendpoint", "change_eventendpoint"}
    assert codenames(REVIEWER) == codenames(VIEWER) == {"view_eventendpoint"}


def test_the_seed_keeps_each_old_entry_and_its_secret_once_and_skips_a_malformed_one(settings):
    seed = importlib.import_module("rights.migrations.0012_event_endpoint").seed
    settings.API_EVENT_WEBHOOKS = [
        "https://crm.example.org/hooks whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "https://broken.example.org/hooks not-a-secret",
        "https://other.example.org/x whsec_!!!",
    ]
    seed(_LiveApps(), None)
    seed(_LiveApps(), None)  # run twice: nothing more
    (endpoint,) = EventEndpoint.objects.all()
    assert endpoint.url == "https://crm.example.org/hooks" and endpoint.active
    assert endpoint.secret == "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    assert endpoint.events == ["request.received", "request.answered", "request.overdue"]
