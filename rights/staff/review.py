"""Staff review of candidate matches, and approval of a request for fulfilment.

Only a member of staff with ``rights.review_match`` (decisions) or ``rights.approve_request``
(approval) may do this: the services check it themselves, whoever calls them (the dashboard and
the management commands check it too). They also enforce what must hold whoever calls them:
decisions only while the request waits for staff, and no approval while a candidate is still
undecided (a `review`-band or identifier candidate is never shown to the requester, nor erased,
without a person having looked at it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from rights.lifecycle import enqueue
from rights.lifecycle.audit import actor_for, audit_record
from rights.lifecycle.transitions import request_transition
from rights.models import REVIEWABLE_STATUSES, AuditAction, DataRequest, Match, RequestStatus

logger = logging.getLogger(__name__)

# Matches can be decided, and a request approved, while staff hold it: waiting for review, or held
# after a failed check (staff may correct the decisions and approve again).
# The messages are in the active language (the staff member's in the dashboard): shown, never stored.

# What a user may not do, as the messages name it.
WHAT = {
    "review": gettext_lazy("confirm or reject matches"),
    "approve": gettext_lazy("approve requests"),
}


class ReviewError(ValueError):
    """A review action that cannot be done; the message says why, for the member of staff."""


class ReviewNotAllowed(ReviewError):
    """The user may not do this review action (not active staff, or without the permission)."""


def _status_label(status: str) -> str:
    return str(RequestStatus(status).label) if status in RequestStatus.values else status


def _require_permission(*, user: AbstractBaseUser | None, permission: str, what: str) -> None:
    if user is None or not user.is_authenticated or not getattr(user, "is_active", False):
        raise ReviewNotAllowed(
            gettext("Only a signed-in member of staff may %(what)s.") % {"what": WHAT[what]}
        )
    if not user.has_perm(permission):
        raise ReviewNotAllowed(
            gettext("User %(user)s may not %(what)s: it needs the permission %(permission)s.")
            % {"user": repr(user.get_username()), "what": WHAT[what], "permission": repr(permission)}
        )


def _decide(*, match_ids: list[int], decision: str, user: AbstractBaseUser | None) -> list[Match]:
    _require_permission(user=user, permission="rights.review_match", what="review")
    if decision not in (Match.Decision.CONFIRMED, Match.Decision.REJECTED):
        raise ReviewError(
            gettext("Unknown decision %(decision)s: use 'confirmed' or 'rejected'.")
            % {"decision": repr(decision)}
        )
    if not match_ids:
        raise ReviewError(gettext("No match was given."))
    now = timezone.now()
    with transaction.atomic():
        matches = list(Match.objects.select_for_update().filter(id__in=match_ids).order_by("id"))
        missing = sorted(set(match_ids) - {m.id for m in matches})
        if missing:
            raise ReviewError(gettext("No match with id %(ids)s.") % {"ids": ", ".join(map(str, missing))})
        request_ids = {m.request_id for m in matches}
        statuses = dict(DataRequest.objects.filter(id__in=request_ids).values_list("id", "status"))
        for request_id, status in sorted(statuses.items()):
            if status not in REVIEWABLE_STATUSES:
                raise ReviewError(
                    gettext(
                        "Request %(number)s is %(status)s: matches can only be decided while it waits for "
                        "staff review (or is held)."
                    )
                    % {"number": request_id, "status": _status_label(status)}
                )
        for match in matches:
            previous = match.decision
            match.decision = decision
            match.decided_by = user
            match.decided_at = now
            match.save(update_fields=["decision", "decided_by", "decided_at"])
            audit_record(
                actor=actor_for(user),
                action=AuditAction(f"match_{decision}"),
                request_id=match.request_id,
                detail={
                    "match_id": match.id,
                    "band": match.band,
                    "score": match.score,
                    "image_sha256": match.image_sha256,
                    "previous_decision": previous,
                },
            )
    logger.info("matches %s %s by %s", [m.id for m in matches], decision, actor_for(user))
    return matches


def match_confirm(*, match_id: int, user: AbstractBaseUser | None) -> Match:
    """Staff confirm that a candidate image shows the requester."""
    return _decide(match_ids=[match_id], decision=Match.Decision.CONFIRMED, user=user)[0]


def match_reject(*, match_id: int, user: AbstractBaseUser | None) -> Match:
    """Staff decide that a candidate image does not show the requester (kept out of the answer)."""
    return _decide(match_ids=[match_id], decision=Match.Decision.REJECTED, user=user)[0]


def matches_decide(*, match_ids: Iterable[int], decision: str, user: AbstractBaseUser | None) -> list[Match]:
    """Confirm or reject several matches at once: all of them, or none if any cannot be decided."""
    return _decide(match_ids=list(dict.fromkeys(int(i) for i in match_ids)), decision=decision, user=user)


def request_approve(*, request_id: int, user: AbstractBaseUser | None) -> DataRequest:
    """Approve a request for fulfilment and enqueue it. Refused while any match awaits a decision."""
    _require_permission(user=user, permission="rights.approve_request", what="approve")
    with transaction.atomic():
        request = DataRequest.objects.select_for_update().filter(id=request_id).first()
        if request is None:
            raise ReviewError(gettext("No request with id %(number)s.") % {"number": request_id})
        if request.status not in REVIEWABLE_STATUSES:
            raise ReviewError(
                gettext(
                    "Request %(number)s is %(status)s: only a request waiting for staff review (or held) "
                    "can be approved."
                )
                % {"number": request_id, "status": _status_label(request.status)}
            )
        pending = list(
            request.matches.filter(decision=Match.Decision.PENDING)
            .exclude(band=Match.Band.MATCH)
            .order_by("id")
            .values_list("id", flat=True)
        )
        if pending:
            raise ReviewError(
                gettext(
                    "Request %(number)s still has %(count)s candidate match(es) waiting for review "
                    "(match ids %(ids)s): confirm or reject each before approving."
                )
                % {"number": request_id, "count": len(pending), "ids": ", ".join(map(str, pending))}
            )
        counts = {
            "match_band": request.matches.filter(band=Match.Band.MATCH)
            .exclude(decision=Match.Decision.REJECTED)
            .count(),
            "confirmed": request.matches.filter(decision=Match.Decision.CONFIRMED).count(),
            "rejected": request.matches.filter(decision=Match.Decision.REJECTED).count(),
        }
        moved = request_transition(
            request_id=request_id,
            from_statuses=[request.status],
            to_status=RequestStatus.APPROVED,
            actor=actor_for(user),
            action=AuditAction.REQUEST_APPROVED,
            detail=counts,
            fields={"hold_reason": ""},
        )
        if not moved:  # pragma: no cover - the row is locked above
            raise ReviewError(
                gettext("Request %(number)s changed while being approved; try again.")
                % {"number": request_id}
            )
        enqueue.request_fulfil_enqueue(request_id=request_id)
    request.refresh_from_db()
    logger.info("request %s approved by %s", request_id, actor_for(user))
    return request
