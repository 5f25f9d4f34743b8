"""matching.tasks.ingest_files: run twice, file gone, and a real Celery worker against the real broker."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image as PILImage

from matching.models import Face, Image
from matching.services.ingestion import ADDED, DUPLICATE
from matching.services.search import faces_search
from matching.tasks import ingest_files
from tests.matching.conftest import GROUP_PHOTO, LFW_DIR


def _mirrored_group_photo(folder):
    # The worker embeds in its own process: give it a picture no other test embeds.
    path = folder / "group-mirrored.png"
    PILImage.fromarray(np.asarray(PILImage.open(GROUP_PHOTO).convert("RGB"))[:, ::-1]).save(path)
    return path


@pytest.mark.models
@pytest.mark.django_db
def test_run_twice_adds_once(tmp_path):
    items = [{"path": str(LFW_DIR / "Rafael_Ramirez" / "Rafael_Ramirez_0001.jpg"), "platform": "flickr"}]
    assert ingest_files(items) == {ADDED: 1}
    assert ingest_files(items) == {DUPLICATE: 1}
    assert Image.objects.get().platform == "flickr"


@pytest.mark.django_db
def test_file_gone_is_reported_not_retried(tmp_path):
    assert ingest_files([{"path": str(tmp_path / "vanished.jpg")}]) == {"rejected": 1}
    assert not Image.objects.exists()


@pytest.mark.models
@pytest.mark.worker
def test_worker_ingests_files_enqueued_by_the_command(celery_worker_process, tmp_path):
    path = _mirrored_group_photo(tmp_path)
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,source_url,collected_at\n{path},https://example.org/g.png,2022-02-02\n")
    out = io.StringIO()
    call_command("ingest", str(path), "--manifest", str(manifest), "--celery", stdout=out)
    assert "Enqueued 1 files in 1 tasks" in out.getvalue()
    image = celery_worker_process.wait_for(
        lambda: Image.objects.first(), timeout=300, what="the ingested image"
    )
    assert image.source_url == "https://example.org/g.png" and image.collected_at.year == 2022
    assert celery_worker_process.wait_for(
        lambda: Face.objects.filter(image=image).count() == 6, what="6 faces"
    )
    # The worker's index write is visible here: the search finds the image by its faces.

    vectors = np.stack([face.vector for face in image.faces.all()])
    assert {hit.image_id for hits in faces_search(vectors=vectors, sync=False) for hit in hits} == {image.pk}
