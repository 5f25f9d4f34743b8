"""Event webhooks to other systems: a request received, answered or overdue, POSTed signed in the
Standard Webhooks format to each active ``EventEndpoint`` subscribed to the event.

Endpoints are data, managed by the privacy officer (the dashboard, or the API for a service
account): an https URL (plain http only to a loopback address, and only with
NOTICE_WEBHOOK_ALLOW_PRIVATE on), a secret we make (``whsec_`` + base64 of 32 random bytes, shown
once when made or rotated; the secret a rotation replaces goes on signing beside the new one for
``SECRET_OVERLAP``), the events it wants and an active flag. The body names the request by
its public reference only (no email, no link, no image); the audit trail names an endpoint by its
public id and host, never its full URL (a path can hold the receiver's own token) nor its secret.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import urllib.parse
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from rights.lifecycle.audit import audit_record
from rights.lifecycle.clock import request_due_in_force
from rights.models import AuditAction, DataRequest, EventEndpoint, EventType, new_webhook_secret
from rights.recipients.notices import WebhookError, webhook_addresses_check, webhook_post_signed

logger = logging.getLogger(__name__)

EVENTS = tuple(EventType.values)
URL_MAX = 2000
# How long a rotated secret goes on signing beside its successor (as Svix does): a day for the
# receiving system's owner to deploy the new one.
SECRET_OVERLAP = timedelta(hours=24)


class EndpointInvalid(ValueError):
    """Bad input for an endpoint: ``errors`` maps each field to its messages; nothing was written."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(m for messages in errors.values() for m in messages))
        self.errors = errors


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def event_endpoint_url_check(*, url: str) -> str:
    """The address, trimmed, if deliveries may go there; raises EndpointInvalid saying why not.

    https only; plain http only to a loopback address with NOTICE_WEBHOOK_ALLOW_PRIVATE on (a test
    bench). The host must resolve, and only to public addresses unless that setting is on: the rule
    the worker applies again at each send (``webhook_addresses_check``, as for recipients).
    """
    url = (url or "").strip()
    if not url:
        raise EndpointInvalid({"url": [_("Give the endpoint's address (an https:// URL).")]})
    if len(url) > URL_MAX:
        raise EndpointInvalid({"url": [_("The address is longer than 2000 characters.")]})
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (a port out of range raises here)
    except ValueError:
        raise EndpointInvalid({"url": [_("The address is not a valid URL.")]}) from None
    if not parts.hostname:
        raise EndpointInvalid({"url": [_("The address is not a valid URL.")]})
    if parts.username or parts.password:
        raise EndpointInvalid(
            {"url": [_("The address must not carry a user name or password: each delivery is signed.")]}
        )
    allowed_http = (
        parts.scheme == "http" and settings.NOTICE_WEBHOOK_ALLOW_PRIVATE and _loopback(parts.hostname)
    )
    if parts.scheme != "https" and not allowed_http:
        raise EndpointInvalid(
            {"url": [_("The address must start with https:// (http only to this machine, on a test bench).")]}
        )
    try:
        webhook_addresses_check(url=url)
    except WebhookError as exc:
        raise EndpointInvalid({"url": [str(exc)]}) from None
    return url


def event_endpoint_events_check(*, events: Iterable[str]) -> list[str]:
    """The events, known ones only, each once, in the order of EventType; raises EndpointInvalid."""
    wanted = [str(e) for e in events]
    unknown = sorted(set(wanted) - set(EVENTS))
    if unknown:
        raise EndpointInvalid({"events": [_("Unknown event(s): %(names)s.") % {"names": ", ".join(unknown)}]})
    if not wanted:
        raise EndpointInvalid({"events": [_("Choose at least one event.")]})
    return [e for e in EVENTS if e in wanted]


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).hostname or ""


def event_endpoint_create(
    *, url: str, events: Iterable[str], actor: str, description: str = ""
) -> EventEndpoint:
    """A new active endpoint with a secret of ours (read it from the result: it is shown only now)."""
    errors: dict[str, list[str]] = {}
    checked: dict[str, object] = {}
    for field, check in (
        ("url", lambda: event_endpoint_url_check(url=url)),
        ("events", lambda: event_endpoint_events_check(events=events)),
    ):
        try:
            checked[field] = check()
        except EndpointInvalid as exc:
            errors.update(exc.errors)
    if len(description or "") > 200:
        errors["description"] = [_("The description is longer than 200 characters.")]
    if errors:
        raise EndpointInvalid(errors)
    with transaction.atomic():
        endpoint = EventEndpoint.objects.create(
            url=checked["url"], events=checked["events"], description=(description or "").strip()
        )
        audit_record(
            actor=actor,
            action=AuditAction.EVENT_ENDPOINT_CREATED,
            detail={
                "endpoint": str(endpoint.public_id),
                "host": _host(endpoint.url),
                "events": endpoint.events,
            },
        )
    logger.info("event endpoint created endpoint=%s", endpoint.public_id)
    return endpoint


