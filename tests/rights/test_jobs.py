"""The jobs' Celery tasks and the beat schedule: thin, idempotent, and run by a real worker."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import numpy as np
import pytest
import time_machine
from celery.schedules import crontab
from django.core import mail
from django.utils import timezone

from matching.models import Face, Image, IngestionSkip
from matching.services.deletion import images_delete
from matching.services.embedding import embedding_to_bytes
from matching.services.suppression import suppression_add
from portal.celery import app
from rights import jobs
from rights.models import (
    AuditEvent,
    DataRequest,
    JobCursor,
    Match,
    PurgeRecord,
    Recipient,
    RecipientNotice,
    RequestKind,
    RequestStatus,
)
from rights.recipients.notices import notice_acknowledge, notices_create_for_erasure
from rights.schedule import BEAT_SCHEDULE
from rights.upkeep import retention
from tests.rights.jobs_helpers import (
    erase,
    local,
    make_image,
    make_request,
    release,
    row_locked,
    server_url,
    webhook_server,
)


@pytest.fixture
def eager_tasks():
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False
    app.conf.task_eager_propagates = False


def _erasure_with_recipients() -> DataRequest:
    request = make_request(kind=RequestKind.ERASURE, status=RequestStatus.ANSWERED)
    acme = Recipient.objects.create(name="Acme Research", contact_email="dpo@acme.example")
    beta = Recipient.objects.create(name="Beta Labs", contact_email="privacy@beta.example")
    one, two = make_image("one"), make_image("two")
    release(acme, one)
    release(beta, two)
    erase(request, one)
    erase(request, two)
    return request


def test_every_scheduled_job_is_a_registered_task():
    app.loader.import_default_modules()
    assert set(BEAT_SCHEDULE) == {
        "deadline-sweep",
        "outbox-deliver",
        "recover-stuck-requests",
        "expire-unconfirmed-requests",
        "purge-verification-data",
        "purge-agent-evidence",
        "chase-recipient-notices",
        "suppression-check",
        "collection-retention",
        "collection-orphans",
        "index-maintain",
        "index-reconcile",
        "audit-anchor",
    }
    for name, entry in BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, name
        assert isinstance(entry["schedule"], crontab | timedelta), name
    assert app.conf.beat_schedule == BEAT_SCHEDULE


@pytest.mark.django_db
def test_notice_send_task_run_twice_row_gone_row_taken():
    request = _erasure_with_recipients()
    first, second = notices_create_for_erasure(request_id=request.id)
    assert jobs.notice_send_task(first.id) is True
    assert jobs.notice_send_task(first.id) is False  # run twice: one email
    assert jobs.notice_send_task(999_999) is False  # row gone
    notice_acknowledge(token=second.ack_token)
    assert jobs.notice_send_task(second.id) is False  # already acknowledged: nothing to send
    assert len(mail.outbox) == 1
    assert jobs.notice_webhook_task(first.id) is False  # no webhook configured


@pytest.mark.django_db
def test_periodic_jobs_run_twice_do_their_work_once(settings):
    settings.SELFIE_RETENTION_DAYS = 30
    settings.STUCK_AFTER = timedelta(minutes=30)
    now = local(2026, 3, 10, 8)
    make_request(received_at=local(2026, 2, 12, 12))  # due in 2 days
    make_request(received_at=local(2026, 2, 1, 12))  # overdue
    closed = make_request(
        status=RequestStatus.REFUSED, received_at=local(2026, 1, 2), closed_at=local(2026, 1, 5)
    )
    with time_machine.travel(now, tick=False):
        assert jobs.deadlines_sweep_job() == {"reminded": 1, "escalated": 1, "overdue": 1}
        assert jobs.deadlines_sweep_job() == {"reminded": 0, "escalated": 0, "overdue": 1}
        assert jobs.requests_purge_job() == {"requests": 1, "answer_archives": 0}
        assert jobs.requests_purge_job() == {"requests": 0, "answer_archives": 0}
        assert jobs.requests_recover_job() == {"requeued": 0, "held": 0}
        assert jobs.notices_chase_job() == {"chased": 0, "failed": 0}
        assert jobs.suppression_check_job() == {
            "faces_checked": 0,
            "templates_checked": 0,
            "images_deleted": 0,
            "images_taken": 0,
        }
        assert jobs.retention_job() == 0  # no retention period set
    assert DataRequest.objects.get(id=closed.id).purged_at == now
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_deadline_sweep_job_fails_for_a_retry_when_mail_cannot_go(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    request = make_request(received_at=local(2026, 2, 1, 12))
    assert jobs.SweepIncomplete in jobs.deadlines_sweep_job.autoretry_for
    with time_machine.travel(local(2026, 3, 10, 8), tick=False), pytest.raises(jobs.SweepIncomplete):
        jobs.deadlines_sweep_job.run()
    assert DataRequest.objects.get(id=request.id).escalated_at is None


@pytest.mark.django_db
def test_retention_job_re_enqueues_itself_until_done(settings, eager_tasks):
    settings.COLLECTION_RETENTION_DAYS = 30
    settings.RETENTION_CHUNK = 2
    for n in range(5):
        make_image(f"old-{n}", collected_at=local(2025, 1, 1 + n))
    keep = make_image("new", collected_at=local(2026, 6, 1))
    with time_machine.travel(local(2026, 6, 10, 2), tick=False):
        jobs.retention_job.delay()
    assert list(Image.objects.values_list("id", flat=True)) == [keep.id]


@pytest.fixture
def local_webhooks_allowed(monkeypatch):
    # Set before the worker starts (it reads its environment): the test server is on 127.0.0.1.
    monkeypatch.setenv("NOTICE_WEBHOOK_ALLOW_PRIVATE", "1")


@pytest.mark.worker
def test_a_real_worker_sends_the_notices_and_the_webhook(
    local_webhooks_allowed, celery_worker_process, settings
):
    request = _erasure_with_recipients()
    with webhook_server() as server:
        Recipient.objects.filter(name="Beta Labs").update(webhook_url=server_url(server))
        notices = notices_create_for_erasure(request_id=request.id)  # commits, then enqueues
        celery_worker_process.wait_for(
            lambda: (
                RecipientNotice.objects.filter(sent_at__isnull=False).count() == 2
                and RecipientNotice.objects.filter(webhook_delivered_at__isnull=False).count() == 1
            ),
            what="the notices to be sent",
        )
        received = list(server.received)
    assert len(notices) == 2
    beta_notice = RecipientNotice.objects.get(recipient__name="Beta Labs")
    assert [r["json"]["notice_id"] for r in received] == [beta_notice.id]
    mails = sorted(settings.MAIL_DIR.glob("*.log"))
    bodies = "\n".join(path.read_text() for path in mails)
    assert bodies.count("Subject: Erasure notice") == 2
    assert beta_notice.image_hashes[0] in bodies
    assert json.loads(json.dumps(received[0]["json"]))["image_hashes"] == beta_notice.image_hashes


@pytest.mark.worker
def test_a_stuck_request_is_resumed_by_a_real_worker(celery_worker_process, settings):
    """Recovery re-enqueues a search left by a dead worker; a live worker picks it up and finishes it."""
    settings.STUCK_AFTER = timedelta(minutes=30)
    request = make_request(
        kind=RequestKind.ACCESS,
        status=RequestStatus.SEARCHING,
        status_changed_at=local(2026, 1, 1, 12),  # the worker that took it died long ago
    )
    assert jobs.requests_recover_job() == {"requeued": 1, "held": 0}
    # The request has no usable selfie, so the search ends by asking for one.
    celery_worker_process.wait_for(
        lambda: DataRequest.objects.get(id=request.id).status == RequestStatus.NEEDS_SELFIE,
        what="the resumed search",
    )
    actions = list(request.events.order_by("id").values_list("action", flat=True))
    assert actions[:2] == ["requeued_after_stuck", "search_started"]


@pytest.mark.django_db
def test_retention_job_run_twice_row_gone_row_taken(settings):
    settings.COLLECTION_RETENTION_DAYS = 30
    settings.RETENTION_CHUNK = 10
    old = make_image("old", collected_at=local(2025, 1, 1))
    gone = make_image("gone", collected_at=local(2025, 1, 2))
    taken = make_image("taken", collected_at=local(2025, 1, 3))
    # Row taken: the image is part of a request still open; it waits until the request closes.
    open_request = make_request(status=RequestStatus.REVIEW)
    Match.objects.create(
        request=open_request, image=taken, image_sha256=taken.sha256, score=0.9, band="match"
    )
    # Row gone: an erasure deleted it before the job came to it.
    images_delete(image_ids=[gone.id])
    with time_machine.travel(local(2026, 6, 10, 2), tick=False):
        assert jobs.retention_job() == 1
        assert jobs.retention_job() == 0  # run twice: nothing more, and no second audit row
    assert sorted(Image.objects.values_list("id", flat=True)) == [taken.id]
    (event,) = AuditEvent.objects.filter(action="retention_images_deleted")
    assert event.detail["image_ids"] == [old.id] and event.detail["image_sha256s"] == [old.sha256]


@pytest.mark.django_db
def test_retention_writes_its_audit_row_in_the_transaction_that_deletes_the_rows(settings, monkeypatch):
    """Before the fix the images were deleted (and committed) first and the audit row written after,
    in its own transaction: a failure in between left images deleted with no record of it."""
    settings.COLLECTION_RETENTION_DAYS = 30
    images = [make_image(f"old-{n}", collected_at=local(2025, 1, 1 + n)) for n in range(3)]

    def audit_fails(**kwargs):
        raise RuntimeError("database went away while auditing")

    monkeypatch.setattr(retention, "audit_record", audit_fails)  # fault injection only
    with time_machine.travel(local(2026, 6, 10, 2), tick=False), pytest.raises(RuntimeError):
        retention.retention_delete_chunk()
    assert Image.objects.count() == 3  # the deletion rolled back with the audit row
    monkeypatch.undo()
    with time_machine.travel(local(2026, 6, 10, 3), tick=False):
        assert retention.retention_delete_chunk().deleted == 3
    (event,) = AuditEvent.objects.filter(action="retention_images_deleted")
    assert event.detail["image_sha256s"] == [image.sha256 for image in images]
    assert not Image.objects.exists()


needs_row_locks = pytest.mark.skipif(
    "not __import__('django.db').db.connection.features.has_select_for_update_skip_locked",
    reason="SQLite has no row locks: its writers are serialised by the database lock",
)


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_purge_job_leaves_a_request_another_worker_is_purging(settings):
    """Row taken: another worker holds the request (purging it); this run skips it, never waits."""
    settings.SELFIE_RETENTION_DAYS = 30
    closed = make_request(
        status=RequestStatus.REFUSED, received_at=local(2026, 1, 2), closed_at=local(2026, 1, 5)
    )
    with time_machine.travel(local(2026, 3, 10, 8), tick=False):
        with row_locked(DataRequest, closed.id):
            assert jobs.requests_purge_job() == {"requests": 0, "answer_archives": 0}
        assert not PurgeRecord.objects.exists()
        assert jobs.requests_purge_job() == {"requests": 1, "answer_archives": 0}


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_suppression_check_job_leaves_an_image_another_worker_holds():
    """Row taken: another worker holds a matching image (an erasure deleting it); this run deletes
    the others, leaves it, and keeps its cursors so that the next run checks it again."""
    vector = np.zeros(512, dtype="<f4")
    vector[0] = 1.0
    held, free = make_image("held"), make_image("free")
    for image in (held, free):
        Face.objects.create(
            image=image, x1=1, y1=1, x2=90, y2=90, det_score=0.9, embedding=embedding_to_bytes(vector=vector)
        )
    suppression_add(reference="request:424242", vector=vector)
    with row_locked(Image, held.id):
        result = jobs.suppression_check_job()
    assert (result["images_deleted"], result["images_taken"]) == (1, 1)
    assert list(Image.objects.values_list("id", flat=True)) == [held.id]
    assert not JobCursor.objects.filter(position__gt=0).exists()
    again = jobs.suppression_check_job()
    assert (again["images_deleted"], again["images_taken"]) == (1, 0)
    assert not Image.objects.exists()
    assert IngestionSkip.objects.count() == 2


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_notice_send_task_waits_for_the_worker_sending_it_and_sends_nothing_more():
    """Row taken: another worker holds the notice while it sends it; this task waits for its lock,
    then finds the notice sent and sends nothing (one email in all)."""
    request = _erasure_with_recipients()
    notice = notices_create_for_erasure(request_id=request.id)[0]

    def other_worker_sends() -> None:
        RecipientNotice.objects.filter(id=notice.id).update(sent_at=timezone.now())

    with row_locked(RecipientNotice, notice.id, then=other_worker_sends, release_after=0.5):
        assert jobs.notice_send_task(notice.id) is False
    assert mail.outbox == []
    assert not AuditEvent.objects.filter(action="recipient_notice_sent").exists()


@pytest.mark.django_db
def test_audit_anchor_job_run_twice_appends_two_true_anchors(settings, tmp_path):
    from django.core.management import call_command
    from django.db import transaction

    from rights.lifecycle.audit import GENESIS_HASH, audit_record

    settings.AUDIT_ANCHOR_FILE = tmp_path / "anchors" / "audit-anchors.log"  # folder created on the fly
    assert BEAT_SCHEDULE["audit-anchor"]["schedule"] == crontab(minute=5)  # hourly
    assert jobs.audit_anchor_job() == {"event_id": 0, "hash": GENESIS_HASH}  # empty trail
    with transaction.atomic():
        event = audit_record(actor="system", action="something")
    first = jobs.audit_anchor_job()
    second = jobs.audit_anchor_job()  # run twice: one more line, same head, nothing else changes
    assert first == second == {"event_id": event.id, "hash": event.hash}
    lines = settings.AUDIT_ANCHOR_FILE.read_text().splitlines()
    assert [line.split()[1:] for line in lines] == [["0", GENESIS_HASH], *[[str(event.id), event.hash]] * 2]
    assert all(timezone.datetime.fromisoformat(line.split()[0]).tzinfo for line in lines)
    assert AuditEvent.objects.count() == 1
    call_command("verify_audit_chain", "--anchor-file", str(settings.AUDIT_ANCHOR_FILE))  # raises if not
