"""rights.tasks: request_search and request_fulfil, each run twice, on a row gone, on a row already
taken, on a claim left by a dead worker, and through their bounded retries.

The tasks run in this process (``Task.apply``); the real worker is in test_pipeline_integration.
"""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.conf import settings as django_settings
from django.utils import timezone

from rights import tasks
from rights.models import AuditEvent, DataRequest, RequestKind, RequestStatus
from rights.tasks import request_fulfil, request_search
from tests.rights.pipeline_helpers import collection_ingest, request_make, searched_and_decided, selfie_bytes


@pytest.fixture
def collection(db, lfw_identities):
    return collection_ingest(lfw_identities=lfw_identities)


def _events(request: DataRequest) -> list[str]:
    return list(AuditEvent.objects.filter(request_id=request.id).values_list("action", flat=True))


# --- request_search ---------------------------------------------------------------------------


@pytest.mark.models
def test_search_task_run_twice_searches_once(collection):
    request = request_make(selfies=[selfie_bytes(collection.selfies["Clay_Aiken"])])
    assert request_search.apply(args=[request.id]).get() == RequestStatus.REVIEW
    matches, events = request.matches.count(), _events(request)
    assert request_search.apply(args=[request.id]).get() is None
    assert request.matches.count() == matches and _events(request) == events
    assert events.count("search_started") == 1


@pytest.mark.django_db
def test_search_task_on_a_request_gone_does_nothing():
    assert request_search.apply(args=[987654]).get() is None
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_search_task_leaves_a_request_another_worker_holds():
    request = request_make(status=RequestStatus.SEARCHING)
    with mock.patch.object(tasks, "request_search_run", wraps=tasks.request_search_run) as run:
        assert request_search.apply(args=[request.id]).get() is None
    assert run.call_count == 1  # tried, and the claim was refused
    request.refresh_from_db()
    assert request.status == RequestStatus.SEARCHING and _events(request) == []


@pytest.mark.models
def test_search_task_takes_over_a_claim_left_by_a_dead_worker(collection):
    request = request_make(
        status=RequestStatus.SEARCHING, selfies=[selfie_bytes(collection.selfies["Clay_Aiken"])]
    )
    with time_machine.travel(timezone.now() + django_settings.STUCK_AFTER + timedelta(minutes=1)):
        assert request_search.apply(args=[request.id]).get() == RequestStatus.REVIEW
    assert _events(request)[:2] == ["search_resumed", "selfie_checked"]


@pytest.mark.django_db
def test_search_task_not_queued_is_left_alone():
    for status in (RequestStatus.UNCONFIRMED, RequestStatus.REVIEW, RequestStatus.ANSWERED):
        request = request_make(status=status)
        assert request_search.apply(args=[request.id]).get() is None
        request.refresh_from_db()
        assert request.status == status


@pytest.mark.django_db
def test_search_task_failure_is_retried_then_held_with_staff_alerted(mailoutbox):
    request = request_make()
    boom = RuntimeError("face models unavailable")
    with (
        mock.patch.object(tasks, "retry_delay", return_value=timedelta(0)),
        mock.patch("rights.pipeline.search.selfie_check", side_effect=boom),
        mock.patch("rights.pipeline.search.selfies_usable", side_effect=boom),
    ):
        request.selfies.create(sha256="0" * 64)
        result = request_search.apply(args=[request.id])
    assert result.get() == RequestStatus.HELD
    request.refresh_from_db()
    assert request.status == RequestStatus.HELD
    assert "The search step raised RuntimeError" in request.hold_reason
    events = _events(request)
    assert events.count("search_retry") == tasks.SEARCH_MAX_RETRIES
    assert events.count("search_started") == tasks.SEARCH_MAX_RETRIES + 1
    assert events[-1] == "search_failed"
    assert [m.to for m in mailoutbox] == [[django_settings.PRIVACY_OFFICER_EMAIL]]


# --- request_fulfil ---------------------------------------------------------------------------


