"""Recovery of requests left in a working status by a dead worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from rights.models import AuditEvent, DataRequest, RequestStatus
from rights.upkeep.recovery import request_requeue_if_stuck, requests_recover_stuck
from tests.rights.jobs_helpers import local, make_request

pytestmark = pytest.mark.django_db

NOW = local(2026, 6, 10, 12)


@pytest.fixture(autouse=True)
def _stuck_after(settings):
    settings.STUCK_AFTER = timedelta(minutes=30)
    settings.STUCK_QUEUED_AFTER = timedelta(hours=6)
    settings.STUCK_MAX_REQUEUES = 3


@pytest.fixture
def enqueued(monkeypatch):
    """What recovery enqueues, recorded instead of sent (this unit stops at the broker)."""
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(
        "rights.lifecycle.enqueue.task_send",
        lambda *, name, args=(), kwargs=None: calls.append((name.removeprefix("rights."), *args)),
    )
    return calls


def _stuck(status: str, minutes: int = 31) -> DataRequest:
    return make_request(status=status, status_changed_at=NOW - timedelta(minutes=minutes))


def test_stuck_requests_are_put_back_and_their_task_enqueued(enqueued, django_capture_on_commit_callbacks):
    searching = _stuck(RequestStatus.SEARCHING)
    fulfilling = _stuck(RequestStatus.FULFILLING)
    queued = _stuck(RequestStatus.QUEUED, minutes=6 * 60 + 1)
    approved = _stuck(RequestStatus.APPROVED, minutes=6 * 60 + 1)
    recent = _stuck(RequestStatus.SEARCHING, minutes=29)
    waiting = _stuck(RequestStatus.REVIEW, minutes=600)  # staff's turn, not a worker's

    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        result = requests_recover_stuck()

    assert (result.requeued, result.held) == (4, 0)
    status = dict(DataRequest.objects.values_list("id", "status"))
    assert status[searching.id] == RequestStatus.QUEUED
    assert status[fulfilling.id] == RequestStatus.APPROVED
    assert status[queued.id] == RequestStatus.QUEUED
    assert status[approved.id] == RequestStatus.APPROVED
    assert status[recent.id] == RequestStatus.SEARCHING
    assert status[waiting.id] == RequestStatus.REVIEW
    assert sorted(enqueued) == sorted(
        [
            ("request_search", searching.id),
            ("request_fulfil", fulfilling.id),
            ("request_search", queued.id),
            ("request_fulfil", approved.id),
        ]
    )
    event = AuditEvent.objects.get(request=searching, action="requeued_after_stuck")
    assert (event.from_status, event.to_status, event.actor) == ("searching", "queued", "system")
    assert event.detail["requeues"] == 1
    assert DataRequest.objects.get(id=queued.id).status_changed_at == NOW  # its timer starts again


def test_run_twice_requeues_once(enqueued, django_capture_on_commit_callbacks):
    request = _stuck(RequestStatus.SEARCHING)
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert requests_recover_stuck().requeued == 1
        assert requests_recover_stuck().requeued == 0
    assert enqueued == [("request_search", request.id)]
    assert AuditEvent.objects.filter(action="requeued_after_stuck").count() == 1


def test_row_gone_or_already_taken_is_left_alone(enqueued, django_capture_on_commit_callbacks):
    assert request_requeue_if_stuck(request_id=999_999, now=NOW) is None
    request = _stuck(RequestStatus.SEARCHING)
    # A worker finishes the search between the sweep's look and its move.
    DataRequest.objects.filter(id=request.id).update(status=RequestStatus.REVIEW, status_changed_at=NOW)
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert request_requeue_if_stuck(request_id=request.id, now=NOW) is None
    # A worker took it back over (same status, fresh claim): not stuck any more.
    DataRequest.objects.filter(id=request.id).update(status=RequestStatus.SEARCHING, status_changed_at=NOW)
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert request_requeue_if_stuck(request_id=request.id, now=NOW) is None
    assert enqueued == []
    assert DataRequest.objects.get(id=request.id).status == RequestStatus.SEARCHING


def test_a_request_stuck_again_and_again_is_held_for_staff(enqueued, django_capture_on_commit_callbacks):
    request = _stuck(RequestStatus.FULFILLING)
    moment = NOW
    outcomes = []
    for _ in range(4):
        with time_machine.travel(moment, tick=False), django_capture_on_commit_callbacks(execute=True):
            outcomes.append(request_requeue_if_stuck(request_id=request.id, now=moment))
        if outcomes[-1] == "requeued":
            # The re-enqueued task takes it and its worker dies again.
            DataRequest.objects.filter(id=request.id).update(
                status=RequestStatus.FULFILLING, status_changed_at=moment + timedelta(minutes=1)
            )
        moment += timedelta(hours=1)
    assert outcomes == ["requeued", "requeued", "requeued", "held"]
    request.refresh_from_db()
    assert request.status == RequestStatus.HELD
    assert "4 times" in request.hold_reason
    assert len(enqueued) == 3
    assert AuditEvent.objects.filter(request=request, action="held_after_stuck").count() == 1


def test_an_erasure_waiting_for_the_same_persons_access_answer_is_not_stuck(
    enqueued, django_capture_on_commit_callbacks
):
    access = make_request(kind="access", status=RequestStatus.REVIEW)
    erasure = _stuck(RequestStatus.APPROVED, minutes=600)

    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert requests_recover_stuck().requeued == 0
        assert enqueued == []
        # Once the access request is answered, a still-waiting erasure is resumed.
        DataRequest.objects.filter(id=access.id).update(status=RequestStatus.ANSWERED)
        assert requests_recover_stuck().requeued == 1
    assert enqueued == [("request_fulfil", erasure.id)]
    assert not AuditEvent.objects.filter(request=erasure, action="held_after_stuck").exists()


def test_a_waiting_erasure_is_resumed_once_its_cutoff_comes(
    enqueued, django_capture_on_commit_callbacks, settings
):
    # The access request waits on the person (NEEDS_SELFIE) with no end: recovery asks the erasure's
    # own rule, so within ERASURE_ACCESS_WAIT_CUTOFF_DAYS of its due date the erasure goes ahead
    # (before the fix recovery skipped it for as long as the access request stayed open).
    settings.ERASURE_ACCESS_WAIT_CUTOFF_DAYS = 7
    make_request(kind="access", status=RequestStatus.NEEDS_SELFIE)
    erasure = make_request(status=RequestStatus.APPROVED, received_at=NOW - timedelta(days=20))
    DataRequest.objects.filter(id=erasure.id).update(status_changed_at=NOW - timedelta(days=1))
    erasure.refresh_from_db()
    assert erasure.due_at - NOW > timedelta(days=7)

    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert requests_recover_stuck().requeued == 0
    later = erasure.due_at - timedelta(days=7)
    with time_machine.travel(later, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert requests_recover_stuck().requeued == 1
    assert enqueued == [("request_fulfil", erasure.id)]


def test_a_request_waiting_behind_a_long_queue_is_not_stuck(enqueued, django_capture_on_commit_callbacks):
    """Before the fix QUEUED and APPROVED shared STUCK_AFTER (30 min) with SEARCHING: a request
    waiting its turn behind a long queue was re-enqueued every run and held after 3 requeues."""
    queued = _stuck(RequestStatus.QUEUED, minutes=5 * 60)
    approved = _stuck(RequestStatus.APPROVED, minutes=5 * 60)
    searching = _stuck(RequestStatus.SEARCHING, minutes=31)  # a worker took it and died: as before
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert requests_recover_stuck().requeued == 1
        assert request_requeue_if_stuck(request_id=queued.id, now=NOW) is None
    assert enqueued == [("request_search", searching.id)]
    status = dict(DataRequest.objects.values_list("id", "status"))
    assert (status[queued.id], status[approved.id]) == (RequestStatus.QUEUED, RequestStatus.APPROVED)
    later = NOW + timedelta(hours=1, minutes=1)  # six hours and a minute in the queue: presumed lost
    with time_machine.travel(later, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert requests_recover_stuck(now=later).requeued == 2
    assert sorted(enqueued[1:]) == sorted([("request_search", queued.id), ("request_fulfil", approved.id)])
    assert not DataRequest.objects.filter(status=RequestStatus.HELD).exists()
