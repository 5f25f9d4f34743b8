"""POST /api/v1/notices/acknowledge/: a recipient acknowledges an erasure notice by an API call,
after a webhook signed in the Standard Webhooks format (checked here as a receiver would)."""

from __future__ import annotations

import json

import pytest

from rights.lifecycle.webhooks import webhook_signature, webhook_verify
from rights.models import AuditEvent, Recipient, RecipientNotice, RequestKind, RequestStatus
from rights.recipients.notices import notice_webhook_deliver
from tests.rights.jobs_helpers import erase, make_image, release, server_url, webhook_server
from tests.rights.staff_helpers import make_request

URL = "/api/v1/notices/acknowledge/"


@pytest.fixture(autouse=True)
def _local_webhooks_allowed(settings):
    settings.NOTICE_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def notice(db) -> RecipientNotice:
    request = make_request(kind=RequestKind.ERASURE, status=RequestStatus.FULFILLING)
    beta = Recipient.objects.create(name="Beta Labs", contact_email="privacy@beta.example")
    image = make_image("img1")
    release(beta, image)
    erase(request, image)
    return RecipientNotice.objects.create(request=request, recipient=beta, image_hashes=[image.sha256])


def test_the_webhook_is_signed_and_the_recipient_acknowledges_by_api(notice, client):
    with webhook_server() as server:
        Recipient.objects.filter(id=notice.recipient_id).update(webhook_url=server_url(server))
        assert notice_webhook_deliver(notice_id=notice.id) is True
        (received,) = server.received
    secret = Recipient.objects.get(id=notice.recipient_id).webhook_secret
    headers, body = received["headers"], received["body"]
    assert secret.startswith("whsec_") and headers["webhook-signature"].startswith("v1,")
    assert webhook_verify(secret=secret, headers=headers, body=body)
    # A changed body, another secret or another id does not verify.
    assert not webhook_verify(
        secret=secret, headers=headers, body=body.replace(b"erasure_notice", b"erasure_noticf")
    )
    other = Recipient.objects.create(name="Other", contact_email="o@example.org").webhook_secret
    assert not webhook_verify(secret=other, headers=headers, body=body)
    assert not webhook_verify(secret=secret, headers={**headers, "webhook-id": "msg_x"}, body=body)

    api = json.loads(body)["acknowledge_api"]
    assert api["url"].endswith(URL)
    response = client.post(URL, {"token": api["token"]}, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["image_hashes"] == notice.image_hashes
    notice.refresh_from_db()
    assert notice.acknowledged_at is not None
    assert AuditEvent.objects.filter(action="recipient_notice_acknowledged").count() == 1
    # Twice: the same answer, nothing recorded again.
    assert client.post(URL, {"token": api["token"]}, content_type="application/json").status_code == 200
    assert AuditEvent.objects.filter(action="recipient_notice_acknowledged").count() == 1


def test_the_signature_is_the_standard_webhooks_one():
    # The example of the Standard Webhooks specification's reference libraries.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = webhook_signature(
        secret=secret, msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=1614265330, body=body
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code"),
    [({"token": "no-such-token"}, 404), ({}, 400), ({"token": "x" * 65}, 400)],
)
def test_a_bad_token_gets_a_clear_error_and_acknowledges_nothing(notice, client, body, code):
    response = client.post(URL, body, content_type="application/json")
    assert response.status_code == code and response.json()["detail"]
    notice.refresh_from_db()
    assert notice.acknowledged_at is None
