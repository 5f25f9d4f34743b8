"""Taking a request for work: a conditional UPDATE with a lease, or a dead worker's claim taken over.

A worker claims a request with a conditional UPDATE (QUEUED -> SEARCHING, APPROVED -> FULFILLING)
that also sets ``claim_expires_at`` (now + CLAIM_LEASE). While the step runs, its heartbeat renews
the lease every third of it (``claim_heartbeat``). A claim whose lease has expired belongs to a
worker that died: the redelivered message (acks_late) or the recovery job takes it over, again by
a conditional UPDATE on the claim's own lease, so two workers can never both hold it. A claim made
without a lease (before it existed) is presumed dead after STUCK_AFTER, as before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from rights.lifecycle.audit import SYSTEM, audit_record
from rights.lifecycle.transitions import request_transition
from rights.models import CLAIMED_STATUSES, AuditAction, DataRequest

logger = logging.getLogger(__name__)


def claim_expired(*, now: datetime) -> Q:
    """The one rule for "the worker holding it is dead": its lease expired (or, with no lease, it
    has held it longer than STUCK_AFTER)."""
    return Q(claim_expires_at__lt=now) | Q(
        claim_expires_at__isnull=True, status_changed_at__lt=now - settings.STUCK_AFTER
    )


def claim_stale_take_over(*, request_id: int, status: str, action: str) -> bool:
    """Take over a claim (``status``) whose worker is dead (``claim_expired``)."""
    now = timezone.now()
    with transaction.atomic():
        row = (
            DataRequest.objects.select_for_update()
            .filter(claim_expired(now=now), id=request_id, status=status)
            .values("status_changed_at", "claim_expires_at")
            .first()
        )
        if row is None:
            return False
        changed = DataRequest.objects.filter(
            id=request_id,
            status=status,
            status_changed_at=row["status_changed_at"],
            claim_expires_at=row["claim_expires_at"],
        ).update(status_changed_at=now, claim_expires_at=now + settings.CLAIM_LEASE)
        if not changed:
            return False
        audit_record(
            actor=SYSTEM,
            action=action,
            request_id=request_id,
            from_status=status,
            to_status=status,
            reason="the worker that held it stopped (its claim expired); taken over",
        )
    logger.warning("request %s: stale %s claim taken over", request_id, status)
    return True


def request_claim(*, request_id: int, from_status: str, status: str, step: str) -> bool:
    """Take a request for work; False when another (live) worker has it.

    ``from_status`` -> ``status`` by a conditional UPDATE (audited ``<step>_started``) with a fresh
    lease, or a ``status`` claim of a dead worker taken over (``<step>_resumed``).
    """
    return request_transition(
        request_id=request_id,
        from_statuses=[from_status],
        to_status=status,
        actor=SYSTEM,
        action=AuditAction(f"{step}_started"),
        fields={"claim_expires_at": timezone.now() + settings.CLAIM_LEASE},
    ) or claim_stale_take_over(request_id=request_id, status=status, action=AuditAction(f"{step}_resumed"))


def claim_renew(*, request_id: int) -> bool:
    """Extend the lease of a request a worker holds; False when it no longer holds it."""
    return bool(
        DataRequest.objects.filter(
            id=request_id, status__in=CLAIMED_STATUSES, claim_expires_at__isnull=False
        ).update(claim_expires_at=timezone.now() + settings.CLAIM_LEASE)
    )


@contextmanager
def claim_heartbeat(*, request_id: int) -> Iterator[None]:
    """Renew the request's lease every third of CLAIM_LEASE while the block runs (a thread)."""
    stop = threading.Event()
    interval = settings.CLAIM_LEASE.total_seconds() / 3

    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    claim_renew(request_id=request_id)
                except Exception as exc:  # a missed beat only shortens the lease; never the step's failure
                    logger.warning("request %s: lease not renewed (%s)", request_id, type(exc).__name__)
        finally:
            connection.close()  # this thread's own database connection

    thread = threading.Thread(target=beat, name=f"claim-heartbeat-{request_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
