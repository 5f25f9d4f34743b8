"""POST /api/v1/releases/: record that collection images were handed to a recipient."""

from __future__ import annotations

import pytest
from django.utils import timezone

from rights.models import Recipient, Release
from tests.rights.jobs_helpers import make_image

URL = "/api/v1/releases/"


@pytest.mark.django_db
def test_owner_records_a_release_by_image_hash_once(owner, teammate):
    image = make_image("released")
    body = {"recipient": "Acme Research", "images": [image.sha256], "released_at": timezone.now().isoformat()}
    assert teammate.client.post(URL, body, format="json").status_code == 403
    response = owner.client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json() == {"recipient": "Acme Research", "recorded": 1}
    assert Release.objects.get().image_id == image.id
    assert owner.client.post(URL, body, format="json").json()["recorded"] == 0  # idempotent


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"recipient": "Acme", "images": ["0" * 64], "released_at": "2026-01-01T00:00:00Z"},  # not held
        {"recipient": "Acme", "images": ["not-a-hash"], "released_at": "2026-01-01T00:00:00Z"},
        {"recipient": "Acme", "images": [], "released_at": "2026-01-01T00:00:00Z"},
        {"recipient": "", "images": ["0" * 64], "released_at": "2026-01-01T00:00:00Z"},
    ],
)
def test_bad_input_is_400_and_records_nothing(owner, body):
    response = owner.client.post(URL, body, format="json")
    assert response.status_code == 400 and response.json()["errors"]
    assert not Release.objects.exists() and not Recipient.objects.exists()
