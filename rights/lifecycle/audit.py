"""The audit trail: append-only, hash-chained, written in the transaction of the change it records.

Each row's hash covers its own content and the previous row's hash, so changing, removing or
reordering any row breaks the chain from that row on (``audit_chain_verify``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, transaction
from django.utils import timezone

from rights.models import AuditAction, AuditEvent

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


# --- Anchors kept outside the database ---------------------------------------------------------
# The hash chain shows a row changed, removed or reordered, but not rows cut off its end nor a
# trail rewritten (and re-hashed) from some row on: someone able to do that can rebuild a chain
# that verifies. The head (row id and hash) appended to a file outside the database every hour
# gives what such a rewrite cannot restore: every anchored row must still be in the trail.


@dataclass(frozen=True)
class Anchor:
    written_at: str
    event_id: int  # 0 when the trail was empty
    hash: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.written_at} {self.event_id} {self.hash}"


class AnchorFileError(ValueError):
    """The anchor file cannot be read or a line of it is not `<iso time> <row id> <hash>`."""


def audit_anchor_write(*, path: Path) -> Anchor:
    """Append the current head of the trail to ``path`` (created if missing) and fsync it."""
    last = AuditEvent.objects.order_by("-id").only("id", "hash").first()
    anchor = Anchor(
        written_at=timezone.now().replace(microsecond=0).isoformat(),
        event_id=last.id if last else 0,
        hash=last.hash if last else GENESIS_HASH,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Append-only use of the file: never rewritten, so an earlier anchor cannot be lost by a crash.
    with open(path, "a", encoding="ascii") as handle:
        handle.write(f"{anchor}\n")
        handle.flush()
        os.fsync(handle.fileno())
    return anchor


def audit_anchors_read(*, path: Path) -> list[Anchor]:
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        raise AnchorFileError(f"cannot read the anchor file {path}: {error}") from None
    anchors = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3 or not parts[1].isdigit() or len(parts[2]) != 64:
            raise AnchorFileError(f"line {number} of {path} is not '<iso time> <row id> <hash>': {line!r}")
        anchors.append(
            Anchor(written_at=parts[0], event_id=int(parts[1]), hash=parts[2].lower(), line=number)
        )
    return anchors


def audit_anchors_missing(*, anchors: list[Anchor]) -> list[Anchor]:
    """The anchors whose row (that id with that hash) is no longer in the trail."""
    missing = []
    for anchor in anchors:
        if anchor.event_id == 0 and anchor.hash == GENESIS_HASH:
            continue  # anchored while the trail was empty: nothing it could lose
        if not AuditEvent.objects.filter(id=anchor.event_id, hash=anchor.hash).exists():
            missing.append(anchor)
    return missing


REVIEW_SCREEN_VIEWED = AuditAction.REVIEW_SCREEN_VIEWED


def review_screen_view_record(
    *, request_id: int, user: AbstractBaseUser, selfie_ids: list[int], image_ids: list[int]
) -> AuditEvent:
    """Record that a staff member opened a request's review screen showing biometric data.

    One row per page view, not per thumbnail: the page is what a person looked at; the image
    requests it triggers (and a browser's re-fetches) would only add noise. Ids only, no images.
    """
    with transaction.atomic():
        return audit_record(
            actor=actor_for(user),
            action=REVIEW_SCREEN_VIEWED,
            request_id=request_id,
            detail={"selfies": sorted(selfie_ids), "images": sorted(image_ids)},
        )
