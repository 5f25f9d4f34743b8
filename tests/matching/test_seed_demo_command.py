"""manage.py seed_demo: plausible, deterministic metadata; a no-op on a non-empty collection."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command

from matching.models import Image
from tests.matching.conftest import LFW_DIR

pytestmark = [pytest.mark.models, pytest.mark.django_db]

FIELDS = ("source_url", "platform", "account", "collected_at")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", "--folder", str(LFW_DIR), "--limit", "12", "--workers", "1", *args, stdout=out)
    return out.getvalue()


@time_machine.travel(NOW, tick=False)
def test_seed_is_deterministic_and_plausible():
    assert "12 images" in _seed()
    first = list(
        Image.objects.order_by("sha256").values_list("source_url", "platform", "account", "collected_at")
    )
    assert len(first) == 12
    for source_url, platform, account, collected_at in first:
        assert source_url.startswith("https://")
        assert platform
        assert NOW - timedelta(days=6 * 365) <= collected_at <= NOW
        assert (platform == "web") == (account == "")
    Image.objects.all().delete()
    _seed()
    again = list(
        Image.objects.order_by("sha256").values_list("source_url", "platform", "account", "collected_at")
    )
    assert again == first


def test_no_op_when_the_collection_has_images():
    _seed("--limit", "1")
    assert "already holds images" in _seed()
    assert Image.objects.count() == 1


def test_missing_folder_says_how_to_ingest(tmp_path):
    out = io.StringIO()
    call_command("seed_demo", "--folder", str(tmp_path / "absent"), stdout=out)
    assert "manage.py ingest PATH" in out.getvalue()
    assert not Image.objects.exists()
