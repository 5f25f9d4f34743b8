"""Erasure notices to recipients (Art. 17(2), Art. 19): creation, sending, webhook, acknowledging, chasing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from portal.celery import app
from rights.models import AuditEvent, Recipient, RecipientNotice, RequestKind, RequestStatus
from rights.recipients.notices import (
    NoticeNotFound,
    WebhookError,
    notice_acknowledge,
    notice_send,
    notice_webhook_deliver,
    notices_chase,
    notices_create_for_erasure,
)
from tests.rights.jobs_helpers import (
    erase,
    local,
    make_image,
    make_request,
    release,
    server_url,
    webhook_server,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _local_webhooks_allowed(settings):
    """The webhook servers here listen on 127.0.0.1; the refusal is tested in
    tests/rights/recipients/test_webhook_addresses.py."""
    settings.NOTICE_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def eager_tasks():
    """Enqueued tasks run in the test process (the worker path is covered by the worker tests)."""
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False
    app.conf.task_eager_propagates = False


@pytest.fixture
def erasure():
    """An erasure of img1..img3: Acme held img1 and img2, Beta img2 and img3, Gamma only img4 (kept)."""
    request = make_request(kind=RequestKind.ERASURE, status=RequestStatus.FULFILLING)
    acme = Recipient.objects.create(name="Acme Research", contact_email="dpo@acme.example")
    beta = Recipient.objects.create(name="Beta Labs", contact_email="privacy@beta.example")
    gamma = Recipient.objects.create(name="Gamma Data", contact_email="legal@gamma.example")
    images = {label: make_image(label) for label in ("img1", "img2", "img3", "img4")}
    for recipient, labels in ((acme, ["img1", "img2"]), (beta, ["img2", "img3"]), (gamma, ["img4"])):
        for label in labels:
            release(recipient, images[label])
    for label in ("img1", "img2", "img3"):
        erase(request, images[label])
    return {"request": request, "acme": acme, "beta": beta, "gamma": gamma, "images": images}


def _hashes(erasure, *labels):
    return sorted(erasure["images"][label].sha256 for label in labels)


def test_one_notice_per_recipient_with_the_right_hashes(erasure, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        notices = notices_create_for_erasure(request_id=erasure["request"].id)

    by_recipient = {n.recipient_id: n for n in notices}
    assert set(by_recipient) == {erasure["acme"].id, erasure["beta"].id}
    assert by_recipient[erasure["acme"].id].image_hashes == _hashes(erasure, "img1", "img2")
    assert by_recipient[erasure["beta"].id].image_hashes == _hashes(erasure, "img2", "img3")
    assert len(callbacks) == 2  # one send task enqueued per notice, after commit
    assert (
        AuditEvent.objects.filter(action="recipient_notice_created", request=erasure["request"]).count() == 2
    )


def test_creation_is_idempotent_and_picks_up_later_erasures(erasure, django_capture_on_commit_callbacks):
    notices_create_for_erasure(request_id=erasure["request"].id)
    with django_capture_on_commit_callbacks() as callbacks:
        assert notices_create_for_erasure(request_id=erasure["request"].id) == []
    assert callbacks == []
    assert RecipientNotice.objects.count() == 2

    # A later chunk of the same erasure reaches Gamma's image: Gamma gets a notice, the others nothing new.
    erase(erasure["request"], erasure["images"]["img4"])
    with django_capture_on_commit_callbacks() as callbacks:
        added = notices_create_for_erasure(request_id=erasure["request"].id)
    assert [n.recipient_id for n in added] == [erasure["gamma"].id]
    assert added[0].image_hashes == _hashes(erasure, "img4")
    assert len(callbacks) == 1
    assert RecipientNotice.objects.count() == 3


def test_an_already_sent_notice_is_sent_again_when_images_are_added(
    erasure, django_capture_on_commit_callbacks
):
    notices_create_for_erasure(request_id=erasure["request"].id)
    acme_notice = RecipientNotice.objects.get(recipient=erasure["acme"])
    notice_send(notice_id=acme_notice.id)
    # The same images were also released to Acme under another copy: img3 now too.
    release(erasure["acme"], erasure["images"]["img3"])
    with django_capture_on_commit_callbacks() as callbacks:
        extended = notices_create_for_erasure(request_id=erasure["request"].id)
    assert [n.id for n in extended] == [acme_notice.id]
    acme_notice.refresh_from_db()
    assert acme_notice.image_hashes == _hashes(erasure, "img1", "img2", "img3")
    assert acme_notice.sent_at is None and len(callbacks) == 1


def test_no_erasure_or_no_recipient_means_no_notice():
    request = make_request()
    assert notices_create_for_erasure(request_id=request.id) == []
    lonely = make_image("never-released")
    erase(request, lonely)
    assert notices_create_for_erasure(request_id=request.id) == []
    assert notices_create_for_erasure(request_id=999_999) == []


def test_creation_enqueues_sending_and_the_email_says_what_to_do(
    erasure, eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        notices_create_for_erasure(request_id=erasure["request"].id)

    assert sorted(m.to[0] for m in mail.outbox) == ["dpo@acme.example", "privacy@beta.example"]
    acme_mail = next(m for m in mail.outbox if m.to == ["dpo@acme.example"])
    notice = RecipientNotice.objects.get(recipient=erasure["acme"])
    assert acme_mail.subject == f"Erasure notice {notice.id}: please erase your copies of 2 images"
    for sha256 in _hashes(erasure, "img1", "img2"):
        assert sha256 in acme_mail.body
    assert erasure["images"]["img3"].sha256 not in acme_mail.body
    assert "Art. 17(2) and Art. 19" in acme_mail.body
    assert "erase every copy" in acme_mail.body
    ack_url = "http://127.0.0.1:8000" + reverse("notices:ack", kwargs={"token": notice.ack_token})
    assert ack_url in acme_mail.body
    assert notice.sent_at is not None
    # The requester is never named to a recipient.
    assert "person@example.org" not in acme_mail.body


def test_sending_twice_sends_once_and_gone_or_acknowledged_sends_nothing(erasure):
    notices = notices_create_for_erasure(request_id=erasure["request"].id)
    first, second = notices
    assert notice_send(notice_id=first.id) is True
    assert notice_send(notice_id=first.id) is False  # run twice
    assert notice_send(notice_id=999_999) is False  # row gone
    notice_acknowledge(token=second.ack_token)
    assert notice_send(notice_id=second.id) is False  # already taken care of
    assert len(mail.outbox) == 1
    assert AuditEvent.objects.filter(action="recipient_notice_sent").count() == 1


def test_acknowledgement_page_get_shows_post_acknowledges(client, erasure):
    notice = notices_create_for_erasure(request_id=erasure["request"].id)[0]
    url = reverse("notices:ack", kwargs={"token": notice.ack_token})

    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    for sha256 in notice.image_hashes:
        assert sha256 in body
    assert '<form method="post">' in body
    assert page["Cache-Control"] == "no-store"
    notice.refresh_from_db()
    assert notice.acknowledged_at is None  # a mail scanner following the link acknowledges nothing

    done = client.post(url)
    assert done.status_code == 200
    assert "Acknowledged on" in done.content.decode()
    assert '<form method="post">' not in done.content.decode()
    notice.refresh_from_db()
    acknowledged_at = notice.acknowledged_at
    assert acknowledged_at is not None

    again = client.post(url)  # twice is fine, and changes nothing
    assert again.status_code == 200
    notice.refresh_from_db()
    assert notice.acknowledged_at == acknowledged_at
    events = AuditEvent.objects.filter(action="recipient_notice_acknowledged")
    assert [(e.request_id, e.detail["notice_id"]) for e in events] == [(erasure["request"].id, notice.id)]


def test_a_forged_or_unknown_token_is_404(client, erasure):
    notice = notices_create_for_erasure(request_id=erasure["request"].id)[0]
    forged = notice.ack_token[:-2] + ("AA" if not notice.ack_token.endswith("AA") else "BB")
    for token in (forged, "x", "a" * 300):
        url = reverse("notices:ack", kwargs={"token": token})
        assert client.get(url).status_code == 404
        assert client.post(url).status_code == 404
    assert client.put(reverse("notices:ack", kwargs={"token": notice.ack_token})).status_code == 405
    with pytest.raises(NoticeNotFound):
        notice_acknowledge(token=forged)
    assert not RecipientNotice.objects.filter(acknowledged_at__isnull=False).exists()


def test_post_without_csrf_token_is_refused(erasure):
    from django.test import Client

    notice = notices_create_for_erasure(request_id=erasure["request"].id)[0]
    strict = Client(enforce_csrf_checks=True)
    url = reverse("notices:ack", kwargs={"token": notice.ack_token})
    assert strict.post(url).status_code == 403
    page = strict.get(url)
    token = page.cookies["csrftoken"].value
    assert strict.post(url, {"csrfmiddlewaretoken": token}).status_code == 200
    notice.refresh_from_db()
    assert notice.acknowledged_at is not None


def test_chasing_resends_only_the_unacknowledged_notice(settings, erasure):
    settings.NOTICE_CHASE_AFTER = timedelta(days=7)
    sent_day = local(2026, 5, 4, 10)
    with time_machine.travel(sent_day, tick=False):
        acme_notice, beta_notice = notices_create_for_erasure(request_id=erasure["request"].id)
        notice_send(notice_id=acme_notice.id)
        notice_send(notice_id=beta_notice.id)
    notice_acknowledge(token=acme_notice.ack_token)
    mail.outbox.clear()

    with time_machine.travel(sent_day + timedelta(days=6), tick=False):
        assert notices_chase().chased == 0  # not yet
    with time_machine.travel(sent_day + timedelta(days=7, seconds=1), tick=False):
        assert notices_chase().chased == 1
        assert notices_chase().chased == 0  # run twice: chased once
    assert [m.to for m in mail.outbox] == [["privacy@beta.example"]]
    assert mail.outbox[0].subject.startswith("Reminder: Erasure notice")
    assert "first sent on 4 May 2026" in mail.outbox[0].body
    beta_notice.refresh_from_db()
    acme_notice.refresh_from_db()
    assert (beta_notice.chase_count, beta_notice.last_chased_at) == (
        1,
        sent_day + timedelta(days=7, seconds=1),
    )
    assert (acme_notice.chase_count, acme_notice.last_chased_at) == (0, None)

    with time_machine.travel(sent_day + timedelta(days=14, seconds=2), tick=False):
        assert notices_chase().chased == 1
    beta_notice.refresh_from_db()
    assert beta_notice.chase_count == 2
    assert AuditEvent.objects.filter(action="recipient_notice_chased").count() == 2

    notice_acknowledge(token=beta_notice.ack_token)
    with time_machine.travel(sent_day + timedelta(days=30), tick=False):
        assert notices_chase().chased == 0


def test_a_notice_never_sent_is_sent_by_the_chase(settings, erasure):
    """A recipient whose contact was missing, then filled in: the chase sends the notice a first time."""
    settings.NOTICE_CHASE_AFTER = timedelta(days=7)
    with time_machine.travel(local(2026, 5, 4, 10), tick=False):
        notices_create_for_erasure(request_id=erasure["request"].id)
    with time_machine.travel(local(2026, 5, 12, 10), tick=False):
        assert notices_chase().chased == 2
    assert len(mail.outbox) == 2
    assert all(not m.subject.startswith("Reminder") for m in mail.outbox)
    assert set(RecipientNotice.objects.values_list("chase_count", flat=True)) == {0}


def test_a_recipient_without_a_known_contact_is_not_mailed(erasure):
    from rights.recipients.recipients import CONTACT_UNKNOWN

    Recipient.objects.filter(id=erasure["acme"].id).update(contact_email=CONTACT_UNKNOWN)
    notices = {n.recipient_id: n for n in notices_create_for_erasure(request_id=erasure["request"].id)}
    assert notice_send(notice_id=notices[erasure["acme"].id].id) is False
    assert notice_send(notice_id=notices[erasure["beta"].id].id) is True
    # The privacy officer is alerted to the missing contact; the recipients' mail goes to Beta only.
    officer = [django_settings.PRIVACY_OFFICER_EMAIL]
    assert [m.to for m in mail.outbox] == [officer, ["privacy@beta.example"]]
    assert "Acme Research" in mail.outbox[0].body
    assert RecipientNotice.objects.get(recipient=erasure["acme"]).sent_at is None


def test_webhook_is_delivered_to_a_real_http_server(erasure, eager_tasks, django_capture_on_commit_callbacks):
    with webhook_server() as server:
        Recipient.objects.filter(id=erasure["beta"].id).update(webhook_url=server_url(server))
        with django_capture_on_commit_callbacks(execute=True):
            notices_create_for_erasure(request_id=erasure["request"].id)
        received = list(server.received)

    beta_notice = RecipientNotice.objects.get(recipient=erasure["beta"])
    assert len(received) == 1  # Acme has no webhook
    payload = received[0]["json"]
    assert received[0]["path"] == "/hook" and received[0]["content_type"] == "application/json"
    assert payload["notice_id"] == beta_notice.id
    assert payload["image_hashes"] == _hashes(erasure, "img2", "img3")
    assert payload["acknowledge_url"].endswith(
        reverse("notices:ack", kwargs={"token": beta_notice.ack_token})
    )
    assert beta_notice.webhook_delivered_at is not None
    assert len(mail.outbox) == 2  # and the emails went out as well


def test_a_failing_webhook_raises_for_retry_and_never_blocks_the_email(erasure):
    notices = {n.recipient_id: n for n in notices_create_for_erasure(request_id=erasure["request"].id)}
    beta_notice = notices[erasure["beta"].id]
    with webhook_server(statuses=[500]) as server:
        Recipient.objects.filter(id=erasure["beta"].id).update(webhook_url=server_url(server))
        assert notice_send(notice_id=beta_notice.id) is True  # the email does not wait for the webhook
        with pytest.raises(WebhookError, match="HTTP 500"):
            notice_webhook_deliver(notice_id=beta_notice.id)
        beta_notice.refresh_from_db()
        assert beta_notice.webhook_delivered_at is None
        assert notice_webhook_deliver(notice_id=beta_notice.id) is True  # the retry succeeds
        assert len(server.received) == 2
    beta_notice.refresh_from_db()
    assert beta_notice.webhook_delivered_at is not None and beta_notice.sent_at is not None
    assert [m.to for m in mail.outbox] == [["privacy@beta.example"]]


def test_an_unreachable_webhook_raises_for_retry(erasure):
    with webhook_server() as server:
        url = server_url(server)
    # The server is shut down: nothing listens on that port any more.
    Recipient.objects.filter(id=erasure["beta"].id).update(webhook_url=url)
    notice = RecipientNotice.objects.get(
        id=next(
            n.id
            for n in notices_create_for_erasure(request_id=erasure["request"].id)
            if n.recipient_id == erasure["beta"].id
        )
    )
    with pytest.raises(WebhookError, match="failed"):
        notice_webhook_deliver(notice_id=notice.id)
    assert notice_webhook_deliver(notice_id=999_999) is False
    acme_notice = RecipientNotice.objects.get(recipient=erasure["acme"])
    assert notice_webhook_deliver(notice_id=acme_notice.id) is False  # no webhook configured


def test_one_dead_recipient_address_does_not_stop_the_chase_of_the_others(settings, erasure):
    """Before the fix the chase sent in one loop: Acme's refused address raised out of it and Beta,
    chased after it, was never chased."""
    settings.NOTICE_CHASE_AFTER = timedelta(days=7)
    settings.EMAIL_BACKEND = "tests.rights.jobs_helpers.DeadAddressBackend"
    sent_day = local(2026, 5, 4, 10)
    with time_machine.travel(sent_day, tick=False):
        acme_notice, beta_notice = notices_create_for_erasure(request_id=erasure["request"].id)
        assert notice_send(notice_id=acme_notice.id) and notice_send(notice_id=beta_notice.id)
    Recipient.objects.filter(id=erasure["acme"].id).update(contact_email="dpo@dead.example")
    mail.outbox.clear()
    with time_machine.travel(sent_day + timedelta(days=8), tick=False):
        result = notices_chase()
    assert (result.chased, result.failed) == (1, 1)
    assert [m.to for m in mail.outbox] == [["privacy@beta.example"]]
    acme_notice.refresh_from_db()
    beta_notice.refresh_from_db()
    assert beta_notice.chase_count == 1
    assert (acme_notice.chase_count, acme_notice.last_chased_at) == (0, None)  # still due: retried
    # The job fails for a bounded retry, which chases Acme only (Beta is not chased twice).
    from rights import jobs

    assert jobs.ChaseIncomplete in jobs.notices_chase_job.autoretry_for
    Recipient.objects.filter(id=erasure["acme"].id).update(contact_email="dpo@acme.example")
    with time_machine.travel(sent_day + timedelta(days=8, hours=1), tick=False):
        assert jobs.notices_chase_job.run() == {"chased": 1, "failed": 0}
    assert [m.to for m in mail.outbox][1:] == [["dpo@acme.example"]]


def test_an_extension_keeps_the_earlier_acknowledgement_and_asks_only_for_the_new_images(
    client, erasure, django_capture_on_commit_callbacks
):
    """Before the fix, extending an acknowledged notice set acknowledged_at to None and kept no
    record of what had been acknowledged; the new notice asked for all the images again."""
    notices_create_for_erasure(request_id=erasure["request"].id)
    acme_notice = RecipientNotice.objects.get(recipient=erasure["acme"])
    notice_send(notice_id=acme_notice.id)
    notice_acknowledge(token=acme_notice.ack_token)
    acme_notice.refresh_from_db()
    first_ack = acme_notice.acknowledged_at
    assert acme_notice.acknowledged_hashes == _hashes(erasure, "img1", "img2")

    release(erasure["acme"], erasure["images"]["img3"])
    with django_capture_on_commit_callbacks():
        notices_create_for_erasure(request_id=erasure["request"].id)
    acme_notice.refresh_from_db()
    assert acme_notice.image_hashes == _hashes(erasure, "img1", "img2", "img3")
    assert acme_notice.acknowledged_at is None  # waits for the new image's acknowledgement, is chased
    assert acme_notice.acknowledged_hashes == _hashes(erasure, "img1", "img2")  # the record stays
    event = AuditEvent.objects.get(action="recipient_notice_extended")
    assert event.detail["images_added"] == 1 and event.detail["images_already_acknowledged"] == 2
    assert event.detail["previously_acknowledged_at"] == first_ack.isoformat()

    mail.outbox.clear()
    assert notice_send(notice_id=acme_notice.id) is True
    body = mail.outbox[0].body
    assert "erase your copies of 1 image" in mail.outbox[0].subject
    assert "You already acknowledged the erasure of 2 images" in body
    (img3,) = _hashes(erasure, "img3")
    assert img3 in body and not any(h in body for h in _hashes(erasure, "img1", "img2"))
    page = client.get(reverse("notices:ack", kwargs={"token": acme_notice.ack_token})).content.decode()
    assert page.count("(acknowledged earlier)") == 2

    notice_acknowledge(token=acme_notice.ack_token)
    acme_notice.refresh_from_db()
    assert acme_notice.acknowledged_at is not None
    assert acme_notice.acknowledged_hashes == _hashes(erasure, "img1", "img2", "img3")


def test_the_webhook_is_posted_once_even_when_its_message_is_delivered_twice(erasure):
    """Before the fix notice_webhook_deliver never looked at webhook_delivered_at: a redelivered
    message (acks_late after a lost ack) posted the notice a second time."""
    from rights import jobs

    notices = {n.recipient_id: n for n in notices_create_for_erasure(request_id=erasure["request"].id)}
    beta_notice = notices[erasure["beta"].id]
    with webhook_server() as server:
        Recipient.objects.filter(id=erasure["beta"].id).update(webhook_url=server_url(server))
        notice_send(notice_id=beta_notice.id)
        assert jobs.notice_webhook_task(beta_notice.id) is True
        assert jobs.notice_webhook_task(beta_notice.id) is False  # run twice: one POST
        assert jobs.notice_webhook_task(999_999) is False  # row gone
        assert len(server.received) == 1
        # A chase posts again, once per chase, however often its message is delivered.
        with time_machine.travel(timezone.now() + timedelta(days=8), tick=False):
            assert notice_send(notice_id=beta_notice.id, chase=True) is True
            assert jobs.notice_webhook_task(beta_notice.id, chase=True) is True
            assert jobs.notice_webhook_task(beta_notice.id, chase=True) is False
        assert len(server.received) == 2
        notice_acknowledge(token=beta_notice.ack_token)
        assert jobs.notice_webhook_task(beta_notice.id, chase=True) is False  # acknowledged: done
        assert len(server.received) == 2
    assert AuditEvent.objects.filter(action="recipient_notice_webhook_delivered").count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_webhook_task_posts_nothing_while_another_worker_delivers_it(erasure):
    """Row taken: another worker holds the notice (it is posting it right now)."""
    from django.db import connection

    from rights import jobs
    from tests.rights.jobs_helpers import row_locked

    if not connection.features.has_select_for_update_skip_locked:
        pytest.skip("SQLite has no row locks: its writers are serialised by the database lock")
    notices = {n.recipient_id: n for n in notices_create_for_erasure(request_id=erasure["request"].id)}
    beta_notice = notices[erasure["beta"].id]
    with webhook_server() as server:
        Recipient.objects.filter(id=erasure["beta"].id).update(webhook_url=server_url(server))
        with row_locked(RecipientNotice, beta_notice.id):
            assert jobs.notice_webhook_task(beta_notice.id) is False
        assert server.received == []
        assert jobs.notice_webhook_task(beta_notice.id) is True  # once released, it is delivered
        assert len(server.received) == 1
