"""rights.requester.requests: submission, confirmation, another photo, follow-ups, the timeline."""

from __future__ import annotations

import io
import smtplib
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core import signing
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone
from PIL import Image

from matching.services.imaging import ImageRejected
from rights.lifecycle.clock import due_at_for
from rights.lifecycle.transitions import request_transition
from rights.models import AuditEvent, DataRequest, RequestKind, RequestStatus, Selfie
from rights.requester import requests as svc
from rights.requester import status as status_svc
from tests.portal.helpers import confirm_path, face_bytes, face_with_metadata, status_path
from tests.portal.hostile import hostile_files

pytestmark = pytest.mark.django_db


def media_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def submit(**overrides) -> DataRequest:
    values = {
        "kind": RequestKind.ACCESS,
        "email": "ana@example.org",
        "selfies": [face_bytes()],
        "identifiers": "",
        "country": "FR",
        "suppression_consent": False,
    }
    values.update(overrides)
    return svc.request_submit(**values)


def confirm_token_of(message) -> str:
    return confirm_path(message).rstrip("/").rsplit("/", 1)[-1]


def nothing_written() -> None:
    assert DataRequest.objects.count() == 0
    assert Selfie.objects.count() == 0
    assert AuditEvent.objects.count() == 0
    assert media_files() == []


@pytest.fixture
def no_enqueue(monkeypatch):
    """Records the ids request_search would be enqueued for (this file tests the services, not the worker)."""
    sent: list[int] = []

    def send(*, name, args=(), kwargs=None):
        assert name == "rights.request_search"
        sent.append(*args)

    monkeypatch.setattr("rights.lifecycle.enqueue.task_send", send)
    return sent


# --- request_submit ----------------------------------------------------------------------------


def test_submit_stores_an_unconfirmed_request_with_its_selfie_and_sends_the_confirmation(mailoutbox):
    at = timezone.make_aware(datetime(2026, 1, 31, 10, 0))
    with time_machine.travel(at, tick=False):
        request = submit(
            identifiers="https://social.example/ana\n\n  ana_photos \nhttps://social.example/ana\n"
        )

    assert request.status == RequestStatus.UNCONFIRMED
    assert request.received_at == at
    assert request.due_at == due_at_for(received_at=at)
    assert timezone.localtime(request.due_at).date().isoformat() == "2026-02-28"  # 31 Jan -> end of Feb
    assert request.identifiers == "https://social.example/ana\nana_photos"  # blank lines and repeats dropped
    assert request.email_verified_at is None
    selfie = request.selfies.get()
    assert selfie.status == Selfie.Status.PENDING
    assert Path(selfie.file.path).is_file()
    [event] = AuditEvent.objects.filter(request=request)
    assert (event.action, event.actor, event.to_status) == ("submitted", "requester", "unconfirmed")
    [message] = mailoutbox
    assert message.to == ["ana@example.org"]
    assert "confirm" in message.subject.lower()
    assert status_path(message) == f"/status/{request.public_token}/"
    assert confirm_path(message).startswith("/confirm/")
    assert "28 February 2026" in message.body  # the due date


def test_selfie_is_stored_without_metadata_under_a_random_name(mailoutbox):
    original = face_with_metadata()
    assert b"SecretCameraMaker" in original and b"GPS 48.8584" in original
    request = submit(selfies=[original])
    selfie = request.selfies.get()
    stored = Path(selfie.file.path).read_bytes()
    assert b"SecretCameraMaker" not in stored
    assert b"Secret Street" not in stored
    assert b"GPS 48.8584" not in stored
    assert dict(Image.open(io.BytesIO(stored)).getexif()) == {}
    # The name is random, not derived from the person or the upload; the hash is of what they sent.
    other = submit(selfies=[original], email="bo@example.org").selfies.get()
    assert Path(selfie.file.name).name != Path(other.file.name).name
    assert len(Path(selfie.file.name).stem) == 32
    assert selfie.sha256 == other.sha256


def test_three_selfies_are_accepted(mailoutbox):
    request = submit(selfies=[face_bytes()] * 3)
    assert request.selfies.count() == 3


def test_consent_is_kept_only_for_an_objection(mailoutbox):
    assert submit(kind=RequestKind.OBJECTION, suppression_consent=True).suppression_consent is True
    assert submit(kind=RequestKind.OBJECTION, suppression_consent=False).suppression_consent is False
    assert submit(kind=RequestKind.ERASURE, suppression_consent=True).suppression_consent is False


