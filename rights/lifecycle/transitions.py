"""Status changes of a request: a conditional UPDATE and its audit row, in one transaction.

If the request is not in one of the expected statuses (another worker took it, it was already
done, it is gone) nothing changes and the caller learns it from the return value.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from rights.lifecycle import enqueue
from rights.lifecycle.audit import audit_record
from rights.lifecycle.clock import pause_length, shift_days
from rights.models import CLOSED_STATUSES, WAITING_FOR_PERSON_STATUSES, DataRequest, RequestStatus


def request_transition(
    *,
    request_id: int,
    from_statuses: Iterable[str],
    to_status: str,
    actor: str,
    action: str,
    reason: str = "",
    detail: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
) -> bool:
    """Move a request from one of ``from_statuses`` to ``to_status``; False if it was not in one.

    ``fields`` are further columns written in the same UPDATE (e.g. a hold reason).
    """
    allowed = list(from_statuses)
    with transaction.atomic():
        current = (
            DataRequest.objects.select_for_update()
            .filter(id=request_id, status__in=allowed)
            .values("status", "received_at", "due_at", "extended_until", "waiting_since", "paused_seconds")
            .first()
        )
        if current is None:
            return False
        now = timezone.now()
        updates: dict[str, Any] = {"status": to_status, "status_changed_at": now, **(fields or {})}
        updates.update(_clock_updates(current=current, to_status=to_status, now=now))
        if to_status == RequestStatus.ANSWERED:
            updates.setdefault("answered_at", now)
        if to_status in CLOSED_STATUSES:
            updates.setdefault("closed_at", now)
        changed = DataRequest.objects.filter(id=request_id, status=current["status"]).update(**updates)
        if not changed:
            return False
        audit_record(
            actor=actor,
            action=action,
            request_id=request_id,
            from_status=current["status"],
            to_status=to_status,
            reason=reason,
            detail=detail,
        )
        if to_status == RequestStatus.ANSWERED:
            enqueue.event_webhooks_enqueue(event="request.answered", request_id=request_id)
    return True


def _clock_updates(*, current: dict[str, Any], to_status: str, now: datetime) -> dict[str, Any]:
    """Pause the clock while the organisation waits for the person, when settings say so."""
    if not settings.CLOCK_PAUSES_WHILE_WAITING:
        return {}
    was_waiting = current["status"] in WAITING_FOR_PERSON_STATUSES
    will_wait = to_status in WAITING_FOR_PERSON_STATUSES
    if will_wait and not was_waiting:
        return {"waiting_since": now}
    waiting_since = current["waiting_since"]
    if waiting_since is None and current["status"] == RequestStatus.UNCONFIRMED:
        # A request is created unconfirmed (not through a transition): it has waited since receipt.
        waiting_since = current["received_at"]
    if was_waiting and will_wait:
        # Still waiting (e.g. confirmed straight into needing a new photo): the pause goes on.
        return {"waiting_since": waiting_since} if waiting_since != current["waiting_since"] else {}
    if was_waiting and waiting_since:
        paused = pause_length(waiting_since=waiting_since, now=now)
        # The deadline moves by whole days, so it still ends at the end of a local day.
        days = paused.days
        updates: dict[str, Any] = {
            "waiting_since": None,
            "paused_seconds": current["paused_seconds"] + int(paused.total_seconds()),
            "due_at": shift_days(moment=current["due_at"], days=days),
        }
        if current["extended_until"]:
            updates["extended_until"] = shift_days(moment=current["extended_until"], days=days)
        return updates
    return {}
