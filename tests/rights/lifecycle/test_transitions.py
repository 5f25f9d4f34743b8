"""Status changes: a conditional UPDATE and its audit row, in one transaction."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from rights.lifecycle.transitions import request_transition
from rights.models import AuditEvent, DataRequest, RequestStatus
from tests.factories import request_make as _request_make


def make_request(status: str = RequestStatus.QUEUED) -> DataRequest:
    return _request_make(status=status)


@pytest.mark.django_db
def test_transition_moves_the_status_and_writes_its_audit_row() -> None:
    data_request = make_request()
    moved = request_transition(
        request_id=data_request.id,
        from_statuses=[RequestStatus.QUEUED],
        to_status=RequestStatus.SEARCHING,
        actor="system",
        action="search_started",
        detail={"selfies": 2},
    )
    assert moved is True
    data_request.refresh_from_db()
    assert data_request.status == RequestStatus.SEARCHING
    event = AuditEvent.objects.get()
    assert (event.request_id, event.action, event.from_status, event.to_status, event.detail) == (
        data_request.id,
        "search_started",
        RequestStatus.QUEUED,
        RequestStatus.SEARCHING,
        {"selfies": 2},
    )


@pytest.mark.django_db
def test_transition_from_an_unexpected_status_changes_nothing() -> None:
    data_request = make_request(status=RequestStatus.ANSWERED)
    moved = request_transition(
        request_id=data_request.id,
        from_statuses=[RequestStatus.QUEUED],
        to_status=RequestStatus.SEARCHING,
        actor="system",
        action="search_started",
    )
    assert moved is False
    data_request.refresh_from_db()
    assert data_request.status == RequestStatus.ANSWERED
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_transition_of_a_missing_request_changes_nothing() -> None:
    assert not request_transition(
        request_id=987654,
        from_statuses=[RequestStatus.QUEUED],
        to_status=RequestStatus.SEARCHING,
        actor="system",
        action="search_started",
    )
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_closing_stamps_answered_and_closed_times() -> None:
    data_request = make_request(status=RequestStatus.FULFILLING)
    request_transition(
        request_id=data_request.id,
        from_statuses=[RequestStatus.FULFILLING],
        to_status=RequestStatus.ANSWERED,
        actor="system",
        action="answered",
    )
    data_request.refresh_from_db()
    assert data_request.answered_at is not None
    assert data_request.closed_at == data_request.answered_at


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_one_request_cannot_both_take_it() -> None:
    data_request = make_request()
    results: list[bool] = []
    start = threading.Barrier(4)

    def take() -> None:
        start.wait()
        try:
            results.append(
                request_transition(
                    request_id=data_request.id,
                    from_statuses=[RequestStatus.QUEUED],
                    to_status=RequestStatus.SEARCHING,
                    actor="system",
                    action="search_started",
                )
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    assert AuditEvent.objects.filter(action="search_started").count() == 1
