"""Event webhooks to other systems: a request received, answered or overdue, POSTed signed in the
Standard Webhooks format to each endpoint in settings.API_EVENT_WEBHOOKS ("URL whsec_..." pairs).
The body names the request by its public reference only (no email, no link, no image)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from rights.lifecycle.clock import request_due_in_force
from rights.models import DataRequest
from rights.recipients.notices import webhook_post_signed

logger = logging.getLogger(__name__)

EVENTS = ("request.received", "request.answered", "request.overdue")


@dataclass(frozen=True)
class EventEndpoint:
    url: str
    secret: str


def event_endpoints() -> list[EventEndpoint]:
    """The configured endpoints, in order (their index is what a queued delivery names)."""
    endpoints = []
    for entry in settings.API_EVENT_WEBHOOKS:
        url, _, secret = entry.strip().partition(" ")
        endpoints.append(EventEndpoint(url=url, secret=secret.strip()))
    return endpoints


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


def event_deliver(*, event: str, request_id: int, endpoint_index: int) -> bool:
    """POST one event to one endpoint. False (nothing sent) when the request or the endpoint is gone
    or the event is unknown; raises WebhookError (retried by the task) when the POST fails. The
    message id is the same on every retry, so a receiver can drop a copy it already has."""
    endpoints = event_endpoints()
    request = DataRequest.objects.filter(id=request_id).first()
    if event not in EVENTS or request is None or not 0 <= endpoint_index < len(endpoints):
        return False
    endpoint = endpoints[endpoint_index]
    body = json.dumps(event_payload(event=event, request=request)).encode()
    webhook_post_signed(
        url=endpoint.url,
        body=body,
        secret=endpoint.secret,
        msg_id=f"msg_{event.replace('.', '_')}_{request.reference}",
        what=f"event {event} of request {request_id}",
    )
    logger.info("event webhook delivered event=%s request=%s endpoint=%s", event, request_id, endpoint_index)
    return True
