"""What happens when a pipeline step fails: a retry, or HELD with staff alerted. Never a partial answer."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import F

from rights.lifecycle.audit import SYSTEM
from rights.lifecycle.emails import staff_email_send
from rights.lifecycle.transitions import request_transition
from rights.models import AuditAction, DataRequest, RequestStatus

logger = logging.getLogger(__name__)


def staff_alert(*, request_id: int, reason: str) -> None:
    """Tell the privacy officer that a request is held for a person (held answer, failed erasure), in
    their language; the reason is quoted as the audit trail records it."""
    try:
        staff_email_send(
            to=settings.PRIVACY_OFFICER_EMAIL,
            template="pipeline_alert",
            context={"request_id": request_id, "reason": reason},
            request_id=request_id,
        )
    except Exception as exc:  # the hold itself is the record; a mail outage must not hide it
        # The type only: a mail server's error text may quote an address.
        logger.error("request %s: staff alert could not be sent (%s)", request_id, type(exc).__name__)


def request_hold(*, request_id: int, from_statuses: list[str], reason: str, action: str) -> bool:
    """HELD with a reason, and staff alerted. Never a partial answer."""
    moved = request_transition(
        request_id=request_id,
        from_statuses=from_statuses,
        to_status=RequestStatus.HELD,
        actor=SYSTEM,
        action=action,
        reason=reason,
        fields={"hold_reason": reason},
    )
    if moved:
        logger.error("request %s held: %s", request_id, action)
        staff_alert(request_id=request_id, reason=reason)
    return moved


def _step_failed(
    *,
    request_id: int,
    error: BaseException,
    final: bool,
    step: str,
    claimed: str,
    retry_status: str,
    held_reason: str,
) -> None:
    """Back from ``claimed`` to ``retry_status`` for the retry, or HELD with staff alerted after the last.

    The hold reason and the audit trail get the error's type and a fixed sentence, never its text:
    an exception's message (a mail server's, a database's) may quote an email address or data.
    Only our own errors marked ``safe_for_audit`` (ids and counts) add their message.
    """
    reason = f"The {step} step raised {type(error).__name__}; see the worker's log for request {request_id}."
    if getattr(error, "safe_for_audit", False):  # our own errors that carry ids and counts only
        reason = f"{reason} {error}"[:2000]
    logger.error("request %s: %s failed (%s), final=%s", request_id, step, type(error).__name__, final)
    if final:
        request_hold(
            request_id=request_id,
            from_statuses=[claimed, retry_status],
            reason=f"{held_reason}: {reason}",
            action=AuditAction(f"{step}_failed"),
        )
        return
    request_transition(
        request_id=request_id,
        from_statuses=[claimed],
        to_status=retry_status,
        actor=SYSTEM,
        action=AuditAction(f"{step}_retry"),
        reason=reason,
    )


def fulfil_failed(*, request_id: int, error: BaseException, final: bool) -> None:
    """Count the attempt; back to APPROVED for the retry, or HELD with staff alerted after the last."""
    DataRequest.objects.filter(id=request_id).update(attempts=F("attempts") + 1)
    _step_failed(
        request_id=request_id,
        error=error,
        final=final,
        step="fulfilment",
        claimed=RequestStatus.FULFILLING,
        retry_status=RequestStatus.APPROVED,
        held_reason="Fulfilment failed after every retry",
    )


def search_failed(*, request_id: int, error: BaseException, final: bool) -> None:
    """Back to QUEUED for the retry, or HELD with staff alerted after the last."""
    _step_failed(
        request_id=request_id,
        error=error,
        final=final,
        step="search",
        claimed=RequestStatus.SEARCHING,
        retry_status=RequestStatus.QUEUED,
        held_reason="The search failed after every retry",
    )


def retry_delay(*, retries: int) -> timedelta:
    return timedelta(seconds=min(30 * 2**retries, 1800))
