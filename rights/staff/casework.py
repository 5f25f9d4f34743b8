"""Casework on a request: assign it to a member of staff, write an internal note, send the
requester a message (emailed in their language and shown on their status page). Each is audited.

Needs ``rights.change_datarequest`` (the privacy officer's role). Bad input changes nothing.
"""

from __future__ import annotations

import logging

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from rights.casework import Assignment, RequestNote
from rights.lifecycle.audit import actor_for, audit_record
from rights.lifecycle.emails import email_send, url_for
from rights.models import AuditAction, DataRequest
from rights.staff.actions import ActionRefused

logger = logging.getLogger(__name__)

NOTE_MAX = 5000  # characters


def _allowed(*, user: User) -> None:
    if user is None or not user.is_active or not user.has_perm("rights.change_datarequest"):
        raise ActionRefused(
            "not_permitted",
            gettext("You do not have the permission this needs (%(permission)s).")
            % {"permission": "rights.change_datarequest"},
        )


def _request(*, request_id: int) -> DataRequest:
    request = DataRequest.objects.select_for_update().filter(id=request_id).first()
    if request is None:
        raise ActionRefused("not_found", gettext("There is no request #%(number)s.") % {"number": request_id})
    return request


def _text(*, text: str, what: str) -> str:
    """``what``: "note" or "message" (each has its own sentences: the words differ by language)."""
    text = (text or "").strip()
    if not text:
        empty = gettext("Write the note first.") if what == "note" else gettext("Write the message first.")
        raise ActionRefused("empty", empty)
    if len(text) > NOTE_MAX:
        long = (
            gettext("The note is %(length)s characters long; at most %(most)s.")
            if what == "note"
            else gettext("The message is %(length)s characters long; at most %(most)s.")
        )
        raise ActionRefused("too_long", long % {"length": len(text), "most": NOTE_MAX})
    return text


def assignable_staff() -> list[User]:
    """Active staff who may see requests: those a request may be assigned to."""
    staff = User.objects.filter(is_active=True, is_staff=True).order_by("username")
    return [u for u in staff if u.has_perm("rights.view_datarequest")]


def request_assign(*, request_id: int, assignee_id: int | None, user: User) -> Assignment | None:
    """Assign the request to a member of staff (None: no one); replaces any earlier assignment."""
    _allowed(user=user)
    assignee = None
    if assignee_id is not None:
        assignee = next((u for u in assignable_staff() if u.id == assignee_id), None)
        if assignee is None:
            raise ActionRefused(
                "bad_assignee", gettext("That person is not active staff who may see requests.")
            )
    with transaction.atomic():
        _request(request_id=request_id)
        Assignment.objects.filter(request_id=request_id).delete()
        assignment = None
        if assignee is not None:
            assignment = Assignment.objects.create(
                request_id=request_id, assignee=assignee, assigned_by=user, assigned_at=timezone.now()
            )
        audit_record(
            actor=actor_for(user),
            action=AuditAction.CASEWORK_RECORDED,
            request_id=request_id,
            detail={"what": "assigned", "assignee": assignee.get_username() if assignee else None},
        )
    return assignment


def request_note_add(*, request_id: int, text: str, user: User) -> RequestNote:
    """An internal note: staff only, never shown to the requester. The audit row holds its id only."""
    _allowed(user=user)
    text = _text(text=text, what="note")
    with transaction.atomic():
        _request(request_id=request_id)
        note = RequestNote.objects.create(
            request_id=request_id, kind=RequestNote.Kind.INTERNAL, author=user, text=text
        )
        audit_record(
            actor=actor_for(user),
            action=AuditAction.CASEWORK_RECORDED,
            request_id=request_id,
            detail={"what": "note", "note_id": note.id},
        )
    return note


def request_message_send(*, request_id: int, text: str, user: User) -> RequestNote:
    """A message to the requester: recorded and shown on their status page, then emailed. If the
    mail server refuses it, the message stays recorded and shown (``emailed_at`` stays empty)."""
    _allowed(user=user)
    text = _text(text=text, what="message")
    with transaction.atomic():
        request = _request(request_id=request_id)
        if not request.email_verified_at:
            raise ActionRefused(
                "unconfirmed", gettext("The person has not confirmed their email address yet.")
            )
        note = RequestNote.objects.create(
            request_id=request_id, kind=RequestNote.Kind.MESSAGE, author=user, text=text
        )
        audit_record(
            actor=actor_for(user),
            action=AuditAction.CASEWORK_RECORDED,
            request_id=request_id,
            detail={"what": "message", "note_id": note.id},
        )
    try:
        email_send(
            to=request.email,
            template="staff_message",
            context={
                "request": request,
                "text": text,
                "status_url": url_for("public:status", token=request.public_token),
            },
            request_id=request_id,
            language=request.language,
        )
    except Exception as exc:  # the message stays on the status page; staff see it was not emailed
        logger.error("request %s: message %s not emailed (%s)", request_id, note.id, type(exc).__name__)
        return note
    RequestNote.objects.filter(id=note.id).update(emailed_at=timezone.now())
    note.refresh_from_db()
    return note
