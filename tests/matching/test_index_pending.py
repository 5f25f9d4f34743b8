"""The index's outbox (IndexPending): a crash between a writer's commit and its index write is
repaired by the next search at the cost of the faces concerned, never by reading the Face table."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from matching.models import Face, Image, IndexPending
from matching.services import index as index_service
from matching.services import ingestion
from matching.services.deletion import image_delete
from matching.services.index import (
    index_add_owed,
    index_coverage,
    index_load,
    index_remove,
    index_sync,
    index_sync_if_changed,
    pending_record,
)
from matching.services.ingestion import ADDED, image_ingest
from matching.services.search import faces_search
from tests.matching.conftest import LFW_DIR, unit_vectors, vector_near
from tests.matching.helpers import image_with_faces

pytestmark = pytest.mark.django_db


@pytest.fixture
def full_syncs(monkeypatch) -> list[int]:
    """Counts the full reconciliations (the ones that read every id of the Face table)."""
    calls: list[int] = []
    real = index_service.index_sync

    def counted():
        calls.append(1)
        return real()

    monkeypatch.setattr(index_service, "index_sync", counted)
    return calls


def _held() -> set[int]:
    return set(index_load()[1].ids().tolist())


def test_an_addition_owed_after_a_crash_is_applied_by_the_next_search_without_a_full_sync(full_syncs):
    query = unit_vectors(1, seed=3)[0]
    first = image_with_faces(vectors=[vector_near(query, 0.8, seed=1)])
    index_sync_if_changed()
    # An ingestion that committed its rows (and the owed change) and died before its index write;
    # a later face (a newer id) did reach the index, so the newest-id check alone would miss it.
    lost = image_with_faces(vectors=[])
    lost_face = Face.objects.create(
        image=lost, x1=0, y1=0, x2=9, y2=9, det_score=0.9, embedding=_bytes(vector_near(query, 0.85, seed=2))
    )
    pending_record(face_ids=[lost_face.pk], removal=False)
    later = image_with_faces(vectors=[vector_near(query, 0.8, seed=3)])
    full_syncs.clear()

    (hits,) = faces_search(vectors=query[None, :])

    assert {h.image_id for h in hits} == {first.pk, lost.pk, later.pk}
    assert full_syncs == []  # the owed face alone, not the collection
    assert not IndexPending.objects.exists()


def test_a_removal_owed_after_a_crash_leaves_the_disk_before_the_next_search_answers(full_syncs):
    query = unit_vectors(1, seed=4)[0]
    image = image_with_faces(vectors=[vector_near(query, 0.8, seed=1)])
    keep = image_with_faces(vectors=[vector_near(query, 0.8, seed=2)])
    face_id = Face.objects.get(image=image).pk
    # The deletion's transaction (rows gone, removal owed) committed; the process died before index_remove.
    pending_record(face_ids=[face_id], removal=True)
    Face.objects.filter(pk=face_id).delete()
    Image.objects.filter(pk=image.pk).delete()
    assert face_id in _held()
    full_syncs.clear()

    result = index_sync_if_changed()

    assert (result.added, result.removed) == (0, 1)
    assert face_id not in _held() and Face.objects.get(image=keep).pk in _held()
    assert full_syncs == [] and not IndexPending.objects.exists()


def test_a_removal_recorded_after_an_owed_addition_wins():
    (vector,) = unit_vectors(1, seed=5)
    image = image_with_faces(vectors=[vector])
    face_id = Face.objects.get(image=image).pk
    pending_record(face_ids=[face_id], removal=False)
    pending_record(face_ids=[face_id], removal=True)
    assert list(IndexPending.objects.values_list("face_id", "removal")) == [(face_id, True)]


def test_with_nothing_owed_the_check_reads_no_aggregate_of_the_face_table():
    vectors = unit_vectors(40, seed=6)
    for v in vectors:
        image_with_faces(vectors=[v])
    index_sync_if_changed()
    with CaptureQueriesContext(connection) as queries:
        result = index_sync_if_changed()
    assert result.total == 40
    statements = [q["sql"].upper() for q in queries.captured_queries]
    # One step down the Face primary key and one read of the (empty) outbox, whatever the collection's size.
    assert len(statements) <= 2, statements
    assert not any("COUNT(" in s or "SUM(" in s for s in statements), statements


def test_a_face_inserted_without_the_outbox_is_still_found_by_the_newest_id_check(full_syncs):
    query = unit_vectors(1, seed=7)[0]
    image = image_with_faces(vectors=[])
    Face.objects.create(
        image=image, x1=0, y1=0, x2=9, y2=9, det_score=0.9, embedding=_bytes(vector_near(query, 0.9, seed=1))
    )
    full_syncs.clear()
    (hits,) = faces_search(vectors=query[None, :])
    assert [h.image_id for h in hits] == [image.pk]
    assert full_syncs == [1]  # a newer id than the index's newest: the full comparison runs once
    full_syncs.clear()
    faces_search(vectors=query[None, :])
    assert full_syncs == []


def test_coverage_counts_the_rows_with_the_owed_changes_applied(full_syncs):
    vectors = unit_vectors(5, seed=11)
    images = [image_with_faces(vectors=[v]) for v in vectors]
    gone = Face.objects.get(image=images[0]).pk
    pending_record(face_ids=[gone], removal=True)  # a deletion that died before its index write
    Face.objects.filter(pk=gone).delete()
    full_syncs.clear()
    coverage = index_coverage()
    assert (coverage.total, coverage.database, coverage.removed) == (4, 4, 1)
    assert full_syncs == []
    # A row the outbox cannot explain (deleted outside the services, its index entry kept): the counts
    # differ, and the full comparison repairs it before the figures are given.
    Face.objects.filter(image=images[1]).delete()
    coverage = index_coverage()
    assert (coverage.total, coverage.database) == (3, 3) and full_syncs == [1]


def test_the_full_sync_clears_what_it_applied():
    (vector,) = unit_vectors(1, seed=8)
    image = image_with_faces(vectors=[vector])
    face_id = Face.objects.get(image=image).pk
    index_remove(ids=[face_id])
    pending_record(face_ids=[face_id], removal=False)
    result = index_sync()
    assert result.added == 1 and face_id in _held()
    assert not IndexPending.objects.exists()


def test_a_deletion_records_the_removal_with_its_rows_and_clears_it_after_the_index_write():
    (vector,) = unit_vectors(1, seed=9)
    image = image_with_faces(vectors=[vector])
    face_id = Face.objects.get(image=image).pk
    outcome = image_delete(image_id=image.pk)
    assert "index" in outcome.removed_from and face_id not in _held()
    assert not IndexPending.objects.exists()


def test_a_deletion_dying_before_its_index_write_leaves_the_removal_owed(monkeypatch):
    from matching.services import deletion

    (vector,) = unit_vectors(1, seed=10)
    image = image_with_faces(vectors=[vector])
    face_id = Face.objects.get(image=image).pk

    def die(**_kwargs):
        raise OSError("killed")

    monkeypatch.setattr(deletion, "index_remove_owed", die)
    with pytest.raises(OSError):
        image_delete(image_id=image.pk)
    assert list(IndexPending.objects.values_list("face_id", "removal")) == [(face_id, True)]
    monkeypatch.undo()
    index_sync_if_changed()
    assert face_id not in _held() and not IndexPending.objects.exists()


@pytest.mark.models
def test_an_ingestion_dying_before_its_index_write_leaves_the_addition_owed(monkeypatch, full_syncs):
    sample = sorted((LFW_DIR / "Rafael_Ramirez").glob("*.jpg"))[0]

    def die(**_kwargs):
        raise OSError("killed")

    monkeypatch.setattr(ingestion, "index_add_owed", die)
    with pytest.raises(OSError):
        image_ingest(data=sample.read_bytes(), name="lost.jpg")
    faces = list(Face.objects.values_list("pk", flat=True))
    assert faces and set(IndexPending.objects.values_list("face_id", flat=True)) == set(faces)
    monkeypatch.setattr(ingestion, "index_add_owed", index_add_owed)
    full_syncs.clear()
    vector = Face.objects.get(pk=faces[0]).vector
    (hits,) = faces_search(vectors=vector[None, :])
    assert faces[0] in {h.face_id for h in hits}
    assert full_syncs == [] and not IndexPending.objects.exists()
    # And an ingestion that completes leaves nothing owed.
    assert image_ingest(data=sample.read_bytes() + b"again", name="ok.jpg").status == ADDED
    assert not IndexPending.objects.exists()


def _bytes(vector: np.ndarray) -> bytes:
    from matching.services.embedding import embedding_to_bytes

    return embedding_to_bytes(vector=vector)
