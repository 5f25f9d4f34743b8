"""The agent's mandate file: kept while the request is open and for AGENT_EVIDENCE_RETENTION_DAYS after
it closes, then deleted with an audit row holding its sha256 (rights.upkeep.retention)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.files.base import ContentFile

from rights.jobs import agent_evidence_purge_job
from rights.models import CLOSED_STATUSES, AuditEvent, DataRequest, RequestChannel, RequestStatus
from rights.upkeep.retention import agent_evidence_purge_due, request_agent_evidence_purge
from tests.factories import request_make
from tests.rights.jobs_helpers import local, row_locked

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\n%%EOF\n"
CLOSED = local(2026, 1, 10, 12)


def _agent_request(*, status: str = RequestStatus.ANSWERED, closed_at=CLOSED) -> DataRequest:
    request = request_make(
        status=status,
        channel=RequestChannel.AGENT,
        agent_name="Maître Dupont",
        received_at=local(2025, 12, 1, 9),
        closed_at=closed_at if status in CLOSED_STATUSES else None,
    )
    request.agent_evidence.save("evidence.pdf", ContentFile(PDF), save=True)
    return request


def _path(request: DataRequest) -> Path:
    return Path(settings.MEDIA_ROOT) / request.agent_evidence.name


def _after_retention():
    return CLOSED + timedelta(days=settings.AGENT_EVIDENCE_RETENTION_DAYS, hours=1)


def test_the_file_goes_once_its_retention_ended_and_the_audit_row_keeps_its_sha256():
    request = _agent_request()
    stored = _path(request)
    assert stored.exists()
    # The day before the period ends: kept (it still proves the disclosure to the agent was authorised).
    assert (
        request_agent_evidence_purge(request_id=request.id, now=_after_retention() - timedelta(days=1))
        is None
    )
    assert stored.exists()

    assert (
        request_agent_evidence_purge(request_id=request.id, now=_after_retention())
        == hashlib.sha256(PDF).hexdigest()
    )
    request.refresh_from_db()
    assert not request.agent_evidence and not stored.exists()
    event = AuditEvent.objects.get(request=request, action="agent_evidence_purged")
    assert event.detail["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert event.detail["extension"] == "pdf" and event.detail["file_missing"] is False
    assert event.actor == "system"
    # The request's record stays: its agent's name, channel and dates.
    assert request.agent_name == "Maître Dupont" and request.closed_at == CLOSED

    # Run again: nothing more to do, no second audit row.
    assert request_agent_evidence_purge(request_id=request.id, now=_after_retention()) is None
    assert AuditEvent.objects.filter(action="agent_evidence_purged").count() == 1


@pytest.mark.parametrize("status", [RequestStatus.REVIEW, RequestStatus.APPROVED, RequestStatus.HELD])
def test_never_while_the_request_is_open_however_old(status):
    request = _agent_request(status=status)
    far_future = CLOSED + timedelta(days=settings.AGENT_EVIDENCE_RETENTION_DAYS * 3)
    assert request_agent_evidence_purge(request_id=request.id, now=far_future) is None
    assert agent_evidence_purge_due(now=far_future) == 0
    assert _path(request).exists()
    assert not AuditEvent.objects.filter(action="agent_evidence_purged").exists()


def test_a_request_closed_unconfirmed_loses_its_file_at_once():
    # Nothing was disclosed on the mandate's authority: there is nothing it still has to prove.
    request = _agent_request(status=RequestStatus.EXPIRED)
    assert agent_evidence_purge_due(now=CLOSED + timedelta(minutes=1)) == 1
    assert not _path(request).exists()


def test_a_file_already_missing_is_recorded_as_missing_and_the_field_cleared():
    request = _agent_request(status=RequestStatus.REFUSED)
    _path(request).unlink()
    assert request_agent_evidence_purge(request_id=request.id, now=_after_retention()) == ""
    request.refresh_from_db()
    assert not request.agent_evidence
    detail = AuditEvent.objects.get(action="agent_evidence_purged").detail
    assert detail["sha256"] is None and detail["file_missing"] is True


def test_the_job_purges_only_what_is_due_and_a_gone_request_is_nothing():
    due = _agent_request()
    recent = _agent_request(closed_at=_after_retention() - timedelta(days=2))
    without_file = _agent_request()
    without_file.agent_evidence.delete(save=True)
    with time_machine.travel(_after_retention(), tick=False):
        assert agent_evidence_purge_job() == 1
        assert agent_evidence_purge_job() == 0  # run twice
    assert not _path(due).exists() and _path(recent).exists()
    assert request_agent_evidence_purge(request_id=10**9) is None  # row gone


needs_row_locks = pytest.mark.skipif(
    "not __import__('django.db').db.connection.features.has_select_for_update_skip_locked",
    reason="SQLite has no row locks: its writers are serialised by the database lock",
)


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_a_request_another_worker_holds_is_left_to_it():
    """Row taken: another worker holds the request; this run skips it, never waits."""
    request = _agent_request()
    with row_locked(DataRequest, request.id):
        assert request_agent_evidence_purge(request_id=request.id, now=_after_retention()) is None
    assert _path(request).exists()
    assert request_agent_evidence_purge(request_id=request.id, now=_after_retention()) is not None


def test_the_selfie_purge_leaves_the_mandate_file_to_its_own_period():
    # The selfies and verification data go SELFIE_RETENTION_DAYS after closing; the mandate stays,
    # as it proves the disclosure to the agent was authorised.
    from rights.upkeep.purge import request_purge

    request = _agent_request()
    assert request_purge(
        request_id=request.id, now=CLOSED + timedelta(days=settings.SELFIE_RETENTION_DAYS + 1)
    )
    request.refresh_from_db()
    assert request.purged_at is not None and request.agent_evidence and _path(request).exists()
    assert agent_evidence_purge_due(now=_after_retention()) == 1
    assert not _path(request).exists()
