"""Reads shared by the pipeline and the pages: confirmed matches, usable selfies, search coverage.

May import: rights.models and matching.models. Nothing here writes, sends or imports a use-case folder.
"""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.db.models import Count, Max, Min, Q

from matching.models import Image
from rights.models import AuditAction, DataRequest, Match, Selfie


def matches_confirmed(*, request: DataRequest) -> list[Match]:
    """The matches an approved request acts on: `match` band unless rejected, others only if confirmed."""
    confirmed = Q(decision=Match.Decision.CONFIRMED) | Q(
        band=Match.Band.MATCH, decision=Match.Decision.PENDING
    )
    return list(request.matches.filter(confirmed).order_by("id"))


def selfies_usable(*, request: DataRequest) -> tuple[list[int], np.ndarray]:
    """(selfie ids, their vectors, one row each) of the request's usable selfies, by id."""
    usable = [(s.id, s.vector) for s in request.selfies.filter(status=Selfie.Status.USABLE).order_by("id")]
    usable = [(sid, v) for sid, v in usable if v is not None]
    if not usable:
        return [], np.empty((0, settings.EMBEDDING_DIM), dtype=np.float32)
    return [sid for sid, _ in usable], np.stack([v for _, v in usable]).astype(np.float32)


def selfies_usable_vectors(*, request: DataRequest) -> np.ndarray:
    return selfies_usable(request=request)[1]


def request_identifiers(*, request: DataRequest) -> list[str]:
    return [line.strip() for line in (request.identifiers or "").splitlines() if line.strip()]


def search_whole_collection(*, request: DataRequest) -> bool:
    """Whether the request's search covered the whole collection, from what was recorded then.

    The index searched must have held every Face of the collection (after its sync); a request
    searched before these figures were recorded, or never searched, cannot say so.
    """
    return (
        request.searched_at is not None
        and request.searched_index_faces is not None
        and request.searched_index_faces == request.searched_collection_faces
    )


def search_coverage(*, request: DataRequest) -> dict[str, object]:
    """What the request's search covered, as stated in its access report or erasure certificate."""
    return {
        "from": request.searched_collection_from.isoformat() if request.searched_collection_from else "",
        "to": request.searched_collection_to.isoformat() if request.searched_collection_to else "",
        "size": request.searched_collection_size or 0,
        "index_faces": request.searched_index_faces,
        "collection_faces": request.searched_collection_faces,
        "whole_collection": search_whole_collection(request=request),
        "thresholds": search_thresholds(request=request),
    }


def search_thresholds(*, request: DataRequest) -> dict[str, object] | None:
    """The bands the request's last search used and why, as its search_done audit row records them."""
    event = request.events.filter(action=AuditAction.SEARCH_DONE).order_by("-id").only("detail").first()
    return (event.detail or {}).get("thresholds") if event is not None else None


def collection_span() -> dict[str, object]:
    span = Image.objects.aggregate(first=Min("collected_at"), last=Max("collected_at"), size=Count("id"))
    return {"from": span["first"], "to": span["last"], "size": span["size"]}
