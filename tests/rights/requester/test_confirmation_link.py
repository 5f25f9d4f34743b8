"""rights.requester.requests: the confirmation link signs an opaque nonce, never the status token."""

from __future__ import annotations

import base64

import pytest
from django.core import signing

from rights.models import DataRequest, RequestKind, RequestStatus
from rights.requester import requests as svc
from tests.portal.helpers import confirm_path, face_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_enqueue(monkeypatch):
    monkeypatch.setattr("rights.lifecycle.enqueue.task_send", lambda **_: None)


def _submitted(mailoutbox) -> tuple[DataRequest, str]:
    request = svc.request_submit(kind=RequestKind.ACCESS, email="ana@example.org", selfies=[face_bytes()])
    token = confirm_path(mailoutbox[-1]).rstrip("/").rsplit("/", 1)[-1]
    return request, token


def _readable(token: str) -> str:
    """Everything a reader of a log can decode from a signed token (its payload is base64)."""
    payload = token.split(":", 1)[0]
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("latin-1")


def test_the_confirmation_link_does_not_carry_the_status_token(mailoutbox, no_enqueue):
    request, token = _submitted(mailoutbox)

    # Before the fix the payload was the status token itself: a logged confirm path opened the
    # status page.
    assert request.public_token not in _readable(token) and request.public_token not in token
    assert request.confirm_nonce and request.confirm_nonce != request.public_token
    assert svc.request_confirm(token=token).status == RequestStatus.QUEUED


def test_a_link_signing_the_status_token_the_old_way_is_refused(mailoutbox, no_enqueue):
    request, _ = _submitted(mailoutbox)
    for salt in ("rights.request.confirm", svc.CONFIRM_SALT):
        old_style = signing.dumps(request.public_token, salt=salt)
        with pytest.raises(svc.ConfirmationInvalid):
            svc.request_confirm(token=old_style)
    request.refresh_from_db()
    assert request.status == RequestStatus.UNCONFIRMED


def test_each_request_has_its_own_nonce(mailoutbox, no_enqueue):
    first, first_token = _submitted(mailoutbox)
    second, second_token = _submitted(mailoutbox)
    assert first.confirm_nonce != second.confirm_nonce and first_token != second_token
    assert svc.request_confirm(token=second_token).id == second.id
    first.refresh_from_db()
    assert first.status == RequestStatus.UNCONFIRMED
