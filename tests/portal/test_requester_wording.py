"""What requesters read (issue 13): a photo refused among several is named with its reason; the
certificate names the recipients told (only once staff approved, like the sources); the access
answer does not say "below" for what comes after the images."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from rights.models import Recipient, RequestStatus, Selfie
from rights.pipeline.access import general_items
from rights.recipients.notices import notices_create_for_erasure
from rights.recipients.recipients import CONTACT_UNKNOWN
from rights.staff.review import request_approve
from tests.rights.jobs_helpers import release
from tests.rights.pipeline.test_erasure_certificate import _certificate, _erased_request
from tests.rights.pipeline_helpers import reviewer_user
from tests.rights.staff_helpers import make_request

pytestmark = pytest.mark.django_db


def _selfie(request, status: str, problem: str = "") -> Selfie:
    data = f"{request.id}-{status}-{problem}".encode()
    return Selfie.objects.create(
        request=request,
        file=ContentFile(data, name="s.jpg"),
        sha256=hashlib.sha256(data).hexdigest(),
        status=status,
        problem=problem,
    )


def status_page(client, request) -> str:
    response = client.get(reverse("public:status", args=[request.public_token]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_photo_refused_among_several_is_named_with_its_reason(client) -> None:
    request = make_request(status=RequestStatus.REVIEW)
    _selfie(request, Selfie.Status.USABLE)
    _selfie(request, Selfie.Status.REJECTED, "There are two faces in this photo.")
    html = status_page(client, request)
    assert 'id="photos-refused"' in html and "There are two faces in this photo." in html
    # Every photo refused: the page asks for another one instead (no "we used the others").
    alone = make_request(status=RequestStatus.NEEDS_SELFIE)
    _selfie(alone, Selfie.Status.REJECTED, "No face was found.")
    assert 'id="photos-refused"' not in status_page(client, alone)
    # Nothing refused: nothing said.
    fine = make_request(status=RequestStatus.REVIEW)
    _selfie(fine, Selfie.Status.USABLE)
    assert 'id="photos-refused"' not in status_page(client, fine)


def test_an_approved_certificate_names_the_recipients_told(client, settings, mailoutbox) -> None:
    settings.ACCESS_REQUIRES_APPROVAL = True
    request, images = _erased_request(status=RequestStatus.REVIEW)
    request_approve(request_id=request.id, user=reviewer_user())
    known = Recipient.objects.create(name="Known Partner", contact_email="dpo@known.example")
    waiting = Recipient.objects.create(name="Unknown Partner", contact_email=CONTACT_UNKNOWN)
    release(known, images[0])
    release(waiting, images[1])
    notices_create_for_erasure(request_id=request.id)
    answer = _certificate(request)
    assert answer.payload["recipients"]["told"] == ["Known Partner"]  # not the one not told yet
    assert "Told: Known Partner." in answer.archive.read().decode()
    page = client.get(reverse("public:answer", kwargs={"token": answer.download_token})).content.decode()
    assert "Told: Known Partner." in page and "Unknown Partner" not in page


def test_the_access_answer_does_not_say_below_for_what_comes_before() -> None:
    Recipient.objects.create(name="Partner Analytics", contact_email="dpo@partner.example")
    general = general_items(request=make_request(status=RequestStatus.FULFILLING))
    assert "below" not in general["recipients"] and "below" not in general["source"]
    assert "With each of your images" in general["recipients"]
