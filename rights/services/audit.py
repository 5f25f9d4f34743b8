"""The audit trail: append-only, hash-chained, written in the transaction of the change it records.

Each row's hash covers its own content and the previous row's hash, so changing, removing or
reordering any row breaks the chain from that row on (``audit_chain_verify``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, transaction
from django.utils import timezone

from rights.models import AuditEvent

GENESIS_HASH = "0" * 64
SYSTEM = "system"
REQUESTER = "requester"
# Serialises appends on PostgreSQL; SQLite's IMMEDIATE transactions already serialise writers.
_CHAIN_LOCK_KEY = 0x6661636572  # "facer"


def actor_for(user: AbstractBaseUser | AnonymousUser | None) -> str:
    if user is None or not user.is_authenticated:
        return SYSTEM
    return f"staff:{user.get_username()}"


def _event_digest(*, prev_hash: str, event: AuditEvent) -> str:
    content = {
        "prev": prev_hash,
        "request": event.request_id,
        "actor": event.actor,
        "action": event.action,
        "from": event.from_status,
        "to": event.to_status,
        "reason": event.reason,
        "detail": event.detail,
        "at": event.created_at.isoformat(),
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def audit_record(
    *,
    actor: str,
    action: str,
    request_id: int | None = None,
    from_status: str = "",
    to_status: str = "",
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. Must run inside the transaction of the change it records."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must be called inside the transaction of the change it records")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
    last = AuditEvent.objects.order_by("-id").only("hash").first()
    prev_hash = last.hash if last else GENESIS_HASH
    event = AuditEvent(
        request_id=request_id,
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        # Round-trip through JSON so the digest is computed on exactly what the database stores.
        detail=json.loads(json.dumps(detail or {}, default=str)),
        created_at=timezone.now().replace(microsecond=0),
        prev_hash=prev_hash,
    )
    event.hash = _event_digest(prev_hash=prev_hash, event=event)
    event.save()
    return event


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    problem: str


def audit_chain_verify() -> ChainBreak | None:
    """The first row at which the chain is broken, or None if the whole trail is intact."""
    prev_hash = GENESIS_HASH
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.prev_hash != prev_hash:
            return ChainBreak(event.id, "does not follow the row before it (a row was removed or reordered)")
        if _event_digest(prev_hash=prev_hash, event=event) != event.hash:
            return ChainBreak(event.id, "its content does not match its hash (the row was changed)")
        prev_hash = event.hash
    return None


@dataclass(frozen=True)
class ChainReport:
    rows: int
    head_hash: str  # the last row's hash (GENESIS_HASH when empty): keep it elsewhere as an anchor
    first_break: ChainBreak | None
    anchor_found: bool | None  # None when no anchor was given

    @property
    def intact(self) -> bool:
        return self.first_break is None and self.anchor_found is not False


def audit_chain_check(*, anchor: str | None = None) -> ChainReport:
    """Verify the whole chain; with ``anchor`` (a head hash recorded earlier, outside the database),
    also check that the row it names is still there, which catches rows cut off the end of the
    trail and a trail rewritten from some row on, which the chain alone cannot show.
    """
    first_break = audit_chain_verify()
    rows = AuditEvent.objects.count()
    last = AuditEvent.objects.order_by("-id").only("hash").first()
    anchor_found = None if anchor is None else AuditEvent.objects.filter(hash=anchor.strip().lower()).exists()
    return ChainReport(
        rows=rows,
        head_hash=last.hash if last else GENESIS_HASH,
        first_break=first_break,
        anchor_found=anchor_found,
    )
