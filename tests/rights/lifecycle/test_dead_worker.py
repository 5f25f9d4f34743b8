"""A worker that died holding a request: its redelivered message, taken by a real worker, resumes the
work once the claim's lease has lapsed (before: acked as "held by another worker", and the request
stayed claimed for STUCK_AFTER, 30 minutes).

Real worker, real models and faces. The dead worker is this test process: it claims the request as a
worker does, then stops renewing the lease (no heartbeat), as a killed worker stops.
"""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from matching.models import Image
from portal.celery import app
from rights.lifecycle import enqueue
from rights.lifecycle.claims import request_claim
from rights.models import AuditEvent, DataRequest, RequestKind, RequestStatus
from rights.pipeline.search import request_search_run
from rights.staff.review import matches_decide, request_approve
from tests.rights.pipeline_helpers import PEOPLE, collection_ingest, request_make, reviewer_user, selfie_bytes

pytestmark = [pytest.mark.worker, pytest.mark.models]
WHO = PEOPLE[4]


def test_a_dead_workers_erasure_is_resumed_by_its_redelivered_message(
    transactional_db, lfw_identities, settings, celery_worker_process
):
    collection = collection_ingest(lfw_identities=lfw_identities)
    # Set up in this process; the steps it would enqueue are held back, so that the worker gets
    # only the dead worker's redelivered message.
    held_back = mock.patch("rights.lifecycle.enqueue.task_send", lambda **_: None)
    held_back.start()
    request = request_make(kind=RequestKind.ERASURE, selfies=[selfie_bytes(collection.selfies[WHO])])
    request_search_run(request_id=request.id)
    request.refresh_from_db()
    if request.status == RequestStatus.REVIEW:
        staff = reviewer_user()
        for match in request.matches.filter(decision="pending").exclude(band="match"):
            theirs = collection.identity_of.get(match.image_id) == WHO
            matches_decide(match_ids=[match.id], decision="confirmed" if theirs else "rejected", user=staff)
        request_approve(request_id=request.id, user=staff)
    assert DataRequest.objects.filter(id=request.id, status=RequestStatus.APPROVED).exists()

    # The "dead" worker claims it, then dies: nothing renews its lease, which lapses.
    assert request_claim(
        request_id=request.id, from_status="approved", status="fulfilling", step="fulfilment"
    )
    DataRequest.objects.filter(id=request.id).update(claim_expires_at=timezone.now() - timedelta(seconds=1))
    assert timedelta(minutes=30) <= settings.STUCK_AFTER  # the old rule would have waited this long

    held_back.stop()

    # The broker redelivers its message (acks_late): the real worker takes it.
    app.send_task(enqueue.REQUEST_FULFIL, args=(request.id,))
    celery_worker_process.wait_for(
        lambda: DataRequest.objects.get(id=request.id).status in (RequestStatus.ANSWERED, RequestStatus.HELD),
        timeout=300,
        what="the redelivered fulfilment to resume the erasure",
    )
    request.refresh_from_db()
    assert request.status == RequestStatus.ANSWERED, request.hold_reason
    assert AuditEvent.objects.filter(request=request, action="fulfilment_resumed").count() == 1
    assert not Image.objects.filter(pk__in=collection.images[WHO]).exists()
    assert "held by another worker" not in celery_worker_process.log
