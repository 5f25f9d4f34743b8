"""POST /api/v1/images/: ingest one image with its metadata (bad files refused, nothing stored).
The added path runs the face models: it is covered by the ingestion tests; here only refusals."""

from __future__ import annotations

import io

import pytest

from matching.models import Image

URL = "/api/v1/images/"


def _file(data: bytes) -> io.BytesIO:
    buffer = io.BytesIO(data)
    buffer.name = "photo.jpg"
    return buffer


@pytest.mark.django_db
def test_a_file_that_is_not_an_image_is_400_with_the_reason(owner):
    response = owner.client.post(URL, {"file": _file(b"not an image at all")}, format="multipart")
    assert response.status_code == 400 and response.json()["errors"]["file"]
    assert not Image.objects.exists()


@pytest.mark.django_db
def test_bad_metadata_is_400(owner):
    response = owner.client.post(
        URL, {"file": _file(b"x"), "source_url": "not a url", "collected_at": "someday"}, format="multipart"
    )
    assert response.status_code == 400
    assert {"source_url", "collected_at"} <= set(response.json()["errors"])


@pytest.mark.django_db
def test_teammate_may_not_ingest(teammate):
    assert teammate.client.post(URL, {"file": _file(b"x")}, format="multipart").status_code == 403
