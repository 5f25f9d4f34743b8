"""Taking a request for work: a conditional UPDATE, or a claim left by a dead worker taken over.

A worker claims a request with a conditional UPDATE (QUEUED -> SEARCHING, APPROVED -> FULFILLING).
A claim older than STUCK_AFTER belongs to a worker that died (acks_late redelivers its message, and
the recovery job re-enqueues): it may be taken over, again by a conditional UPDATE on the claim's
own timestamp, so two workers can never both hold it.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from rights.lifecycle.audit import SYSTEM, audit_record
from rights.lifecycle.transitions import request_transition
from rights.models import DataRequest

logger = logging.getLogger(__name__)


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
