"""A photo sent to a request not waiting for one: nothing stored, and the page says why."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from rights.models import RequestKind, RequestStatus, Selfie
from tests.portal.helpers import face_bytes
from tests.rights.jobs_helpers import make_request

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("status", "why"),
    [
        (RequestStatus.UNCONFIRMED, "confirm your email address"),
        (RequestStatus.SEARCHING, "we already have a photo we can use"),
        (RequestStatus.REVIEW, "the search with your photo is done"),
        (RequestStatus.ANSWERED, "this request is closed"),
    ],
)
def test_the_status_page_says_why_the_photo_was_not_added(client, status, why):
    request = make_request(kind=RequestKind.ACCESS, status=status)
    upload = SimpleUploadedFile("me.jpg", face_bytes(), content_type="image/jpeg")

    page = client.post(
        reverse("public:selfie_upload", kwargs={"token": request.public_token}),
        {"selfie": upload},
        follow=True,
    )

    # Before the fix: HTTP 400 and the reason attached to a form the page does not show.
    assert page.status_code == 200
    assert why in page.content.decode()
    assert "We did not add this photo" in page.content.decode()
    assert not Selfie.objects.filter(request=request).exists()
    request.refresh_from_db()
    assert request.status == status
