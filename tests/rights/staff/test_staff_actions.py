"""Refusal (Art. 12(4)-(5)) and linking of requests by staff (rights.staff.actions)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings

from rights.models import Answer, AuditEvent, DataRequest, RequestStatus
from rights.staff.actions import REFUSAL_REASON_MIN_CHARS, ActionRefused, request_refuse, requests_link
from tests.rights.staff_helpers import (
    PRIVACY_OFFICER,
    REFUSAL_REASON,
    REVIEWER,
    break_the_mail_server,
    local,
    make_request,
    staff_user,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer():
    return staff_user(PRIVACY_OFFICER, username="olivia")


def _not_refused(data_request: DataRequest) -> None:
    fresh = DataRequest.objects.get(id=data_request.id)
    assert fresh.status == data_request.status
    assert (fresh.refusal_reason, fresh.answered_at, fresh.closed_at) == ("", None, None)
    assert not fresh.answers.exists()
    assert not AuditEvent.objects.filter(action="refused").exists()


def test_refusal_sends_the_letter_stores_the_answer_and_closes(officer, mailoutbox) -> None:
    data_request = make_request(received_at=local(2024, 5, 1, 10), status=RequestStatus.REVIEW)
    with time_machine.travel(local(2024, 5, 10, 10), tick=False):
        refused = request_refuse(request_id=data_request.id, user=officer, reason=f"  {REFUSAL_REASON}\n")
    assert refused.status == RequestStatus.REFUSED
    assert refused.refusal_reason == REFUSAL_REASON
    assert refused.answered_at == refused.closed_at == local(2024, 5, 10, 10)

    [letter] = mailoutbox
    assert letter.to == ["person@example.org"]
    assert REFUSAL_REASON in letter.body
    assert "Article 12(5)" in letter.body
    assert django_settings.SUPERVISORY_AUTHORITY in letter.body  # not HTML-escaped
    assert "judicial remedy before a court" in letter.body
    assert refused.public_token in letter.body

    answer = Answer.objects.get(request=refused)
    assert answer.kind == Answer.Kind.REFUSAL
    assert answer.payload["reason"] == REFUSAL_REASON

    event = AuditEvent.objects.get(action="refused")
    assert (event.actor, event.from_status, event.to_status, event.reason) == (
        "staff:olivia",
        RequestStatus.REVIEW,
        RequestStatus.REFUSED,
        REFUSAL_REASON,
    )


@pytest.mark.parametrize("reason", ["", "   ", "Too many.", "x" * (REFUSAL_REASON_MIN_CHARS - 1), None])
def test_refusal_without_a_real_justification_is_refused(officer, mailoutbox, reason) -> None:
    data_request = make_request(status=RequestStatus.REVIEW)
    with pytest.raises(ActionRefused) as refused:
        request_refuse(request_id=data_request.id, user=officer, reason=reason)
    assert refused.value.reason_code == "reason_too_short"
    assert f"at least {REFUSAL_REASON_MIN_CHARS} characters" in refused.value.message
    _not_refused(data_request)
    assert mailoutbox == []


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (RequestStatus.ANSWERED, "closed"),
        (RequestStatus.REFUSED, "closed"),
        (RequestStatus.UNCONFIRMED, "unconfirmed"),
        (RequestStatus.SEARCHING, "busy"),
        (RequestStatus.FULFILLING, "busy"),
    ],
)
def test_refusal_in_the_wrong_state_is_refused(officer, mailoutbox, status, code) -> None:
    data_request = make_request(status=status)
    with pytest.raises(ActionRefused) as refused:
        request_refuse(request_id=data_request.id, user=officer, reason=REFUSAL_REASON)
    assert refused.value.reason_code == code
    assert DataRequest.objects.get(id=data_request.id).status == status
    assert not Answer.objects.exists()
    assert mailoutbox == []


@pytest.mark.parametrize(
    "status",
    [
        RequestStatus.NEEDS_SELFIE,
        RequestStatus.QUEUED,
        RequestStatus.REVIEW,
        RequestStatus.APPROVED,
        RequestStatus.HELD,
    ],
)
def test_refusal_from_every_status_staff_can_hold(officer, mailoutbox, status) -> None:
    data_request = make_request(status=status)
    assert request_refuse(request_id=data_request.id, user=officer, reason=REFUSAL_REASON).status == "refused"


def test_refusal_whose_letter_cannot_be_sent_changes_nothing(officer, settings) -> None:
    break_the_mail_server(settings)
    data_request = make_request(status=RequestStatus.REVIEW)
    with pytest.raises(ActionRefused) as refused:
        request_refuse(request_id=data_request.id, user=officer, reason=REFUSAL_REASON)
    assert refused.value.reason_code == "letter_not_sent"
    _not_refused(data_request)
    assert AuditEvent.objects.get(action="refusal_letter_failed").actor == "staff:olivia"


def test_refusal_needs_the_permission(mailoutbox) -> None:
    data_request = make_request(status=RequestStatus.REVIEW)
    for user in (None, staff_user(REVIEWER)):
        with pytest.raises(ActionRefused) as refused:
            request_refuse(request_id=data_request.id, user=user, reason=REFUSAL_REASON)
        assert refused.value.reason_code == "not_permitted"
    _not_refused(data_request)
    assert mailoutbox == []


def test_nothing_but_the_staff_service_refuses_a_request() -> None:
    """Nothing refuses automatically: REFUSED is reached only through rights.staff.actions."""
    root = Path(django_settings.BASE_DIR)
    pattern = re.compile(r"to_status\s*=\s*(RequestStatus\.REFUSED|[\"']refused[\"'])")
    offenders = [
        str(path.relative_to(root))
        for folder in ("rights", "portal", "matching")
        for path in (root / folder).rglob("*.py")
        if "migrations" not in path.parts and pattern.search(path.read_text())
    ]
    assert offenders == ["rights/staff/actions.py"]


# --- Linking ------------------------------------------------------------------------------------


def test_linking_records_the_earlier_request_and_never_changes_status(officer) -> None:
    earlier = make_request(received_at=local(2024, 1, 1, 10), status=RequestStatus.ANSWERED)
    later = make_request(
        received_at=local(2024, 3, 1, 10), status=RequestStatus.REVIEW, email="other@example.org"
    )
    requests_link(request_id=later.id, earlier_id=earlier.id, user=officer)
    later.refresh_from_db()
    assert list(later.earlier_requests.values_list("id", flat=True)) == [earlier.id]
    assert later.status == RequestStatus.REVIEW
    event = AuditEvent.objects.get(action="requests_linked")
    assert (event.request_id, event.actor, event.detail) == (
        later.id,
        "staff:olivia",
        {"earlier_request_ids": [earlier.id], "by": "staff"},
    )


@pytest.mark.parametrize(
    ("which", "code"),
    [
        ("self", "same_request"),
        ("later", "not_earlier"),
        ("missing", "not_found"),
        ("twice", "already_linked"),
    ],
)
def test_bad_links_are_refused(officer, which, code) -> None:
    earlier = make_request(received_at=local(2024, 1, 1, 10))
    later = make_request(received_at=local(2024, 3, 1, 10))
    args = {
        "self": (later.id, later.id),
        "later": (earlier.id, later.id),
        "missing": (later.id, 999999),
        "twice": (later.id, earlier.id),
    }[which]
    if which == "twice":
        requests_link(request_id=later.id, earlier_id=earlier.id, user=officer)
    before = AuditEvent.objects.count()
    with pytest.raises(ActionRefused) as refused:
        requests_link(request_id=args[0], earlier_id=args[1], user=officer)
    assert refused.value.reason_code == code
    assert AuditEvent.objects.count() == before


def test_linking_needs_the_permission() -> None:
    earlier = make_request(received_at=local(2024, 1, 1, 10))
    later = make_request(received_at=local(2024, 3, 1, 10))
    with pytest.raises(ActionRefused) as refused:
        requests_link(request_id=later.id, earlier_id=earlier.id, user=staff_user(REVIEWER))
    assert refused.value.reason_code == "not_permitted"
    assert not later.earlier_requests.exists()


def test_refusing_an_access_request_resumes_the_same_persons_waiting_erasure(
    officer, mailoutbox, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    enqueued: list[int] = []

    def send(*, name, args=(), kwargs=None):  # this unit stops at the broker
        assert name == "rights.request_fulfil"
        enqueued.append(*args)

    monkeypatch.setattr("rights.lifecycle.enqueue.task_send", send)
    access = make_request(kind="access", status=RequestStatus.REVIEW)
    waiting_erasure = make_request(kind="erasure", status=RequestStatus.APPROVED)

    with django_capture_on_commit_callbacks(execute=True):
        request_refuse(request_id=access.id, user=officer, reason=REFUSAL_REASON)

    assert enqueued == [waiting_erasure.id]
