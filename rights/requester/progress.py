"""How far an erasure has gone, read from the audit trail, for the request page and the status page;
whether it waits for the same person's access answer (rights.pipeline.erasure's one rule); and the
photos refused while others of the same request were used (the person is told which and why).

Read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rights.casework import RequestNote
from rights.models import AuditAction, AuditEvent, DataRequest, RequestKind, RequestStatus, Selfie
from rights.pipeline.erasure import erasure_waits_for

# While these, an erasure is being carried out (between chunks it waits in APPROVED).
UNDER_WAY = (RequestStatus.APPROVED, RequestStatus.FULFILLING)


@dataclass(frozen=True)
class ErasureProgress:
    chunks_done: int
    erased: int  # images erased so far, as the last chunk's audit row counted them
    remaining: int
    at: datetime


def erasure_progress(*, request: DataRequest) -> ErasureProgress | None:
    """The chunks done so far (None before the first one, or for another kind of request)."""
    if request.kind == RequestKind.ACCESS:
        return None
    chunks = AuditEvent.objects.filter(request_id=request.id, action=AuditAction.ERASURE_CHUNK_DONE)
    last = chunks.order_by("-id").only("detail", "created_at").first()
    if last is None:
        return None
    detail = last.detail if isinstance(last.detail, dict) else {}
    return ErasureProgress(
        chunks_done=chunks.count(),
        erased=int(detail.get("erased_so_far") or 0),
        remaining=int(detail.get("remaining") or 0),
        at=last.created_at,
    )


def erasure_waiting_for_access(*, request: DataRequest) -> bool:
    """An approved erasure that waits until the same person's access request is answered."""
    return request.status in UNDER_WAY and bool(erasure_waits_for(request=request))


def selfies_refused_among_used(*, request: DataRequest) -> list[Selfie]:
    """The photos refused (e.g. two faces in it) while at least one other photo was used."""
    selfies = list(request.selfies.order_by("id"))
    if not any(s.status == Selfie.Status.USABLE for s in selfies):
        return []  # then the page asks for another photo instead
    return [s for s in selfies if s.status == Selfie.Status.REJECTED]


def requester_messages(*, request: DataRequest) -> list[RequestNote]:
    """The messages staff wrote to the person, oldest first (never the internal notes)."""
    return list(request.notes.filter(kind=RequestNote.Kind.MESSAGE).order_by("created_at", "id"))
