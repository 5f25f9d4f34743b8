"""Storing a request's answer and telling the person it is ready (FULFILLING -> ANSWERED)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile

from rights.lifecycle.audit import SYSTEM
from rights.lifecycle.emails import email_send, url_for
from rights.lifecycle.transitions import request_transition
from rights.models import Answer, AuditAction, DataRequest, RequestStatus


def requester_notify_answer(*, request: DataRequest, answer_token: str) -> None:
    email_send(
        to=request.email,
        template="answer_ready",
        context={
            "request": request,
            "kind": request.kind,
            "status_url": url_for("public:status", token=request.public_token),
            "download_url": url_for("public:download", token=answer_token),
            "answer_url": url_for("public:answer", token=answer_token),
        },
        request_id=request.id,
        language=request.language,
    )


def answer_store(
    *, request: DataRequest, kind: str, payload: dict[str, Any], content: bytes, extension: str, now: datetime
) -> Answer:
    """Store the request's answer of ``kind`` with its download file; call inside the transaction.

    A retry after a crash replaces an answer of that kind built but never sent.
    """
    for stale in request.answers.filter(kind=kind):
        stale.archive.delete(save=False)
        stale.delete()
    answer = Answer(
        request=request,
        kind=kind,
        payload=payload,
        download_expires_at=now + settings.DOWNLOAD_LINK_MAX_AGE,
    )
    answer.archive.save(f"{secrets.token_hex(16)}.{extension}", ContentFile(content), save=False)
    answer.save()
    return answer


def request_answered(*, request_id: int, answer_token: str, detail: dict[str, object]) -> bool:
    """Email the person, then FULFILLING -> ANSWERED.

    The email goes first: if the worker dies in between, the retry sends it again (a duplicate
    email) rather than closing the request with nobody told.
    """
    request = DataRequest.objects.get(id=request_id)
    requester_notify_answer(request=request, answer_token=answer_token)
    return request_transition(
        request_id=request_id,
        from_statuses=[RequestStatus.FULFILLING],
        to_status=RequestStatus.ANSWERED,
        actor=SYSTEM,
        action=AuditAction.ANSWERED,
        detail=detail,
        fields={"hold_reason": ""},
    )
