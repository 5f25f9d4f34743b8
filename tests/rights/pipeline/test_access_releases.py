"""rights.pipeline.access.image_releases_listed: the release day an access answer prints."""

from __future__ import annotations

import pytest
from django.utils import timezone

from rights.models import Recipient
from rights.pipeline.access import image_releases_listed
from rights.signals import releases_from_manifest
from tests.rights.jobs_helpers import make_image

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("reader_zone", ["Europe/Paris", "America/New_York", "Asia/Tokyo", "UTC"])
def test_a_date_only_release_prints_as_the_day_the_manifest_gave(settings, reader_zone):
    settings.TIME_ZONE = "Europe/Paris"
    image = make_image("released")
    # As ingestion calls it for a manifest row with released_to and a date-only released_at.
    releases_from_manifest(
        None, image_id=image.id, extra={"released_to": "Acme Research", "released_at": "2026-11-30"}
    )
    assert Recipient.objects.filter(name="Acme Research").exists()

    with timezone.override(reader_zone):
        listed = image_releases_listed(image=image)

    # Before the fix the answer printed released_at[:10] of the UTC time: 2026-11-29.
    assert [(r["name"], r["released_on"]) for r in listed] == [("Acme Research", "2026-11-30")]
