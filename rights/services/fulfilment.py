"""Taking a request for work, dispatching its fulfilment, and what happens when a step fails.

A worker claims a request with a conditional UPDATE (QUEUED -> SEARCHING, APPROVED -> FULFILLING).
A claim older than STUCK_AFTER belongs to a worker that died (acks_late redelivers its message, and
the recovery job re-enqueues): it may be taken over, again by a conditional UPDATE on the claim's
own timestamp, so two workers can never both hold it.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from rights.models import Answer, DataRequest, RequestKind, RequestStatus
from rights.services.audit import SYSTEM, audit_record
from rights.services.emails import email_send, url_for
from rights.services.transitions import request_transition

logger = logging.getLogger(__name__)


class FulfilmentWaiting(Exception):
    """The request must wait (e.g. the same person's access request is answered first)."""


def claim_stale_take_over(*, request_id: int, status: str, action: str) -> bool:
    """Take over a claim (``status``) left by a dead worker for longer than STUCK_AFTER."""
    cutoff = timezone.now() - settings.STUCK_AFTER
    with transaction.atomic():
        row = (
            DataRequest.objects.select_for_update()
            .filter(id=request_id, status=status, status_changed_at__lt=cutoff)
            .values("status_changed_at")
            .first()
        )
        if row is None:
            return False
        changed = DataRequest.objects.filter(
            id=request_id, status=status, status_changed_at=row["status_changed_at"]
        ).update(status_changed_at=timezone.now())
        if not changed:
            return False
        audit_record(
            actor=SYSTEM,
            action=action,
            request_id=request_id,
            from_status=status,
            to_status=status,
            reason="the worker that held it stopped; taken over",
        )
    logger.warning("request %s: stale %s claim taken over", request_id, status)
    return True


def request_claim(*, request_id: int, from_status: str, status: str, step: str) -> bool:
    """Take a request for work; False when another worker has it.

    ``from_status`` -> ``status`` by a conditional UPDATE (audited ``<step>_started``), or a
    ``status`` claim left by a dead worker taken over (``<step>_resumed``).
    """
    return request_transition(
        request_id=request_id,
        from_statuses=[from_status],
        to_status=status,
        actor=SYSTEM,
        action=f"{step}_started",
    ) or claim_stale_take_over(request_id=request_id, status=status, action=f"{step}_resumed")


def staff_alert(*, request_id: int, subject: str, reason: str) -> None:
    """Tell the privacy officer that a request needs a person (held answer, failed erasure)."""
    try:
        email_send(
            to=settings.PRIVACY_OFFICER_EMAIL,
            template="pipeline_alert",
            context={"request_id": request_id, "subject": subject, "reason": reason},
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
        staff_alert(request_id=request_id, subject=f"Request {request_id} held", reason=reason)
    return moved


def requester_notify_answer(*, request: DataRequest, answer_token: str) -> None:
    email_send(
        to=request.email,
        template="answer_ready",
        context={
            "request": request,
            "kind": request.kind,
            "status_url": url_for("public:status", token=request.public_token),
            "download_url": url_for("public:download", token=answer_token),
            "answer_url": url_for("public:answer", token=answer_token),
        },
        request_id=request.id,
    )


def answer_store(
    *, request: DataRequest, kind: str, payload: dict[str, Any], content: bytes, extension: str, now: datetime
) -> Answer:
    """Store the request's answer of ``kind`` with its download file; call inside the transaction.

    A retry after a crash replaces an answer of that kind built but never sent.
    """
    for stale in request.answers.filter(kind=kind):
        stale.archive.delete(save=False)
        stale.delete()
    answer = Answer(
        request=request,
        kind=kind,
        payload=payload,
        download_expires_at=now + settings.DOWNLOAD_LINK_MAX_AGE,
    )
    answer.archive.save(f"{secrets.token_hex(16)}.{extension}", ContentFile(content), save=False)
    answer.save()
    return answer


def request_answered(*, request_id: int, answer_token: str, detail: dict[str, object]) -> bool:
    """Email the person, then FULFILLING -> ANSWERED.

    The email goes first: if the worker dies in between, the retry sends it again (a duplicate
    email) rather than closing the request with nobody told.
    """
    request = DataRequest.objects.get(id=request_id)
    requester_notify_answer(request=request, answer_token=answer_token)
    return request_transition(
        request_id=request_id,
        from_statuses=[RequestStatus.FULFILLING],
        to_status=RequestStatus.ANSWERED,
        actor=SYSTEM,
        action="answered",
        detail=detail,
        fields={"hold_reason": ""},
    )


def request_fulfil_run(*, request_id: int) -> str | None:
    """Claim an APPROVED request and carry it out; returns the status it ends in.

    None when it is gone or someone else holds it; "waiting" when it must wait for the same
    person's access request. An exception leaves it FULFILLING: see ``fulfil_failed``.
    """
    from rights.services.access_report import access_answer_run
    from rights.services.erasure import erasure_must_wait, erasure_run
    from rights.services.objection import objection_run

    request = DataRequest.objects.filter(id=request_id).first()
    if request is None:
        return None
    erases = request.kind in (RequestKind.ERASURE, RequestKind.OBJECTION)
    if erases and request.status == RequestStatus.APPROVED and erasure_must_wait(request=request):
        return "waiting"
    taken = request_claim(
        request_id=request_id,
        from_status=RequestStatus.APPROVED,
        status=RequestStatus.FULFILLING,
        step="fulfilment",
    )
    if not taken:
        return None
    if request.kind == RequestKind.ACCESS:
        access_answer_run(request_id=request_id)
    elif request.kind == RequestKind.ERASURE:
        erasure_run(request_id=request_id)
    else:
        objection_run(request_id=request_id)
    return DataRequest.objects.filter(id=request_id).values_list("status", flat=True).first()


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
            action=f"{step}_failed",
        )
        return
    request_transition(
        request_id=request_id,
        from_statuses=[claimed],
        to_status=retry_status,
        actor=SYSTEM,
        action=f"{step}_retry",
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
