"""image_delete: file, faces, embeddings, row and index; idempotent; safe after a crash half-way."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from matching.models import Face, Image
from matching.services.deletion import image_delete, images_delete
from matching.services.index import index_ids, index_load
from matching.services.search import faces_search
from tests.matching.conftest import unit_vectors
from tests.matching.helpers import image_with_faces

pytestmark = pytest.mark.django_db


def test_delete_removes_everything_and_reports_it():
    vectors = unit_vectors(3, seed=4)
    image = image_with_faces(vectors=vectors[:2], source_url="https://example.com/a.jpg")
    keep = image_with_faces(vectors=vectors[2:])
    path = Path(default_storage.path(image.file.name))
    face_ids = list(image.faces.values_list("pk", flat=True))
    result = image_delete(image_id=image.pk)
    assert result.found and result.sha256 == image.sha256 and result.source_url == "https://example.com/a.jpg"
    assert result.removed_from == ["file", "faces", "embeddings", "image", "index"]
    assert not path.exists()
    assert not Image.objects.filter(pk=image.pk).exists()
    assert not Face.objects.filter(pk__in=face_ids).exists()
    _, index = index_load()
    assert set(index_ids(index=index).tolist()) == set(keep.faces.values_list("pk", flat=True))
    assert faces_search(vectors=vectors[:2]) == [[], []]


def test_delete_twice_is_fine():
    image = image_with_faces(vectors=unit_vectors(1))
    image_delete(image_id=image.pk)
    again = image_delete(image_id=image.pk)
    assert not again.found and again.removed_from == []


def test_rerun_after_a_crash_with_the_file_already_gone():
    image = image_with_faces(vectors=unit_vectors(1))
    Path(default_storage.path(image.file.name)).unlink()  # the first run died after removing the file
    result = image_delete(image_id=image.pk)
    assert result.found and "index" in result.removed_from
    assert not Image.objects.exists() and not Face.objects.exists()


def test_many_at_once():
    images = [image_with_faces(vectors=unit_vectors(1, seed=i)) for i in range(4)]
    results = images_delete(image_ids=[img.pk for img in images] + [123456])
    assert [r.found for r in results] == [True, True, True, True, False]
    _, index = index_load()
    assert index.ntotal == 0


@pytest.mark.models
def test_an_ingestion_of_the_same_bytes_during_a_deletion_leaves_no_file(settings, monkeypatch):
    """The steps in the order of the race: deletion removes the file; an ingestion of the same
    bytes writes it back, loses its insert to the row still there (a duplicate); then the rows go."""
    from matching.services import deletion
    from matching.services.ingestion import DUPLICATE, image_ingest
    from tests.matching.conftest import LFW_DIR

    data = sorted((LFW_DIR / "Rafael_Ramirez").glob("*.jpg"))[0].read_bytes()
    added = image_ingest(data=data, name="a.jpg")
    image = Image.objects.get(pk=added.image_id)
    path = Path(default_storage.path(image.file.name))
    real_remove = deletion._file_remove
    raced = []

    def remove_then_ingest(name):
        real_remove(name)
        if not raced:
            raced.append(image_ingest(data=data, name="same-bytes-again.jpg"))

    monkeypatch.setattr(deletion, "_file_remove", remove_then_ingest)
    image_delete(image_id=image.pk)

    assert raced[0].status == DUPLICATE
    assert not Image.objects.filter(sha256=image.sha256).exists()
    assert not path.exists()  # before the fix the ingestion's copy of the erased image stayed


def test_a_deleted_image_is_recorded_as_erased_with_the_reference_given():
    from matching.models import ErasedImage

    first, second = (image_with_faces(vectors=unit_vectors(1, seed=s)) for s in (11, 12))
    image_delete(image_id=first.pk, erased_by="42")
    images_delete(image_ids=[second.pk])  # no reference: still recorded (the safe side)
    recorded = {r.sha256: r for r in ErasedImage.objects.all()}
    assert set(recorded) == {first.sha256, second.sha256}
    assert recorded[first.sha256].reference == "42" and recorded[second.sha256].reference == ""
    assert recorded[first.sha256].refusals == 0


def test_the_record_keeps_the_first_erasure_and_takes_a_backfill():
    from datetime import UTC, datetime

    from matching.models import ErasedImage
    from matching.services.erased import erased_image_record

    earlier = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
    erased_image_record(sha256="a" * 64, reference="7", erased_at=earlier)  # from a ledger row
    again = erased_image_record(sha256="a" * 64, reference="8")
    assert (again.reference, again.erased_at) == ("7", earlier)
    assert ErasedImage.objects.count() == 1
