"""Staff decisions on a request: extend the deadline, refuse, link to an earlier request.

Each is a deliberate act by a named member of staff with a permission: the service checks the
permission itself (the admin checks it too, but a service must not trust its caller), and every
refusal to act is one error type, ``ActionRefused``, with a machine-readable code and a message
fit to show to staff.

Letters go out before anything is recorded: an extension or a refusal the person was never told
about must not exist. The row is locked while the letter is sent, so no worker can move the
request under us, and the record is written in the same transaction right after sending.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, pgettext

from rights.lifecycle import clock
from rights.lifecycle.audit import actor_for, audit_record
from rights.lifecycle.emails import email_send, url_for
from rights.lifecycle.transitions import request_transition
from rights.models import REFUSABLE_STATUSES, Answer, AuditAction, DataRequest, RequestKind, RequestStatus
from rights.pipeline.erasure import erasures_waiting_resume

logger = logging.getLogger(__name__)

# A refusal must explain itself (Art. 12(5)): a word or two is not a justification.
REFUSAL_REASON_MIN_CHARS = 40

User = AbstractBaseUser | AnonymousUser | None


class ActionRefused(Exception):
    """A staff action that was not carried out; nothing was changed."""

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} [{self.reason_code}]"


def _day(moment: datetime) -> str:
    """A date as staff read it in their language ("29 February 2024" in English)."""
    return date_format(
        timezone.localtime(moment), pgettext("PHP-style date format in a staff message", "d F Y")
    )


# The messages are in the active language (the staff member's, in the dashboard; English for the
# commands): they are shown, never stored. Letters take the requester's language (``_send_letter``).
def _require_permission(*, user: User, permission: str) -> None:
    if user is None or not user.is_authenticated or not user.is_active or not user.has_perm(permission):
        raise ActionRefused(
            "not_permitted",
            gettext("You do not have the permission this needs (%(permission)s).")
            % {"permission": permission},
        )


def _not_found(request_id: int) -> ActionRefused:
    return ActionRefused("not_found", gettext("There is no request #%(number)s.") % {"number": request_id})


def _closed(request_id: int) -> ActionRefused:
    return ActionRefused("closed", gettext("Request #%(number)s is already closed.") % {"number": request_id})


def _unconfirmed() -> ActionRefused:
    return ActionRefused("unconfirmed", gettext("The person has not confirmed their email address yet."))


def _locked_request(*, request_id: int) -> DataRequest:
    request = DataRequest.objects.select_for_update().filter(id=request_id).first()
    if request is None:
        raise _not_found(request_id)
    return request


def _locked_open_request(*, request_id: int) -> DataRequest:
    """The request, locked; refused when it is closed or its email is not confirmed yet."""
    request = _locked_request(request_id=request_id)
    if request.is_closed:
        raise _closed(request_id)
    if request.status == RequestStatus.UNCONFIRMED:
        raise _unconfirmed()
    return request


def _letter_context(*, request: DataRequest) -> dict[str, Any]:
    return {
        "request": request,
        "received_at": timezone.localtime(request.received_at),
        "status_url": url_for("public:status", token=request.public_token),
    }


def request_extension_refusal(*, request: DataRequest, now: datetime) -> ActionRefused | None:
    """Why ``request`` cannot be extended now, or None when it can. The one extension rule.

    Open and confirmed, never extended before, and before the original due date in force (with the
    pause on, moved by the days waited so far): Art. 12(3) wants the person told before it.
    """
    if request.is_closed:
        return _closed(request.id)
    if request.status == RequestStatus.UNCONFIRMED:
        return _unconfirmed()
    if request.extended_until or request.extension_notified_at:
        return ActionRefused(
            "already_extended",
            gettext("Request #%(number)s has already been extended once; only one is allowed.")
            % {"number": request.id},
        )
    original_due = clock.due_in_force(due_at=request.due_at, waiting_since=request.waiting_since, now=now)
    if now > original_due:
        return ActionRefused(
            "too_late",
            gettext("The original due date (%(due)s) has passed: an extension must be notified before it.")
            % {"due": _day(original_due)},
        )
    return None


def request_extend(*, request_id: int, user: User, months: int, reason: str) -> DataRequest:
    """Extend the deadline once, by 1 or 2 further months, after telling the person why."""
    _require_permission(user=user, permission="rights.extend_request")
    reason = (reason or "").strip()
    if not reason:
        raise ActionRefused("no_reason", gettext("An extension needs a reason; it is sent to the person."))
    if (
        isinstance(months, bool)
        or not isinstance(months, int)
        or not 1 <= months <= clock.MAX_EXTENSION_MONTHS
    ):
        raise ActionRefused(
            "months_out_of_range",
            gettext(
                "An extension is of 1 to %(most)s further months, not %(months)s. The months are counted "
                "from the due date as it stands: a due date of 28 February can be extended to 28 April "
                "at the most, not 30 April."
            )
            % {"most": clock.MAX_EXTENSION_MONTHS, "months": repr(months)},
        )
    try:
        with transaction.atomic():
            request = _locked_request(request_id=request_id)
            refusal = request_extension_refusal(request=request, now=timezone.now())
            if refusal is not None:
                raise refusal
            # From the stored due date: when a wait ends, transitions moves both dates by the same days.
            extended_until = clock.extended_due_at(due_at=request.due_at, months=months)
            latest = clock.latest_extension_for(due_at=request.due_at)
            if extended_until > latest:
                raise ActionRefused(
                    "months_out_of_range",
                    gettext(
                        "That is beyond two further months: the latest date is %(latest)s, two months "
                        "after the due date (%(due)s), counted as the due date itself was (a due date "
                        "of 28 February gives 28 April, not 30 April)."
                    )
                    % {"latest": _day(latest), "due": _day(request.due_at)},
                )
            context = {
                **_letter_context(request=request),
                "original_due_at": timezone.localtime(request.due_at),
                "extended_until": timezone.localtime(extended_until),
                "reason": reason,
            }
            _send_letter(request=request, template="extension", context=context)
            notified_at = timezone.now()
            # A new due date: the reminders before it and an escalation are owed afresh (the sweep
            # records reminders by threshold only, so the old ones would silence the new ones).
            DataRequest.objects.filter(id=request.id).update(
                extended_until=extended_until,
                extension_reason=reason,
                extension_notified_at=notified_at,
                reminders_sent=[],
                escalated_at=None,
            )
            audit_record(
                actor=actor_for(user),
                action=AuditAction.EXTENDED,
                request_id=request.id,
                reason=reason,
                detail={
                    "months": months,
                    "original_due_at": request.due_at.isoformat(),
                    "extended_until": extended_until.isoformat(),
                    "letter_sent_at": notified_at.isoformat(),
                },
            )
    except _LetterFailed as failed:
        _record_failed_letter(
            user=user, request_id=request_id, action=AuditAction.EXTENSION_LETTER_FAILED, error=failed
        )
        raise ActionRefused(
            "letter_not_sent",
            gettext(
                "The extension letter could not be sent, so the deadline was not extended. "
                "Check the mail server and try again."
            ),
        ) from failed.__cause__
    logger.info("request extended request=%s months=%s", request_id, months)
    return DataRequest.objects.get(id=request_id)


def request_refuse(*, request_id: int, user: User, reason: str) -> DataRequest:
    """Refuse a request as manifestly unfounded or excessive (Art. 12(5)), with a letter (Art. 12(4))."""
    _require_permission(user=user, permission="rights.refuse_request")
    reason = (reason or "").strip()
    if len(reason) < REFUSAL_REASON_MIN_CHARS:
        raise ActionRefused(
            "reason_too_short",
            gettext(
                "A refusal needs a written justification of why the request is manifestly unfounded or "
                "excessive (at least %(chars)s characters); it is sent to the person."
            )
            % {"chars": REFUSAL_REASON_MIN_CHARS},
        )
    try:
        with transaction.atomic():
            request = _locked_open_request(request_id=request_id)
            if request.status not in REFUSABLE_STATUSES:
                raise ActionRefused(
                    "busy",
                    gettext(
                        "Request #%(number)s is being worked on (%(status)s); try again when that step "
                        "is finished."
                    )
                    % {"number": request_id, "status": request.get_status_display()},
                )
            context = {**_letter_context(request=request), "reason": reason}
            _send_letter(request=request, template="refusal", context=context)
            now = timezone.now()
            Answer.objects.create(
                request=request,
                kind=Answer.Kind.REFUSAL,
                payload={
                    "reason": reason,
                    "legal_basis": "GDPR Art. 12(5): manifestly unfounded or excessive",
                    "letter_sent_at": now.isoformat(),
                },
            )
            moved = request_transition(
                request_id=request.id,
                from_statuses=[request.status],
                to_status=RequestStatus.REFUSED,
                actor=actor_for(user),
                action=AuditAction.REFUSED,
                reason=reason,
                detail={"letter_sent_at": now.isoformat()},
                fields={"refusal_reason": reason, "answered_at": now},
            )
            if not moved:  # cannot happen while the row is locked; never leave a half-refusal
                raise RuntimeError(f"request {request.id} changed status while locked")
            if request.kind == RequestKind.ACCESS:
                # An erasure of the same person's images waits for their open access answer:
                # a refusal closes that access request, so the erasure must not wait for ever.
                erasures_waiting_resume(request=request)
    except _LetterFailed as failed:
        _record_failed_letter(
            user=user, request_id=request_id, action=AuditAction.REFUSAL_LETTER_FAILED, error=failed
        )
        raise ActionRefused(
            "letter_not_sent",
            gettext(
                "The refusal letter could not be sent, so the request was not refused. "
                "Check the mail server and try again."
            ),
        ) from failed.__cause__
    logger.info("request refused request=%s", request_id)
    return DataRequest.objects.get(id=request_id)


def requests_link(*, request_id: int, earlier_id: int, user: User) -> DataRequest:
    """Record that ``earlier_id`` is an earlier request of the same person. Never refuses anything."""
    _require_permission(user=user, permission="rights.change_datarequest")
    if request_id == earlier_id:
        raise ActionRefused("same_request", gettext("A request cannot be linked to itself."))
    with transaction.atomic():
        request = _locked_request(request_id=request_id)
        earlier = DataRequest.objects.filter(id=earlier_id).first()
        if earlier is None:
            raise _not_found(earlier_id)
        if earlier.received_at > request.received_at:
            raise ActionRefused(
                "not_earlier",
                gettext("Request #%(earlier)s was received after #%(number)s; link it the other way.")
                % {"earlier": earlier_id, "number": request_id},
            )
        if (
            request.earlier_requests.filter(id=earlier_id).exists()
            or earlier.earlier_requests.filter(id=request_id).exists()
        ):
            raise ActionRefused(
                "already_linked",
                gettext("Requests #%(number)s and #%(earlier)s are already linked.")
                % {"number": request_id, "earlier": earlier_id},
            )
        request.earlier_requests.add(earlier)
        audit_record(
            actor=actor_for(user),
            action=AuditAction.REQUESTS_LINKED,
            request_id=request.id,
            reason="linked by staff",
            detail={"earlier_request_ids": [earlier_id], "by": "staff"},
        )
    return request


class _LetterFailed(Exception):
    pass


def _send_letter(*, request: DataRequest, template: str, context: dict[str, Any]) -> None:
    try:
        email_send(
            to=request.email,
            template=template,
            context=context,
            request_id=request.id,
            language=request.language,
        )
    except Exception as exc:  # any mail failure: nothing may be recorded
        logger.warning(
            "letter not sent template=%s request=%s error=%s", template, request.id, type(exc).__name__
        )
        raise _LetterFailed(template) from exc


def _record_failed_letter(*, user: User, request_id: int, action: str, error: _LetterFailed) -> None:
    cause = error.__cause__
    with transaction.atomic():
        audit_record(
            actor=actor_for(user),
            action=action,
            request_id=request_id,
            reason="letter could not be sent; nothing was changed",
            detail={"error": type(cause).__name__ if cause else "unknown"},
        )
