"""Resuming work left by a dead worker.

A request stays in a working status (``WORKING_STATUSES``) only while a task owns it. One left
there longer than settings.STUCK_AFTER lost its worker (killed, out of memory, redeployed) or its
message: it is put back in the status its task starts from and the task is enqueued again. The
tasks are idempotent and take the request with a conditional UPDATE, so a request that was only
slow is never worked on twice. A request found stuck settings.STUCK_MAX_REQUEUES times is held for
staff: something in it kills the worker, and re-enqueuing it forever would hide that.

QUEUED and APPROVED mean "waiting for a worker", not "a worker is on it": behind a long queue (a
burst of requests, a big erasure ahead) that lasts hours without anything being wrong, so they are
presumed lost only after settings.STUCK_QUEUED_AFTER. SEARCHING and FULFILLING mean a worker took
the request; its claim's lease expiring there (not renewed by its heartbeat, rights.lifecycle.claims)
means the worker died, found within CLAIM_LEASE plus RECOVERY_INTERVAL.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from rights.lifecycle import enqueue
from rights.lifecycle.audit import SYSTEM
from rights.lifecycle.claims import claim_expired
from rights.lifecycle.transitions import request_transition
from rights.models import (
    WAITING_FOR_WORKER_STATUSES,
    WORKING_STATUSES,
    AuditAction,
    AuditEvent,
    DataRequest,
    RequestStatus,
)
from rights.pipeline.erasure import erasure_waits_for

logger = logging.getLogger(__name__)

REQUEUE_ACTION = AuditAction.REQUEUED_AFTER_STUCK

# stuck status -> (status its task starts from, the enqueue of the task that takes it from there)
_RESUME = {
    RequestStatus.QUEUED: (RequestStatus.QUEUED, enqueue.request_search_enqueue),
    RequestStatus.SEARCHING: (RequestStatus.QUEUED, enqueue.request_search_enqueue),
    RequestStatus.APPROVED: (RequestStatus.APPROVED, enqueue.request_fulfil_enqueue),
    RequestStatus.FULFILLING: (RequestStatus.APPROVED, enqueue.request_fulfil_enqueue),
}


def stuck_after(*, status: str) -> timedelta:
    return settings.STUCK_QUEUED_AFTER if status in WAITING_FOR_WORKER_STATUSES else settings.CLAIM_LEASE


def _stuck_filter(*, now: datetime) -> Q:
    waiting = Q(
        status__in=WAITING_FOR_WORKER_STATUSES, status_changed_at__lt=now - settings.STUCK_QUEUED_AFTER
    )
    working = [s for s in WORKING_STATUSES if s not in WAITING_FOR_WORKER_STATUSES]
    return waiting | (Q(status__in=working) & claim_expired(now=now))


@dataclass(frozen=True)
class RecoveryResult:
    requeued: int
    held: int


def _waits_for_access_answer(*, request_id: int, now: datetime) -> bool:
    # The erasure's own rule (one rule): once it turns false (answered, or the cut-off), resume.
    request = DataRequest.objects.get(id=request_id)
    return bool(erasure_waits_for(request=request, now=now))


def request_requeue_if_stuck(*, request_id: int, now: datetime) -> str | None:
    """Put one stuck request back and enqueue its task: "requeued", "held", or None if not stuck.

    The move is a conditional transition from the status it was seen in, with the time it was
    seen stuck: if a worker moved it meanwhile, nothing happens.
    """
    seen = (
        DataRequest.objects.filter(_stuck_filter(now=now), id=request_id)
        .values("status", "status_changed_at", "claim_expires_at")
        .first()
    )
    if seen is None:
        return None
    stuck_status = seen["status"]
    if stuck_status == RequestStatus.APPROVED and _waits_for_access_answer(request_id=request_id, now=now):
        return None  # not stuck: an erasure waits, by design, for the same person's access answer
    resume_status, resume_enqueue = _RESUME[stuck_status]
    detail = {"stuck_in": stuck_status, "since": seen["status_changed_at"].isoformat()}
    previous = AuditEvent.objects.filter(request_id=request_id, action=REQUEUE_ACTION).count()
    with transaction.atomic():
        # Guard on status_changed_at too: a request that moved out and back in meanwhile is not stuck.
        still_stuck = (
            DataRequest.objects.select_for_update()
            .filter(
                id=request_id,
                status=stuck_status,
                status_changed_at=seen["status_changed_at"],
                claim_expires_at=seen["claim_expires_at"],  # a live worker's heartbeat renewed it
            )
            .values_list("id", flat=True)
            .first()
        )
        if still_stuck is None:
            return None
        if previous >= settings.STUCK_MAX_REQUEUES:
            moved = request_transition(
                request_id=request_id,
                from_statuses=[stuck_status],
                to_status=RequestStatus.HELD,
                actor=SYSTEM,
                action=AuditAction.HELD_AFTER_STUCK,
                reason=(
                    f"Left unfinished by a worker {previous + 1} times; held for staff to look at "
                    "before it is tried again."
                ),
                detail={**detail, "requeues": previous},
                fields={
                    "hold_reason": f"Stuck in {stuck_status} {previous + 1} times (a worker died on it)."
                },
            )
            outcome = "held" if moved else None
        else:
            moved = request_transition(
                request_id=request_id,
                from_statuses=[stuck_status],
                to_status=resume_status,
                actor=SYSTEM,
                action=REQUEUE_ACTION,
                reason=(
                    f"No progress for more than {stuck_after(status=stuck_status)}; "
                    "the worker or its message is presumed lost."
                ),
                detail={**detail, "requeues": previous + 1},
            )
            if moved:
                resume_enqueue(request_id=request_id)
            outcome = "requeued" if moved else None
    if outcome:
        logger.warning("stuck request %s in %s: %s", request_id, stuck_status, outcome)
    return outcome


def requests_recover_stuck(*, now: datetime | None = None) -> RecoveryResult:
    """Re-enqueue every request stuck in a working status; hold those stuck too often."""
    now = now or timezone.now()
    stuck_ids = list(
        DataRequest.objects.filter(_stuck_filter(now=now))
        .order_by("status_changed_at")
        .values_list("id", flat=True)
    )
    requeued = held = 0
    for request_id in stuck_ids:
        outcome = request_requeue_if_stuck(request_id=request_id, now=now)
        requeued += outcome == "requeued"
        held += outcome == "held"
    return RecoveryResult(requeued=requeued, held=held)