@pytest.mark.parametrize(
    ("overrides", "field", "says"),
    [
        ({"email": "not-an-address"}, "email", "not a valid email address"),
        ({"email": "ana@"}, "email", "not a valid email address"),
        ({"email": ""}, "email", "not a valid email address"),
        ({"selfies": []}, "selfies", "add a photo"),
        ({"selfies": [b"x"] * 4}, "selfies", "at most 3"),
        ({"kind": "rectification"}, "kind", "choose what you are asking for"),
        ({"country": "France"}, "country", "choose a country"),
        ({"identifiers": "\n".join(f"acct{i}" for i in range(51))}, "identifiers", "at most 50"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_written(mailoutbox, overrides, field, says):
    with pytest.raises(svc.RequestInvalid) as caught:
        submit(**overrides)
    assert says in " ".join(caught.value.errors[field])
    nothing_written()
    assert mailoutbox == []


def test_each_hostile_file_is_refused_with_the_decoders_message_and_nothing_written(mailoutbox):
    for hostile in hostile_files(face_jpeg=face_bytes()):
        with pytest.raises(svc.RequestInvalid) as caught:
            submit(selfies=[hostile.data])
        [message] = caught.value.errors["selfies"]
        assert hostile.says in message, hostile.label
        nothing_written()
    assert mailoutbox == []


def test_one_bad_photo_among_good_ones_is_named_and_refuses_the_whole_submission(mailoutbox):
    with pytest.raises(svc.RequestInvalid) as caught:
        submit(selfies=[face_bytes(), b"", face_bytes()])
    assert caught.value.errors["selfies"] == [
        "Photo 2: This file is empty (0 bytes). Please choose the photo again."
    ]
    nothing_written()


def test_several_errors_are_reported_together(mailoutbox):
    with pytest.raises(svc.RequestInvalid) as caught:
        submit(email="nope", selfies=[])
    assert set(caught.value.errors) == {"email", "selfies"}


def test_the_same_form_submitted_twice_creates_one_request_and_one_email(mailoutbox):
    nonce = svc.form_key_unsign(key=svc.form_key_new())
    first = submit(submission_key=nonce)
    second = submit(submission_key=nonce)
    assert second.id == first.id
    assert DataRequest.objects.count() == 1
    assert Selfie.objects.count() == 1
    assert len(media_files()) == 1
    assert len(mailoutbox) == 1


def test_the_same_form_key_with_a_different_submission_is_refused_clearly(mailoutbox):
    """Before the fix any post with the key returned the first request, whatever it asked."""
    nonce = svc.form_key_unsign(key=svc.form_key_new())
    first = submit(submission_key=nonce)
    changes = [
        {"kind": RequestKind.ERASURE},
        {"email": "someone-else@example.org"},
        {"selfies": [face_bytes(), face_bytes()]},
    ]
    for change in changes:
        with pytest.raises(svc.FormAlreadySent) as caught:
            submit(submission_key=nonce, **change)
        assert caught.value.errors == {"__all__": [svc.FORM_ALREADY_SENT]}
    # The same submission again (the email's case and spaces aside): the same request, nothing sent.
    assert submit(submission_key=nonce, email=" ANA@example.org").id == first.id
    assert DataRequest.objects.count() == 1 and len(mailoutbox) == 1


def test_a_form_key_is_signed(mailoutbox):
    key = svc.form_key_new()
    assert svc.form_key_unsign(key=key)
    assert svc.form_key_unsign(key=key[:-2] + "xx") is None
    assert svc.form_key_unsign(key="made-up") is None


class RefusingBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise smtplib.SMTPRecipientsRefused({"ana@example.org": (550, b"no such user")})


def test_a_confirmation_email_the_server_refuses_leaves_nothing_behind(settings):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    # Gets: RequestInvalid with a sentence for the email field (before: the SMTP error, an HTTP 500).
    with pytest.raises(svc.RequestInvalid) as caught:
        submit(selfies=[face_bytes(), face_bytes()])
    assert "could not send to this address" in caught.value.errors["email"][0]
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no SMTP text kept
    nothing_written()


# --- request_confirm ---------------------------------------------------------------------------


def test_confirm_queues_the_request_and_enqueues_the_search(
    mailoutbox, no_enqueue, django_capture_on_commit_callbacks
):
    request = submit()
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = svc.request_confirm(token=confirm_token_of(mailoutbox[0]))
    assert confirmed.id == request.id
    assert confirmed.status == RequestStatus.QUEUED
    assert confirmed.email_verified_at is not None
    assert no_enqueue == [request.id]
    event = AuditEvent.objects.filter(request=request).last()
    assert (event.action, event.from_status, event.to_status) == ("confirmed", "unconfirmed", "queued")


def test_confirming_twice_changes_nothing_the_second_time(
    mailoutbox, no_enqueue, django_capture_on_commit_callbacks
):
    submit()
    token = confirm_token_of(mailoutbox[0])
    with django_capture_on_commit_callbacks(execute=True):
        svc.request_confirm(token=token)
    events = AuditEvent.objects.count()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = svc.request_confirm(token=token)
    assert again.status == RequestStatus.QUEUED
    assert callbacks == []
    assert no_enqueue == [again.id]
    assert AuditEvent.objects.count() == events


def test_confirm_links_earlier_requests_of_the_same_email(mailoutbox, no_enqueue):
    earlier = submit(email="Ana@Example.org")
    later = submit(email="ana@example.org")
    svc.request_confirm(token=confirm_token_of(mailoutbox[1]))
    assert list(later.earlier_requests.all()) == [earlier]
    assert later.status != RequestStatus.REFUSED  # linked, never refused for being repeated


def test_confirmation_link_works_until_it_expires_and_not_after(mailoutbox, no_enqueue):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        submit()
        submit(email="bo@example.org")
    max_age = settings.CONFIRMATION_MAX_AGE
    with time_machine.travel(start + max_age - timedelta(minutes=1), tick=False):
        assert svc.request_confirm(token=confirm_token_of(mailoutbox[0])).status == RequestStatus.QUEUED
    with (
        time_machine.travel(start + max_age + timedelta(minutes=1), tick=False),
        pytest.raises(svc.ConfirmationInvalid),
    ):
        svc.request_confirm(token=confirm_token_of(mailoutbox[1]))
    assert DataRequest.objects.get(email="bo@example.org").status == RequestStatus.UNCONFIRMED


@pytest.mark.parametrize(
    "forge",
    [
        lambda token, request: token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb"),
        lambda token, request: signing.dumps(request.public_token, salt="another.salt"),
        lambda token, request: signing.dumps(request.public_token, salt=svc.CONFIRM_SALT, key="guessed-key"),
        lambda token, request: request.public_token,
        lambda token, request: "",
    ],
    ids=["tampered", "other-salt", "other-key", "status-token", "empty"],
)
def test_a_forged_confirmation_link_is_refused(mailoutbox, forge):
    request = submit()
    with pytest.raises(svc.ConfirmationInvalid):
        svc.request_confirm(token=forge(confirm_token_of(mailoutbox[0]), request))
    request.refresh_from_db()
    assert request.status == RequestStatus.UNCONFIRMED


def test_a_confirmation_link_of_a_request_that_is_gone_is_refused():
    # Requests are never deleted (their audit rows protect them), so "gone" is a correctly signed
    # link naming a request that does not exist: a plain refusal, nothing created.
    token = svc.confirm_token_make(request=DataRequest(public_token="no-such-request"))
    with pytest.raises(svc.ConfirmationInvalid):
        svc.request_confirm(token=token)
    assert not DataRequest.objects.exists()


# --- selfie_add --------------------------------------------------------------------------------


def needs_selfie(request: DataRequest, problem: str = "We found no face in this photo.") -> DataRequest:
    """Put a confirmed request where the worker puts it after an unusable photo.

    Done directly: the worker's own path (rights.pipeline.search) needs the face models and is
    tested in the pipeline's and the pages' tests.
    """
    request_transition(
        request_id=request.id,
        from_statuses=[RequestStatus.UNCONFIRMED],
        to_status=RequestStatus.QUEUED,
        actor="requester",
        action="confirmed",
    )
    request.selfies.update(status=Selfie.Status.REJECTED, problem=problem)
    for to_status in (RequestStatus.SEARCHING, RequestStatus.NEEDS_SELFIE):
        request_transition(
            request_id=request.id,
            from_statuses=[RequestStatus.QUEUED, RequestStatus.SEARCHING],
            to_status=to_status,
            actor="system",
            action="selfie_unusable" if to_status == RequestStatus.NEEDS_SELFIE else "search_started",
            fields={"selfie_problem": problem} if to_status == RequestStatus.NEEDS_SELFIE else {},
        )
    request.refresh_from_db()
    return request


def test_another_photo_puts_the_request_back_in_the_queue_with_the_same_due_date(
    mailoutbox, no_enqueue, django_capture_on_commit_callbacks
):
    request = needs_selfie(submit())
    due_at = request.due_at
    with django_capture_on_commit_callbacks(execute=True):
        selfie = svc.selfie_add(request=request, data=face_bytes())
    request.refresh_from_db()
    assert request.status == RequestStatus.QUEUED
    assert request.selfie_problem == ""
    assert request.due_at == due_at
    assert selfie.status == Selfie.Status.PENDING
    assert Path(selfie.file.path).is_file()
    assert no_enqueue == [request.id]
    assert AuditEvent.objects.filter(request=request).last().action == "selfie_added"


def test_a_hostile_photo_is_refused_and_nothing_written(mailoutbox, no_enqueue):
    request = needs_selfie(submit())
    before = (Selfie.objects.count(), len(media_files()), AuditEvent.objects.count())
    for hostile in hostile_files(face_jpeg=face_bytes()):
        with pytest.raises(ImageRejected) as caught:
            svc.selfie_add(request=request, data=hostile.data)
        assert hostile.says in caught.value.message, hostile.label
    assert (Selfie.objects.count(), len(media_files()), AuditEvent.objects.count()) == before
    request.refresh_from_db()
    assert request.status == RequestStatus.NEEDS_SELFIE


def test_a_photo_for_a_request_that_needs_none_is_refused_and_nothing_written(mailoutbox):
    request = submit()
    with pytest.raises(svc.RequestStateError):
        svc.selfie_add(request=request, data=face_bytes())
    assert request.selfies.count() == 1
    assert len(media_files()) == 1


# --- request_followup --------------------------------------------------------------------------


def test_a_followup_is_counted_and_audited(mailoutbox, no_enqueue):
    request = submit()
    svc.request_confirm(token=confirm_token_of(mailoutbox[0]))
    svc.request_followup(request=request)
    # One a day is counted (tests/rights/requester/test_followup_daily.py): the next one, a day later.
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        svc.request_followup(request=request)
    request.refresh_from_db()
    assert request.followups == 2
    events = AuditEvent.objects.filter(request=request, action="followup")
    assert [e.actor for e in events] == ["requester", "requester"]
    assert events.last().detail == {"followups": 2, "status": "queued"}


def test_a_followup_after_the_answer_is_refused_and_not_counted(mailoutbox):
    request = submit()
    DataRequest.objects.filter(id=request.id).update(status=RequestStatus.ANSWERED)
    with pytest.raises(svc.RequestStateError):
        svc.request_followup(request=request)
    request.refresh_from_db()
    assert request.followups == 0
    assert not AuditEvent.objects.filter(request=request, action="followup").exists()


# --- what the status page reads ----------------------------------------------------------------


def test_timeline_tells_what_happened_in_plain_words(mailoutbox, no_enqueue):
    request = needs_selfie(submit())
    svc.selfie_add(request=request, data=face_bytes())
    svc.request_followup(request=request)
    texts = [entry.text for entry in status_svc.request_timeline(request=request)]
    assert texts == [
        "You sent your request.",
        "You confirmed your email address.",
        "We started searching the whole collection.",
        "We could not use your photo and asked you for another one.",
        "You sent another photo.",
        "You asked where your answer is.",
    ]


def test_awaited_says_who_is_waited_for(mailoutbox, no_enqueue):
    request = submit()
    assert status_svc.request_awaited(request=request).who == "you"
    assert "confirm your email" in status_svc.request_awaited(request=request).text
    request = needs_selfie(request)
    assert "photo" in status_svc.request_awaited(request=request).text
    request.status = RequestStatus.REVIEW
    assert status_svc.request_awaited(request=request).who == "us"
    assert "staff are reviewing" in status_svc.request_awaited(request=request).text
    request.status = RequestStatus.ANSWERED
    assert status_svc.request_awaited(request=request).text == "Your answer is ready."


def test_tokens_that_look_nothing_like_ours_find_nothing(mailoutbox):
    request = submit()
    assert status_svc.request_by_token(token=request.public_token) == request
    assert status_svc.request_by_token(token=str(request.id)) is None
    assert status_svc.request_by_token(token=request.public_token[:-1]) is None
    assert status_svc.request_by_token(token="x" * 500) is None


@pytest.mark.django_db(transaction=True)
def test_the_same_form_posted_twice_at_the_same_moment_creates_one_request(mailoutbox, monkeypatch, caplog):
    """A double click sends two posts that race: the database's unique key decides, the loser's files go."""
    from django.db import connection

    nonce = svc.form_key_unsign(key=svc.form_key_new())
    barrier = threading.Barrier(2, timeout=60)
    validate = svc._submission_validate

    def validate_then_wait(**kwargs):
        # Both posts have looked for an earlier one and found none before either writes.
        checked = validate(**kwargs)
        barrier.wait()
        return checked

    monkeypatch.setattr(svc, "_submission_validate", validate_then_wait)
    results: list[int] = []
    errors: list[BaseException] = []

    def post() -> None:
        try:
            results.append(submit(submission_key=nonce, selfies=[face_bytes(), face_bytes()]).id)
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 2 and results[0] == results[1]
    assert DataRequest.objects.count() == 1
    assert Selfie.objects.count() == 2
    assert len(media_files()) == 2  # the losing post's files were removed
    assert len(mailoutbox) == 1
    assert "double submission" in caplog.text  # the race really happened
