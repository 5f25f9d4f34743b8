"""rights.pipeline.objection: erasure plus, with consent only, the face template on the suppression list."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage

from matching.models import Image, IngestionSkip, SuppressedFace
from matching.services.ingestion import image_ingest
from rights.models import AuditEvent, RequestKind, RequestStatus
from rights.pipeline.objection import objection_run, objection_suppress, suppression_reference
from tests.rights.pipeline_helpers import collection_ingest, searched_and_decided

pytestmark = pytest.mark.models
WHO = "Fujio_Cho"


@pytest.fixture
def collection(db, lfw_identities):
    return collection_ingest(lfw_identities=lfw_identities)


def _reencoded(path) -> bytes:
    """The same photo in other bytes: the erased bytes themselves are refused by their hash."""
    out = io.BytesIO()
    PILImage.open(path).save(out, format="JPEG", quality=90)
    return out.getvalue()


def test_objection_with_consent_erases_and_stops_re_collection(collection, lfw_identities):
    request = searched_and_decided(
        collection=collection, who=WHO, kind=RequestKind.OBJECTION, suppression_consent=True
    )

    certificate = objection_run(request_id=request.id)

    request.refresh_from_db()
    assert request.status == RequestStatus.ANSWERED
    assert not Image.objects.filter(pk__in=collection.images[WHO]).exists()
    kept = SuppressedFace.objects.filter(reference=suppression_reference(request_id=request.id))
    assert kept.count() == 1  # one usable selfie, one template
    assert certificate.payload["suppression"]["consent"] is True
    assert certificate.payload["suppression"]["templates"] == 1
    assert "not collected again" in certificate.archive.read().decode()
    # Ingestion now skips the person, and counts the skip; others are still collected.
    again = image_ingest(data=_reencoded(lfw_identities[WHO][0]), name="again.jpg")
    assert again.status == "suppressed" and again.image_id is None
    assert IngestionSkip.objects.filter(suppression__in=kept).count() == 1
    stranger = image_ingest(data=lfw_identities["JK_Rowling"][0].read_bytes(), name="other.jpg")
    assert stranger.status == "added"
    same = image_ingest(data=lfw_identities[WHO][0].read_bytes(), name="same.jpg")
    assert same.status == "erased" and f"by request {request.id}" in same.message


def test_objection_without_consent_keeps_no_template(collection, lfw_identities):
    request = searched_and_decided(collection=collection, who=WHO, kind=RequestKind.OBJECTION)

    certificate = objection_run(request_id=request.id)

    assert not Image.objects.filter(pk__in=collection.images[WHO]).exists()
    assert not SuppressedFace.objects.exists()
    assert certificate.payload["suppression"] == {
        "consent": False,
        "templates": 0,
        "text": certificate.payload["suppression"]["text"],
    }
    assert "we keep none" in certificate.payload["suppression"]["text"]
    assert image_ingest(data=_reencoded(lfw_identities[WHO][0]), name="again.jpg").status == "added"
    assert image_ingest(data=lfw_identities[WHO][0].read_bytes(), name="same.jpg").status == "erased"


def test_suppression_is_added_once_when_retried(collection):
    request = searched_and_decided(
        collection=collection, who=WHO, kind=RequestKind.OBJECTION, suppression_consent=True
    )
    assert objection_suppress(request=request) == 1
    assert objection_suppress(request=request) == 1
    assert SuppressedFace.objects.count() == 1
    assert AuditEvent.objects.filter(request_id=request.id, action="suppression_added").count() == 1


def test_objection_run_does_nothing_unless_fulfilling(collection):
    request = searched_and_decided(
        collection=collection, who=WHO, kind=RequestKind.OBJECTION, suppression_consent=True
    )
    request.__class__.objects.filter(pk=request.pk).update(status=RequestStatus.REVIEW)
    assert objection_run(request_id=request.id) is None
    assert not SuppressedFace.objects.exists()
    assert Image.objects.filter(pk__in=collection.images[WHO]).count() == len(collection.images[WHO])
