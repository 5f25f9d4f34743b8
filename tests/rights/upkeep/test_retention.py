"""The collection's limits, with real faces: the suppression-list check and the retention period."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.files.storage import default_storage

from matching.models import ErasedImage, Face, Image, IngestionSkip
from matching.services.embedding import embedding_to_bytes, faces_detect
from matching.services.imaging import image_decode
from matching.services.index import index_cache_clear, index_ids, index_load
from matching.services.ingestion import image_ingest
from matching.services.suppression import suppression_add
from rights.models import (
    AuditEvent,
    ErasureRecord,
    JobCursor,
    Match,
    Recipient,
    RecipientNotice,
    RequestStatus,
)
from rights.recipients.recipients import releases_record
from rights.upkeep.retention import retention_delete_chunk, suppression_check
from tests.rights.jobs_helpers import local, make_request

pytestmark = [pytest.mark.django_db, pytest.mark.models]

OBJECTOR = "Al_Sharpton"  # four photos, pairwise similarity 0.61-0.72 with buffalo_sc
BYSTANDER = "Allyson_Felix"


@pytest.fixture(autouse=True)
def _fresh_index():
    index_cache_clear()
    yield
    index_cache_clear()


def _ingest(path: Path, collected: str = "2024-01-01") -> Image:
    outcome = image_ingest(
        data=path.read_bytes(), name=path.name, collected_at=local(*map(int, collected.split("-")))
    )
    assert outcome.image_id, outcome
    return Image.objects.get(id=outcome.image_id)


def _embedding(path: Path) -> np.ndarray:
    (face,) = faces_detect(rgb=image_decode(data=path.read_bytes()).rgb)
    return face.embedding


def _indexed_face_ids() -> set[int]:
    return {int(i) for i in index_ids(index=index_load()[1])}


@pytest.fixture
def collection(lfw_identities):
    objector, bystander = lfw_identities[OBJECTOR], lfw_identities[BYSTANDER]
    images = {"x1": _ingest(objector[0]), "x2": _ingest(objector[1]), "y1": _ingest(bystander[0])}
    template = _embedding(objector[3])
    # Preconditions the test relies on, checked rather than assumed.
    assert float(images["y1"].faces.get().vector @ template) < django_settings.MATCH_THRESHOLD
    assert all(
        float(images[k].faces.get().vector @ template) >= django_settings.MATCH_THRESHOLD
        for k in ("x1", "x2")
    )
    return {"images": images, "template": template, "paths": objector}


def test_a_new_objection_deletes_images_already_collected(collection, django_capture_on_commit_callbacks):
    images = collection["images"]
    request = make_request(status=RequestStatus.ANSWERED, suppression_consent=True)
    acme = Recipient.objects.create(name="Acme Research", contact_email="dpo@acme.example")
    releases_record(recipient=acme, image_ids=[images["x1"].id], released_at=local(2024, 2, 1))
    files = {k: Path(default_storage.path(image.file.name)) for k, image in images.items()}
    face_ids = {k: image.faces.get().id for k, image in images.items()}
    assert set(face_ids.values()) <= _indexed_face_ids()
    suppression_add(reference=f"request:{request.id}", vector=collection["template"])

    with django_capture_on_commit_callbacks():
        result = suppression_check()

    assert result.images_deleted == 2 and result.templates_checked == 1
    assert list(Image.objects.values_list("id", flat=True)) == [images["y1"].id]
    assert not files["x1"].exists() and not files["x2"].exists() and files["y1"].exists()
    assert _indexed_face_ids() & {face_ids["x1"], face_ids["x2"]} == set()
    skips = IngestionSkip.objects.order_by("sha256")
    assert sorted(s.sha256 for s in skips) == sorted([images["x1"].sha256, images["x2"].sha256])
    assert all(s.score >= django_settings.MATCH_THRESHOLD and s.suppression is not None for s in skips)
    # Ingestion refuses the same bytes ever after, naming the objection.
    again = image_ingest(data=collection["paths"][0].read_bytes(), name="again.jpg")
    assert again.status == "erased" and f"by request {request.id}" in again.message
    # Ledgered as an erasure for the person who objected, and the recipient of a copy is told.
    assert sorted(
        ErasureRecord.objects.filter(request=request).values_list("image_sha256", flat=True)
    ) == sorted([images["x1"].sha256, images["x2"].sha256])
    notice = RecipientNotice.objects.get(request=request)
    assert (notice.recipient_id, notice.image_hashes) == (acme.id, [images["x1"].sha256])
    assert AuditEvent.objects.filter(action="suppressed_image_deleted", request=request).count() == 2

    again = suppression_check()  # run twice: nothing more to do
    # faces_checked: y1 is read again in the overlap below the cursor (see the late-commit test).
    assert (again.images_deleted, again.templates_checked, again.faces_checked) == (0, 0, 1)
    assert IngestionSkip.objects.count() == 2


def test_faces_that_slipped_in_after_the_objection_are_caught(collection):
    """A batch that loaded the list before the template was added stores a face of the objector."""
    suppression_add(reference="request:424242", vector=collection["template"])
    first = suppression_check()
    assert first.images_deleted == 2
    assert (
        JobCursor.objects.get(name="suppression_check.face").position
        >= collection["images"]["y1"].faces.get().id
    )

    late = Image.objects.create(
        sha256="f" * 64, file="collection/late.jpg", width=250, height=250, collected_at=local(2024, 3, 1)
    )
    Face.objects.create(
        image=late, x1=1, y1=1, x2=100, y2=100, det_score=0.9,
        embedding=embedding_to_bytes(vector=_embedding(collection["paths"][2])),
    )  # fmt: skip
    result = suppression_check()
    # Two faces read: the new one, and y1 again in the overlap below the cursor.
    assert (result.faces_checked, result.templates_checked, result.images_deleted) == (2, 0, 1)
    assert not Image.objects.filter(id=late.id).exists()
    # The reference names no request here: the image is still deleted and counted, with no ledger row.
    assert IngestionSkip.objects.filter(sha256="f" * 64).exists()
    assert not ErasureRecord.objects.exists()


def test_without_templates_nothing_is_deleted_and_the_cursor_moves_on(collection):
    result = suppression_check()
    assert (result.images_deleted, result.faces_checked) == (0, 0)
    assert Image.objects.count() == 3
    assert JobCursor.objects.get(name="suppression_check.face").position == Face.objects.latest("id").id


def test_retention_deletes_old_images_in_chunks_and_keeps_those_in_open_requests(settings, lfw_identities):
    paths = lfw_identities[OBJECTOR]
    old1 = _ingest(paths[0], "2024-01-01")
    old2 = _ingest(paths[1], "2024-06-01")
    in_open_request = _ingest(paths[2], "2024-03-01")
    recent = _ingest(lfw_identities[BYSTANDER][0], "2026-01-01")
    request = make_request(status=RequestStatus.REVIEW)
    Match.objects.create(
        request=request, image=in_open_request, image_sha256=in_open_request.sha256, score=0.3, band="review"
    )
    old1_file = Path(default_storage.path(old1.file.name))
    old1_face = old1.faces.get().id
    now = local(2026, 6, 1, 3)

    settings.COLLECTION_RETENTION_DAYS = 0  # no retention period: nothing is ever deleted
    with time_machine.travel(now, tick=False):
        assert retention_delete_chunk(chunk=1).deleted == 0
    assert Image.objects.count() == 4

    settings.COLLECTION_RETENTION_DAYS = 365
    with time_machine.travel(now, tick=False):
        first = retention_delete_chunk(chunk=1)
        second = retention_delete_chunk(chunk=1)
        third = retention_delete_chunk(chunk=1)
    assert (first.deleted, first.more) == (1, True)
    assert (second.deleted, second.more) == (1, False)
    assert (third.deleted, third.more) == (0, False)
    assert sorted(Image.objects.values_list("id", flat=True)) == sorted([in_open_request.id, recent.id])
    assert not old1_file.exists() and old1_face not in _indexed_face_ids()
    assert not Image.objects.filter(id__in=[old1.id, old2.id]).exists()
    assert AuditEvent.objects.filter(action="retention_images_deleted").count() == 2

    # Once the request closes, its image is past retention like any other.
    request.status = RequestStatus.ANSWERED
    request.save(update_fields=["status"])
    with time_machine.travel(now + timedelta(days=1), tick=False):
        assert retention_delete_chunk().deleted == 1
    assert list(Image.objects.values_list("id", flat=True)) == [recent.id]


def test_bytes_deleted_by_retention_are_refused_at_ingestion_saying_why(settings, lfw_identities):
    """Ingesting the bytes again gets status "erased" and a message naming the retention period,
    not a request (before: "erased on DATE: never collected again", with no reason)."""
    path = lfw_identities[OBJECTOR][0]
    old = _ingest(path, "2024-01-01")
    settings.COLLECTION_RETENTION_DAYS = 365
    with time_machine.travel(local(2026, 6, 1, 12), tick=False):
        assert retention_delete_chunk().deleted == 1
        again = image_ingest(data=path.read_bytes(), name="again.jpg")
    assert again.status == "erased" and again.image_id is None
    assert again.message == "erased on 2026-06-01 (retention period ended): never collected again"
    assert ErasedImage.objects.get(sha256=old.sha256).reference == "retention period ended"
    assert not Image.objects.exists()


def test_a_face_committed_late_with_a_lower_id_is_still_checked(collection):
    """Ids are handed out at insert, not at commit: a concurrent ingestion can commit a face whose id
    is below faces a run already checked. Before the fix the cursor had moved past it (faces with
    id > cursor only) and the objector's face stayed in the collection for good."""
    suppression_add(reference="request:424242", vector=collection["template"])
    x1_face_id = collection["images"]["x1"].faces.get().id
    assert suppression_check().images_deleted == 2  # x1 and x2: their face ids are free again
    cursor = JobCursor.objects.get(name="suppression_check.face").position
    assert x1_face_id < cursor

    late = Image.objects.create(
        sha256="e" * 64, file="collection/late.jpg", width=250, height=250, collected_at=local(2024, 3, 1)
    )
    # The face id the ingestion was given before the run, committed only after it.
    Face.objects.create(
        id=x1_face_id, image=late, x1=1, y1=1, x2=100, y2=100, det_score=0.9,
        embedding=embedding_to_bytes(vector=_embedding(collection["paths"][2])),
    )  # fmt: skip
    result = suppression_check()
    assert result.images_deleted == 1
    assert not Image.objects.filter(id=late.id).exists()
    assert IngestionSkip.objects.filter(sha256="e" * 64).exists()
    assert JobCursor.objects.get(name="suppression_check.face").position == cursor  # never moved back