def event_endpoint_update(
    *,
    endpoint: EventEndpoint,
    actor: str,
    url: str | None = None,
    events: Iterable[str] | None = None,
    description: str | None = None,
    active: bool | None = None,
) -> EventEndpoint:
    """Change what is given (None: left as is), audited with the names of the fields changed.

    Deactivating is how an endpoint is retired: it keeps its record and gets nothing more, not even
    deliveries queued before (each is checked again at send).
    """
    changes: dict[str, object] = {}
    errors: dict[str, list[str]] = {}
    if url is not None:
        try:
            changes["url"] = event_endpoint_url_check(url=url)
        except EndpointInvalid as exc:
            errors.update(exc.errors)
    if events is not None:
        try:
            changes["events"] = event_endpoint_events_check(events=events)
        except EndpointInvalid as exc:
            errors.update(exc.errors)
    if description is not None:
        if len(description) > 200:
            errors["description"] = [_("The description is longer than 200 characters.")]
        changes["description"] = description.strip()
    if active is not None:
        changes["active"] = bool(active)
    if errors:
        raise EndpointInvalid(errors)
    with transaction.atomic():
        current = EventEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        changed = sorted(field for field, value in changes.items() if getattr(current, field) != value)
        if not changed:
            return current
        for field in changed:
            setattr(current, field, changes[field])
        current.save(update_fields=[*changed, "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.EVENT_ENDPOINT_CHANGED,
            detail={
                "endpoint": str(current.public_id),
                "host": _host(current.url),
                "changed": changed,
                "active": current.active,
                "events": current.events,
            },
        )
    logger.info("event endpoint changed endpoint=%s fields=%s", current.public_id, changed)
    return current


def event_endpoint_rotate(*, endpoint: EventEndpoint, actor: str) -> EventEndpoint:
    """A new secret, which signs every delivery from now on; the one it replaces signs them too for
    ``SECRET_OVERLAP``, so the receiving system can switch to the new one without refusing a
    delivery meanwhile. A secret older than that stops at once. The result's ``secret`` is shown once."""
    with transaction.atomic():
        current = EventEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        current.previous_secret = current.secret
        current.previous_secret_until = timezone.now() + SECRET_OVERLAP
        current.secret = new_webhook_secret()
        current.save(update_fields=["secret", "previous_secret", "previous_secret_until", "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.EVENT_ENDPOINT_SECRET_ROTATED,
            detail={
                "endpoint": str(current.public_id),
                "host": _host(current.url),
                "previous_secret_until": current.previous_secret_until.isoformat(),
            },
        )
    logger.info("event endpoint secret rotated endpoint=%s", current.public_id)
    return current


def event_endpoint_secrets_signing(*, endpoint: EventEndpoint, now: datetime) -> list[str]:
    """The secrets that sign a delivery made at ``now``: the endpoint's own, then the one its last
    rotation replaced while its overlap lasts."""
    signing = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_until and now < endpoint.previous_secret_until:
        signing.append(endpoint.previous_secret)
    return signing


def event_payload(*, event: str, request: DataRequest) -> dict[str, object]:
    return {
        "type": event,
        "timestamp": timezone.now().isoformat(),
        "data": {
            "reference": request.reference,
            "kind": request.kind,
            "status": request.status,
            "channel": request.channel,
            "received_at": request.received_at.isoformat(),
            "due_at": request_due_in_force(request=request).isoformat(),
            "answered_at": request.answered_at.isoformat() if request.answered_at else None,
        },
    }


def event_deliver(*, event: str, request_id: int, endpoint_id: int) -> bool:
    """POST one event to one endpoint. False (nothing sent) when the request or the endpoint is gone,
    the endpoint is inactive or no longer wants the event, or the event is unknown; raises
    WebhookError (retried by the task) when the POST fails. The message id is the same on every
    retry and every run, so a receiver drops a copy it already has. The endpoint's last delivery
    status says how the last attempt went."""
    endpoint = EventEndpoint.objects.filter(id=endpoint_id).first()
    request = DataRequest.objects.filter(id=request_id).first()
    if event not in EVENTS or request is None or endpoint is None or not endpoint.wants(event):
        return False
    body = json.dumps(event_payload(event=event, request=request)).encode()
    secret, *also_signed_by = event_endpoint_secrets_signing(endpoint=endpoint, now=timezone.now())
    try:
        status = webhook_post_signed(
            url=endpoint.url,
            body=body,
            secret=secret,
            also_signed_by=also_signed_by,
            msg_id=f"msg_{event.replace('.', '_')}_{request.reference}",
            what=f"event {event} of request {request_id}",
        )
    except WebhookError as exc:
        EventEndpoint.objects.filter(id=endpoint_id).update(
            last_delivery_at=timezone.now(), last_delivery_status=str(exc)[:200]
        )
        raise
    EventEndpoint.objects.filter(id=endpoint_id).update(
        last_delivery_at=timezone.now(), last_delivery_status=f"HTTP {status}"
    )
    logger.info("event webhook delivered event=%s request=%s endpoint=%s", event, request_id, endpoint_id)
    return True


def event_deliver_legacy(*, event: str, request_id: int, endpoint_index: int) -> bool:
    """A delivery queued before endpoints were data: it named the index of an API_EVENT_WEBHOOKS
    entry. Sent to the endpoint the seed (migration rights 0012) made of that entry, while the
    setting still lists it; False (nothing sent) otherwise."""
    entries = list(getattr(settings, "API_EVENT_WEBHOOKS", []))
    if not 0 <= endpoint_index < len(entries):
        return False
    url = str(entries[endpoint_index]).strip().partition(" ")[0]
    endpoint_id = EventEndpoint.objects.filter(url=url).order_by("id").values_list("id", flat=True).first()
    if endpoint_id is None:
        return False
    return event_deliver(event=event, request_id=request_id, endpoint_id=endpoint_id)
