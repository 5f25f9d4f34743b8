"""POST /api/v1/requests/submit/: an agent or another system submits a request (the form's rules)."""

from __future__ import annotations

import io

import pytest
from django.utils import timezone

from rights.models import AuditEvent, DataRequest, RequestChannel, RequestStatus
from tests.rights.api.conftest import jpeg

URL = "/api/v1/requests/submit/"
PDF = b"%PDF-1.4\n% mandate signed by the person\n"


def _evidence(data: bytes = PDF) -> io.BytesIO:
    buffer = io.BytesIO(data)
    buffer.name = "mandate.pdf"
    return buffer


@pytest.mark.django_db
def test_agent_submits_with_evidence_and_date_received(owner, mailoutbox):
    received = timezone.now() - timezone.timedelta(days=3)
    response = owner.client.post(
        URL,
        {
            "kind": "access",
            "email": "person@example.org",
            "selfies": [jpeg()],
            "channel": "agent",
            "agent_name": "Consumer Rights Ltd",
            "agent_evidence": _evidence(),
            "received_at": received.isoformat(),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["reference"].startswith("R-") and body["status"] == RequestStatus.UNCONFIRMED
    created = DataRequest.objects.get(reference=body["reference"])
    # The clock starts when it was received, not when it was typed in.
    assert abs((created.received_at - received).total_seconds()) < 1
    assert created.channel == RequestChannel.AGENT and created.agent_evidence.read() == PDF
    assert created.selfies.count() == 1 and created.recorded_by == "staff:owner"
    assert len(mailoutbox) == 1  # the same confirmation email as the form sends
    submitted = AuditEvent.objects.get(request=created, action="submitted")
    assert submitted.detail["channel"] == "agent"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"channel": "agent", "agent_name": "X"}, "agent_evidence"),  # an agent without its authority
        ({"channel": "agent", "agent_evidence": "bad"}, "agent_evidence"),  # evidence not a PDF/JPEG/PNG
        ({"received_at": "2999-01-01T00:00:00Z"}, "received_at"),  # received in the future
        ({"email": "not-an-address"}, "email"),
        ({"kind": "delete-everything"}, "kind"),
        ({"channel": "web"}, "channel"),  # the web form is not an API channel
        ({"selfies": None}, "selfies"),  # no photo
    ],
)
def test_bad_input_gets_400_naming_the_field_and_writes_nothing(owner, fields, field):
    data = {"kind": "erasure", "email": "p@example.org", "selfies": [jpeg()], "channel": "post"}
    data.update(fields)
    if fields.get("agent_evidence") == "bad":
        data["agent_evidence"] = _evidence(b"MZ not a document")
    data = {k: v for k, v in data.items() if v is not None}
    response = owner.client.post(URL, data, format="multipart")
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] and field in body["errors"]
    assert DataRequest.objects.count() == 0


@pytest.mark.django_db
def test_an_unreadable_photo_gets_the_forms_sentence(owner):
    photo = io.BytesIO(b"\xff\xd8\xff not really a jpeg")
    photo.name = "x.jpg"
    response = owner.client.post(
        URL, {"kind": "access", "email": "p@example.org", "selfies": [photo]}, format="multipart"
    )
    assert response.status_code == 400 and response.json()["errors"]["selfies"]
    assert DataRequest.objects.count() == 0


@pytest.mark.django_db
def test_teammate_and_outsider_may_not_submit_and_anonymous_is_refused(teammate, outsider, client):
    data = {"kind": "access", "email": "p@example.org", "selfies": [jpeg()]}
    assert teammate.client.post(URL, data, format="multipart").status_code == 403
    assert outsider.client.post(URL, data, format="multipart").status_code == 403
    assert client.post(URL, data).status_code in (401, 403)
    assert DataRequest.objects.count() == 0


@pytest.mark.django_db
def test_one_mailbox_gets_no_more_confirmation_mails_than_the_form_allows(owner, mailoutbox, settings):
    settings.LIMITS = {**settings.LIMITS, "confirmation_mails": "2/h"}
    sent = [
        owner.client.post(
            URL,
            {
                "kind": "access",
                "email": "victim@example.org",
                "selfies": [jpeg(colour=(100 + 40 * n, 140, 120))],
            },
            format="multipart",
        )
        for n in range(3)
    ]

    assert [r.status_code for r in sent] == [201, 201, 429]
    assert int(sent[2]["Retry-After"]) > 0 and sent[2].json()["detail"]
    assert len(mailoutbox) == 2  # the third post sent nothing and stored nothing
    assert DataRequest.objects.filter(email="victim@example.org").count() == 2
    other = owner.client.post(
        URL, {"kind": "access", "email": "someone@example.org", "selfies": [jpeg()]}, format="multipart"
    )
    assert other.status_code == 201  # another person is not affected
