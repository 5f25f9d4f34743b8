"""rights.lifecycle.claims: a claim has a lease renewed by a heartbeat; a dead worker's is taken over
within a minute or two (before: only after STUCK_AFTER, 30 minutes)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from rights.lifecycle.claims import claim_heartbeat, claim_renew, request_claim
from rights.models import AuditEvent, DataRequest, RequestKind, RequestStatus
from rights.upkeep.recovery import requests_recover_stuck
from tests.rights.jobs_helpers import make_request

pytestmark = pytest.mark.django_db


def _claimed(settings):
    settings.CLAIM_LEASE = timedelta(seconds=60)
    settings.STUCK_AFTER = timedelta(minutes=30)
    request = make_request(kind=RequestKind.ACCESS, status=RequestStatus.APPROVED)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert request_claim(
            request_id=request.id, from_status="approved", status="fulfilling", step="fulfilment"
        )
    request.refresh_from_db()
    assert request.claim_expires_at == start + timedelta(seconds=60)
    return request, start


def _redelivered(request) -> bool:
    """What the redelivered message of the worker does first: claim the request."""
    return request_claim(
        request_id=request.id, from_status="approved", status="fulfilling", step="fulfilment"
    )


def test_a_live_workers_claim_is_not_taken(settings):
    request, start = _claimed(settings)
    with time_machine.travel(start + timedelta(seconds=50), tick=False):
        assert _redelivered(request) is False
        assert requests_recover_stuck().requeued == 0


def test_a_dead_workers_redelivered_message_resumes_once_the_lease_expired(settings):
    request, start = _claimed(settings)

    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        # Before the fix: False ("held by another worker", the message acked) for 30 minutes.
        assert _redelivered(request) is True
        # And only one of two redeliveries takes it: the takeover renewed the lease.
        assert _redelivered(request) is False

    assert AuditEvent.objects.filter(request=request, action="fulfilment_resumed").count() == 1
    request.refresh_from_db()
    assert request.status == RequestStatus.FULFILLING
    assert request.claim_expires_at == start + timedelta(seconds=61 + 60)


def test_the_recovery_job_takes_an_expired_lease_within_two_minutes(
    settings, django_capture_on_commit_callbacks
):
    request, start = _claimed(settings)

    later = start + timedelta(seconds=90)
    with time_machine.travel(later, tick=False), django_capture_on_commit_callbacks() as callbacks:
        result = requests_recover_stuck()

    assert result.requeued == 1 and len(callbacks) == 1  # the fulfilment task re-enqueued
    assert DataRequest.objects.get(id=request.id).status == RequestStatus.APPROVED


def test_the_heartbeat_keeps_the_claim_while_the_step_runs(settings):
    request, start = _claimed(settings)
    with time_machine.travel(start + timedelta(seconds=40), tick=False):
        assert claim_renew(request_id=request.id) is True
    with time_machine.travel(start + timedelta(seconds=90), tick=False):
        assert _redelivered(request) is False  # renewed at +40 s: good until +100 s
        assert requests_recover_stuck().requeued == 0


def test_no_lease_is_renewed_once_the_request_left_the_worker(settings):
    request, _ = _claimed(settings)
    DataRequest.objects.filter(id=request.id).update(status=RequestStatus.ANSWERED)
    assert claim_renew(request_id=request.id) is False


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_renews_the_lease_by_itself(settings):
    # A real thread with its own connection (transaction=True: it sees the committed claim).
    settings.CLAIM_LEASE = timedelta(seconds=0.9)  # a beat every 0.3 s
    request = make_request(kind=RequestKind.ACCESS, status=RequestStatus.FULFILLING)
    DataRequest.objects.filter(id=request.id).update(claim_expires_at=timezone.now())
    before = DataRequest.objects.get(id=request.id).claim_expires_at

    with claim_heartbeat(request_id=request.id):
        deadline = time.monotonic() + 10
        while DataRequest.objects.get(id=request.id).claim_expires_at == before:
            assert time.monotonic() < deadline, "the heartbeat never renewed the lease"
            time.sleep(0.1)
