"""rights.recipients.recipients.recipient_update: a notice that waited for a contact goes out at once."""

from __future__ import annotations

import pytest
from django.core import mail

from portal.celery import app
from rights.models import Recipient, RecipientNotice, RequestKind, RequestStatus
from rights.recipients.notices import notices_create_for_erasure
from rights.recipients.recipients import CONTACT_UNKNOWN, recipient_update
from tests.rights.jobs_helpers import erase, make_image, make_request, release

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager_tasks():
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False
    app.conf.task_eager_propagates = False


@pytest.fixture
def waiting_notice(django_capture_on_commit_callbacks, eager_tasks):
    recipient = Recipient.objects.create(name="Nameless Partner", contact_email=CONTACT_UNKNOWN)
    request = make_request(kind=RequestKind.ERASURE, status=RequestStatus.FULFILLING)
    image = make_image("shared")
    release(recipient, image)
    erase(request, image)
    with django_capture_on_commit_callbacks(execute=True):
        (notice,) = notices_create_for_erasure(request_id=request.id)
    notice.refresh_from_db()
    assert notice.sent_at is None  # nowhere to send it
    mail.outbox.clear()
    return notice


def test_a_notice_waiting_for_a_contact_is_sent_as_soon_as_staff_set_it(
    waiting_notice, django_capture_on_commit_callbacks
):
    recipient = waiting_notice.recipient
    recipient.contact_email = "dpo@nameless.example"
    with django_capture_on_commit_callbacks(execute=True):
        recipient_update(recipient=recipient, changed_fields=["contact_email"], actor="staff:rita")

    waiting_notice.refresh_from_db()
    # Before the fix it waited for the chase job (notices 7 days old, at 09:00).
    assert waiting_notice.sent_at is not None
    assert [m.to for m in mail.outbox] == [["dpo@nameless.example"]]
    assert waiting_notice.image_hashes[0] in mail.outbox[0].body


def test_another_change_or_a_contact_still_unknown_sends_nothing(
    waiting_notice, django_capture_on_commit_callbacks
):
    recipient = waiting_notice.recipient
    recipient.webhook_url = ""
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        recipient_update(recipient=recipient, changed_fields=["webhook_url"], actor="staff:rita")
        recipient_update(recipient=recipient, changed_fields=["contact_email"], actor="staff:rita")
    assert callbacks == []
    assert RecipientNotice.objects.get(pk=waiting_notice.pk).sent_at is None
    assert mail.outbox == []
