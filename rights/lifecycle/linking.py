"""Linking a request to the same person's earlier ones (same email, or the same face).

A link is information for staff and for the erasure ("answer an open access request first"); it
never refuses, delays or changes the answer of a request (CNIL: no cap on requests, ever).
"""

from __future__ import annotations

import logging

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet

from rights.lifecycle.audit import SYSTEM, audit_record
from rights.models import CONFIRMED_OPEN_STATUSES, AuditAction, AuditEvent, DataRequest, Selfie

logger = logging.getLogger(__name__)

STAFF_ACTOR_PREFIX = "staff:"  # audit actor of a staff member (rights.lifecycle.audit.actor_for)


def _link(*, request: DataRequest, earlier_ids: list[int], how: str) -> list[DataRequest]:
    """Add the links not made yet, with one audit row for the new ones."""
    with transaction.atomic():
        already = set(request.earlier_requests.values_list("id", flat=True))
        new_ids = sorted(set(earlier_ids) - already - {request.id})
        if not new_ids:
            return []
        request.earlier_requests.add(*new_ids)
        audit_record(
            actor=SYSTEM,
            action=AuditAction.REQUESTS_LINKED,
            request_id=request.id,
            reason=f"same {how} as earlier requests",
            detail={"earlier_request_ids": new_ids, "by": how},
        )
    logger.info("request %s linked to earlier %s by %s", request.id, new_ids, how)
    return list(DataRequest.objects.filter(id__in=new_ids))


def requests_link_earlier(*, request: DataRequest) -> list[DataRequest]:
    """Link ``request`` to every earlier request made from the same email address.

    Returns the requests newly linked (none when already linked). Called by the public side when a
    request is submitted or confirmed; safe to call again.
    """
    earlier = (
        DataRequest.objects.filter(email__iexact=request.email.strip())
        .filter(
            Q(received_at__lt=request.received_at) | Q(received_at=request.received_at, id__lt=request.id)
        )
        .exclude(id=request.id)
        .values_list("id", flat=True)
    )
    return _link(request=request, earlier_ids=list(earlier), how="email")


def requests_link_by_face(*, request: DataRequest) -> list[DataRequest]:
    """Link ``request`` to earlier requests whose kept selfie embeddings match one of its usable selfies.

    Compared at MATCH_THRESHOLD, so only a confident same-face link is made; selfies already purged
    (embedding gone) are not compared.
    """
    mine = [s.vector for s in request.selfies.filter(status=Selfie.Status.USABLE) if s.vector is not None]
    if not mine:
        return []
    query = np.stack(mine).astype(np.float32)
    candidates = (
        Selfie.objects.filter(status=Selfie.Status.USABLE, embedding__isnull=False, purged_at__isnull=True)
        .filter(
            Q(request__received_at__lt=request.received_at)
            | Q(request__received_at=request.received_at, request_id__lt=request.id)
        )
        .exclude(request_id=request.id)
        .values_list("request_id", "embedding")
    )
    earlier_ids: set[int] = set()
    for request_id, blob in candidates.iterator(chunk_size=500):
        if request_id in earlier_ids or blob is None:
            continue
        vector = np.frombuffer(bytes(blob), dtype="<f4")
        if vector.shape[0] != query.shape[1]:
            continue
        if float(np.max(query @ vector)) >= settings.MATCH_THRESHOLD:
            earlier_ids.add(request_id)
    return _link(request=request, earlier_ids=sorted(earlier_ids), how="face")


def requests_same_person(*, request: DataRequest) -> QuerySet[DataRequest]:
    """Other requests of the same person: the same email, or linked either way (one step)."""
    return (
        DataRequest.objects.filter(
            Q(email__iexact=request.email.strip()) | Q(later_requests=request) | Q(earlier_requests=request)
        )
        .exclude(id=request.id)
        .distinct()
    )


# An access request counts as open for "answer it first" once its email is confirmed.


def _staff_linked_ids(*, request: DataRequest, candidate_ids: list[int]) -> set[int]:
    """Of ``candidate_ids``, those staff linked to ``request`` (either way) with ``requests_link``."""
    events = AuditEvent.objects.filter(
        action=AuditAction.REQUESTS_LINKED,
        actor__startswith=STAFF_ACTOR_PREFIX,
        request_id__in=[request.id, *candidate_ids],
    ).values_list("request_id", "detail")
    linked: set[int] = set()
    for request_id, detail in events:
        earlier = set((detail or {}).get("earlier_request_ids") or [])
        if request_id == request.id:
            linked |= earlier & set(candidate_ids)
        elif request.id in earlier:
            linked.add(request_id)
    return linked


def access_requests_same_verified_person(*, request: DataRequest) -> list[int]:
    """Open access requests surely of the same person: the same verified email, or linked by staff.

    A link by face alone is not enough when the emails differ: anyone can file an access request
    with someone else's photo, and that must not hold up the victim's erasure.
    """
    open_requests = list(
        requests_same_person(request=request)
        .filter(kind="access", status__in=CONFIRMED_OPEN_STATUSES)
        .values_list("id", "email", "email_verified_at")
    )
    email = request.email.strip().lower()
    verified = request.email_verified_at is not None
    same_email = {
        rid
        for rid, other_email, other_verified_at in open_requests
        if verified and other_verified_at is not None and other_email.strip().lower() == email
    }
    others = [rid for rid, _, _ in open_requests if rid not in same_email]
    staff = _staff_linked_ids(request=request, candidate_ids=others) if others else set()
    return sorted(same_email | staff)


def access_requests_open_for(*, request: DataRequest) -> list[int]:
    """Ids of the same person's confirmed access requests not answered yet."""
    return list(
        requests_same_person(request=request)
        .filter(kind="access", status__in=CONFIRMED_OPEN_STATUSES)
        .order_by("id")
        .values_list("id", flat=True)
    )
