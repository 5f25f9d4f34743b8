"""The collection browser (issue 13): read-only, for reviewers only, each picture opened audited."""

# ruff: noqa: F811 (fixtures imported from test_admin are used as arguments)
from __future__ import annotations

import hashlib
import io

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from PIL import Image as PILImage

from matching.models import Face, Image
from rights.models import AuditEvent, Recipient, Release
from tests.rights.admin.test_admin import FACES, users  # noqa: F401 (fixture)
from tests.rights.staff_helpers import REVIEWER, VIEWER, local, staff_login

pytestmark = pytest.mark.django_db

LIST = reverse("admin:matching_image_changelist")


@pytest.fixture
def image() -> Image:
    data = FACES[0].read_bytes()
    image = Image.objects.create(
        file=ContentFile(data, name="face.jpg"),
        sha256=hashlib.sha256(data).hexdigest(),
        collected_at=local(2022, 3, 4),
        width=250,
        height=250,
        source_url="https://photos.example.net/p/31",
        platform="Flickr",
        account="someone",
    )
    Face.objects.create(image=image, x1=70, y1=70, x2=180, y2=180, det_score=0.91, embedding=b"")
    partner = Recipient.objects.create(name="Partner Analytics", contact_email="dpo@partner.example")
    Release.objects.create(
        recipient=partner, image=image, image_sha256=image.sha256, released_at=local(2023, 1, 2)
    )
    return image


def test_a_reviewer_browses_an_image_its_source_faces_and_releases(client, users, image) -> None:
    staff_login(client, users[REVIEWER])
    listing = client.get(LIST, {"q": "photos.example.net/p/3"})
    assert listing.status_code == 200 and [i.pk for i in listing.context["cl"].result_list] == [image.pk]
    page = client.get(reverse("admin:matching_image_change", args=[image.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "https://photos.example.net/p/31" in html and "Flickr" in html and "someone" in html
    assert "4 March 2022" in html and "70, 70, 180, 180" in html and "0.910" in html
    assert "Partner Analytics, 2 January 2023" in html
    assert reverse("admin:rights_collection_picture", args=[image.pk]) in html
    # Read-only: no form to change or delete.
    assert 'name="_save"' not in html and "deletelink" not in html
    assert client.post(reverse("admin:matching_image_delete", args=[image.pk])).status_code == 403
    assert Image.objects.filter(pk=image.pk).exists()


def test_opening_the_picture_is_audited_and_boxes_the_faces(client, users, image) -> None:
    staff_login(client, users[REVIEWER])
    response = client.get(reverse("admin:rights_collection_picture", args=[image.pk]))
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    picture = PILImage.open(io.BytesIO(b"".join(response.streaming_content))).convert("RGB")
    assert min(PILImage.open(FACES[0]).convert("RGB").getpixel((70, 125))) <= 200  # not white before
    assert min(picture.getpixel((70, 125))) > 200  # the white frame on the face's left edge
    [event] = AuditEvent.objects.filter(action="review_screen_viewed")
    assert event.request_id is None and event.actor == "staff:reviewer"
    assert event.detail == {"selfies": [], "images": [image.pk], "screen": "collection"}


def test_viewers_and_missing_images_get_nothing(client, users, image) -> None:
    staff_login(client, users[VIEWER])
    assert client.get(LIST).status_code == 403
    assert client.get(reverse("admin:rights_collection_picture", args=[image.pk])).status_code == 403
    assert not AuditEvent.objects.exists()
    staff_login(client, users[REVIEWER])
    assert client.get(reverse("admin:rights_collection_picture", args=[999999])).status_code == 404
    assert client.get(reverse("admin:matching_image_change", args=[999999])).status_code == 404
    assert not AuditEvent.objects.exists()