@pytest.mark.models
def test_fulfil_task_run_twice_answers_once(collection, mailoutbox):
    request = searched_and_decided(collection=collection, who="Edward_Lu", kind=RequestKind.ERASURE)
    DataRequest.objects.filter(pk=request.pk).update(status=RequestStatus.APPROVED)
    assert request_fulfil.apply(args=[request.id]).get() == RequestStatus.ANSWERED
    assert request_fulfil.apply(args=[request.id]).get() is None
    assert request.answers.count() == 1 and request.erasures.count() == len(collection.images["Edward_Lu"])
    assert len([m for m in mailoutbox if m.to == [request.email]]) == 1


@pytest.mark.django_db
def test_fulfil_task_on_a_request_gone_does_nothing():
    assert request_fulfil.apply(args=[987654]).get() is None


@pytest.mark.django_db
def test_fulfil_task_leaves_a_request_another_worker_holds():
    request = request_make(kind=RequestKind.ERASURE, status=RequestStatus.FULFILLING)
    assert request_fulfil.apply(args=[request.id]).get() is None
    request.refresh_from_db()
    assert (
        request.status == RequestStatus.FULFILLING and _events(request) == [] and request.answers.count() == 0
    )


@pytest.mark.django_db
def test_fulfil_task_not_approved_is_left_alone():
    for status in (RequestStatus.REVIEW, RequestStatus.HELD, RequestStatus.ANSWERED, RequestStatus.QUEUED):
        request = request_make(kind=RequestKind.ERASURE, status=status)
        assert request_fulfil.apply(args=[request.id]).get() is None
        assert request.answers.count() == 0


@pytest.mark.django_db
def test_fulfil_task_failures_count_attempts_then_hold(mailoutbox):
    request = request_make(kind=RequestKind.ERASURE, status=RequestStatus.APPROVED)
    with (
        mock.patch.object(tasks, "retry_delay", return_value=timedelta(0)),
        mock.patch("rights.pipeline.erasure.erasure_carry_out", side_effect=RuntimeError("disk full")),
    ):
        assert request_fulfil.apply(args=[request.id]).get() == RequestStatus.HELD
    request.refresh_from_db()
    assert request.status == RequestStatus.HELD and request.attempts == tasks.FULFIL_MAX_RETRIES + 1
    assert "The fulfilment step raised RuntimeError" in request.hold_reason
    assert _events(request).count("fulfilment_retry") == tasks.FULFIL_MAX_RETRIES
    assert [m.to for m in mailoutbox] == [[django_settings.PRIVACY_OFFICER_EMAIL]]


def test_an_error_quoting_an_email_address_reaches_neither_the_audit_trail_nor_the_log(
    db, mailoutbox, caplog, monkeypatch
):
    """Before the fix the raw error text went into the hold reason, the audit rows and, through
    logger.exception, the log."""
    from rights.pipeline import failures as fulfilment
    from rights.pipeline import search

    leak = "victim@example.org"
    smtp = RuntimeError(f"550 5.1.1 <{leak}>: Recipient address rejected")
    request = request_make(kind=RequestKind.ERASURE, status=RequestStatus.FULFILLING, email=leak)
    monkeypatch.setattr(fulfilment, "staff_email_send", mock.Mock(side_effect=smtp))
    monkeypatch.setattr(search, "email_send", mock.Mock(side_effect=smtp))
    caplog.set_level("DEBUG")

    fulfilment.fulfil_failed(request_id=request.id, error=smtp, final=True)  # held, alert mail fails
    search._requester_email_needs_selfie(request=request, problem="no face")

    request.refresh_from_db()
    assert request.status == RequestStatus.HELD
    assert "RuntimeError" in request.hold_reason and leak not in request.hold_reason
    for event in AuditEvent.objects.filter(request=request):
        assert leak not in f"{event.reason} {event.detail}", event.action
    assert "staff alert could not be sent (RuntimeError)" in caplog.text
    assert "needs_selfie email could not be sent (RuntimeError)" in caplog.text
    assert leak not in caplog.text
