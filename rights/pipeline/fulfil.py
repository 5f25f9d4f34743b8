"""The fulfilment dispatcher: claim an APPROVED request and hand it to access, erasure or objection."""

from __future__ import annotations

from rights.lifecycle.claims import request_claim
from rights.models import DataRequest, RequestKind, RequestStatus
from rights.pipeline.access import access_answer_run
from rights.pipeline.erasure import erasure_must_wait, erasure_run
from rights.pipeline.objection import objection_run


def request_fulfil_run(*, request_id: int) -> str | None:
    """Claim an APPROVED request and carry it out; returns the status it ends in.

    None when it is gone or someone else holds it; "waiting" when it must wait for the same
    person's access request. An exception leaves it FULFILLING: see ``fulfil_failed``.
    """
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
