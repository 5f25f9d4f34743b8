"""What the public form does with large and costly uploads (portal.uploads, portal.forms).

Each bad upload gets its sentence next to the photo field, and nothing is written: no request,
no selfie, no file, no email; what the person typed is kept.
"""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from PIL import Image

from rights.models import Selfie
from tests.portal.helpers import face_bytes
from tests.portal.test_public_pages import assert_nothing_written, error_next_to, post_request, upload

pytestmark = pytest.mark.django_db


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_a_body_larger_than_the_form_accepts_is_not_read(client, mailoutbox, settings):
    settings.UPLOAD_MAX_BYTES = 300_000
    photos = [upload(b"\xff\xd8\xff" + bytes(200_000), f"{i}.jpg") for i in range(3)]
    response = post_request(client, selfies=photos)
    # Gets: HTTP 400, one sentence next to the photos saying what the form accepts; nothing kept.
    assert response.status_code == 400
    said = error_next_to(response, "id_selfies")
    assert "larger than this form accepts" in said and "at most 3 photos of up to 20 MB each" in said
    assert "add a photo" not in said  # the one reason, not "no photo" as well
    assert 'value="ana@example.org"' in response.content.decode()
    assert_nothing_written(mailoutbox)
    # The body was left unread from the first photo on (its declared length was too long): at most
    # the parser's read-ahead (64 KiB chunks) past the fields was taken from the connection.
    meta = response.wsgi_request.META
    assert len(meta["wsgi.input"]) >= int(meta["CONTENT_LENGTH"]) - 2 * 64 * 1024


def test_the_refusal_stops_the_photo_sent_to_the_status_page_too(client, settings):
    settings.UPLOAD_MAX_BYTES = 100_000
    request = _request_needing_a_photo(client)
    response = client.post(
        reverse("public:selfie_upload", kwargs={"token": request.public_token}),
        {"selfie": upload(b"\xff\xd8\xff" + bytes(300_000))},
    )
    assert response.status_code == 400
    assert "larger than this form accepts" in response.content.decode()
    assert request.selfies.count() == 1  # only the first photo, sent with the form


def _request_needing_a_photo(client):
    from rights.models import DataRequest, RequestStatus

    assert post_request(client).status_code == 302
    # Set directly: this test is about the upload, not about how a request comes to need a photo.
    DataRequest.objects.update(status=RequestStatus.NEEDS_SELFIE)
    return DataRequest.objects.get()


def test_a_body_within_the_limit_is_read_as_before(client, mailoutbox, settings):
    settings.UPLOAD_MAX_BYTES = 3 * settings.IMAGE_MAX_BYTES + 1_000_000
    assert post_request(client, selfies=[upload(face_bytes()) for _ in range(3)]).status_code == 302
    assert Selfie.objects.count() == 3


def test_the_form_and_the_refusal_read_the_same_limit(client, mailoutbox, settings):
    # 2.6 MB once read "2 MB" on the form (whole megabytes, rounded down) and "3 MB" in the refusal.
    settings.IMAGE_MAX_BYTES = 2_600_000
    assert "up to 2.6 MB" in " ".join(client.get(reverse("public:request_new")).content.decode().split())
    response = post_request(client, selfies=[upload(b"\x89PNG\r\n\x1a\n" + bytes(2_700_000), "big.png")])
    assert response.status_code == 400
    assert "This file is 2.8 MB; the limit is 2.6 MB." in error_next_to(response, "id_selfies")
    assert_nothing_written(mailoutbox)


def test_a_selfie_is_stored_reduced(client, mailoutbox, settings):
    settings.SELFIE_DECODE_SIDE = 1280
    big = Image.open(io.BytesIO(face_bytes())).resize((2000, 2000))
    out = io.BytesIO()
    big.save(out, format="JPEG", quality=90)
    assert post_request(client, selfies=[upload(out.getvalue())]).status_code == 302
    stored = Selfie.objects.get()
    with stored.file.open("rb") as handle:
        kept = Image.open(io.BytesIO(handle.read()))
    assert kept.format == "JPEG" and kept.size == (1280, 1280)


def test_the_blank_6000_png_attack_is_refused_from_its_header(client, mailoutbox, settings):
    settings.SELFIE_MAX_PIXELS_PNG = 8_000_000
    blank = _png(Image.new("L", (6000, 6000), 255))
    assert len(blank) < 200_000  # passes every byte limit
    response = post_request(client, selfies=[upload(blank, "blank.png", "image/png")])
    # Gets: HTTP 400 and the pixel limit for a photo of a face, next to the field; nothing kept.
    assert response.status_code == 400
    said = error_next_to(response, "id_selfies")
    assert "36,000,000 pixels" in said and "8,000,000" in said
    assert_nothing_written(mailoutbox)
