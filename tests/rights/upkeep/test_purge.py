"""Purge of requesters' verification data, SELFIE_RETENTION_DAYS after their request closes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import time_machine
from django.core.files.base import ContentFile
from django.urls import reverse

from matching.models import SuppressedFace
from matching.services.suppression import suppression_add
from rights.models import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    Answer,
    AuditEvent,
    DataRequest,
    ErasureRecord,
    Match,
    PurgeRecord,
    RequestKind,
    RequestStatus,
    Selfie,
)
from rights.upkeep.purge import (
    request_expire_unconfirmed,
    request_purge,
    requests_expire_unconfirmed,
    requests_purge_due,
)
from tests.rights.jobs_helpers import erase, local, make_image, make_request

pytestmark = pytest.mark.django_db

CLOSED = local(2026, 4, 1, 15)


def _vector(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(512).astype("<f4")
    return vector / np.linalg.norm(vector)


def _selfie(request: DataRequest, seed: int) -> Selfie:
    selfie = Selfie(
        request=request,
        sha256=f"{seed:064d}",
        status=Selfie.Status.USABLE,
        face_bbox=[1.0, 2.0, 30.0, 40.0],
        embedding=_vector(seed).tobytes(),
    )
    selfie.file.save("ignored.jpg", ContentFile(b"\xff\xd8 not really a jpeg " + bytes([seed])), save=False)
    selfie.save()
    return selfie


def _closed_request(
    *, consent: bool = False, kind: str = RequestKind.OBJECTION, seed: int = 1
) -> DataRequest:
    request = make_request(
        kind=kind,
        status=RequestStatus.ANSWERED,
        received_at=CLOSED - timedelta(days=20),
        answered_at=CLOSED,
        closed_at=CLOSED,
        suppression_consent=consent,
    )
    for offset in (0, 1):
        _selfie(request, seed * 10 + offset)
    suppression_add(reference=f"request:{request.id}", vector=_vector(seed * 100))
    image = make_image(f"erased-{seed}")
    Match.objects.create(request=request, image=image, image_sha256=image.sha256, score=0.8, band="match")
    erase(request, image)
    return request


def _files(request: DataRequest) -> list[Path]:
    return [Path(s.file.path) for s in Selfie.objects.filter(request=request) if s.file]


def test_nothing_is_touched_before_the_grace_period(settings):
    settings.SELFIE_RETENTION_DAYS = 30
    request = _closed_request()
    files = _files(request)
    with time_machine.travel(CLOSED + timedelta(days=30) - timedelta(seconds=1), tick=False):
        assert request_purge(request_id=request.id) is None
        assert requests_purge_due().requests == 0
    assert len(files) == 2 and all(path.is_file() for path in files)
    assert (
        Selfie.objects.filter(request=request, embedding__isnull=False, purged_at__isnull=True).count() == 2
    )
    assert SuppressedFace.objects.filter(reference=f"request:{request.id}").count() == 1
    assert not PurgeRecord.objects.exists()
    request.refresh_from_db()
    assert request.purged_at is None


def test_after_the_grace_period_selfies_and_embeddings_are_gone_and_the_record_stays(settings):
    settings.SELFIE_RETENTION_DAYS = 30
    request = _closed_request(consent=False)
    files = _files(request)
    archive_answer = Answer.objects.create(
        request=request,
        kind=Answer.Kind.ERASURE_CERTIFICATE,
        payload={"images": 1},
        download_expires_at=CLOSED + timedelta(days=10),
    )
    archive_answer.archive.save("certificate.zip", ContentFile(b"PK zip"), save=True)
    archive_path = Path(archive_answer.archive.path)
    purge_time = CLOSED + timedelta(days=30, seconds=1)

    with time_machine.travel(purge_time, tick=False):
        result = requests_purge_due()

    assert (result.requests, result.answer_archives) == (1, 0)
    assert not any(path.exists() for path in files)
    assert not archive_path.exists()
    for selfie in Selfie.objects.filter(request=request):
        assert (selfie.file.name, selfie.embedding, selfie.face_bbox) == ("", None, None)
        assert selfie.purged_at == purge_time
        assert selfie.sha256  # the hash of what was submitted stays as the record
    assert not SuppressedFace.objects.filter(reference=f"request:{request.id}").exists()

    request.refresh_from_db()
    assert request.purged_at == purge_time and request.status == RequestStatus.ANSWERED
    assert request.email == "person@example.org"  # the request's record stays
    assert Match.objects.filter(request=request).count() == 1
    assert ErasureRecord.objects.filter(request=request).count() == 1
    archive_answer.refresh_from_db()
    assert archive_answer.archive.name == "" and archive_answer.payload == {"images": 1}

    record = PurgeRecord.objects.get(request=request)
    assert record.what == {
        "selfie_files": 2,
        "selfie_embeddings": 2,
        "selfie_face_boxes": 2,
        "suppression_templates": 1,
        "answer_archives": 1,
    }
    assert record.purged_at == purge_time
    event = AuditEvent.objects.get(action="verification_data_purged")
    assert event.request_id == request.id and event.detail["purge_record_id"] == record.id


def test_consented_suppression_templates_are_kept(settings):
    settings.SELFIE_RETENTION_DAYS = 30
    request = _closed_request(consent=True)
    with time_machine.travel(CLOSED + timedelta(days=31), tick=False):
        record = request_purge(request_id=request.id)
    assert record is not None and record.what["suppression_templates"] == 0
    assert SuppressedFace.objects.filter(reference=f"request:{request.id}").count() == 1
    assert Selfie.objects.filter(request=request, embedding__isnull=True).count() == 2


def test_open_requests_are_never_purged(settings):
    settings.SELFIE_RETENTION_DAYS = 30
    request = make_request(status=RequestStatus.REVIEW, received_at=CLOSED - timedelta(days=300))
    _selfie(request, 7)
    with time_machine.travel(CLOSED + timedelta(days=400), tick=False):
        assert request_purge(request_id=request.id) is None
        assert requests_purge_due().requests == 0
    assert Selfie.objects.get(request=request).embedding is not None


def test_run_twice_and_row_gone(settings):
    settings.SELFIE_RETENTION_DAYS = 30
    request = _closed_request()
    with time_machine.travel(CLOSED + timedelta(days=31), tick=False):
        assert request_purge(request_id=request.id) is not None
        assert request_purge(request_id=request.id) is None
        assert requests_purge_due().requests == 0
        assert request_purge(request_id=999_999) is None
    assert PurgeRecord.objects.filter(request=request).count() == 1
    assert AuditEvent.objects.filter(action="verification_data_purged").count() == 1


def test_a_purge_that_died_after_deleting_files_is_completed(settings):
    settings.SELFIE_RETENTION_DAYS = 30
    request = _closed_request()
    for path in _files(request):
        path.unlink()  # files gone, rows not yet updated: a crash mid-purge
    with time_machine.travel(CLOSED + timedelta(days=31), tick=False):
        record = request_purge(request_id=request.id)
    assert record is not None
    assert Selfie.objects.filter(request=request, embedding__isnull=True, file="").count() == 2


def test_an_archive_still_downloadable_at_purge_is_deleted_when_its_link_expires(settings):
    settings.SELFIE_RETENTION_DAYS = 30
    request = _closed_request(kind=RequestKind.ACCESS, seed=2)
    answer = Answer.objects.create(
        request=request,
        kind=Answer.Kind.ACCESS_REPORT,
        payload={"images": [{"sha256": "abc"}]},
        download_expires_at=CLOSED + timedelta(days=45),
    )
    answer.archive.save("report.zip", ContentFile(b"PK zip of images"), save=True)
    path = Path(answer.archive.path)

    with time_machine.travel(CLOSED + timedelta(days=31), tick=False):
        first = requests_purge_due()
    assert (first.requests, first.answer_archives) == (1, 0)
    assert path.exists()  # the person may still download their answer

    with time_machine.travel(CLOSED + timedelta(days=46), tick=False):
        later = requests_purge_due()
        assert requests_purge_due().answer_archives == 0  # run twice
    assert (later.requests, later.answer_archives) == (0, 1)
    assert not path.exists()
    answer.refresh_from_db()
    assert answer.archive.name == "" and answer.payload == {"images": [{"sha256": "abc"}]}
    ledger = list(PurgeRecord.objects.filter(request=request).order_by("id").values_list("what", flat=True))
    assert ledger[-1] == {"answer_archives": 1} and len(ledger) == 2


# --- Requests never confirmed: expired, then their selfies deleted at once --------------------

RECEIVED = local(2026, 5, 1, 10)


def _unconfirmed_request(seed: int = 7) -> DataRequest:
    request = make_request(kind=RequestKind.ACCESS, status=RequestStatus.UNCONFIRMED, received_at=RECEIVED)
    for offset in (0, 1):
        selfie = _selfie(request, seed * 10 + offset)
        # The worker never checked them: an unconfirmed request is never searched.
        Selfie.objects.filter(id=selfie.id).update(
            status=Selfie.Status.PENDING, embedding=None, face_bbox=None
        )
    return request


def test_an_unconfirmed_request_expires_and_its_selfies_are_deleted_at_once(settings):
    """Before the fix an UNCONFIRMED request never closed, so requests_purge_due never reached it
    and its selfies were kept forever."""
    settings.UNCONFIRMED_EXPIRY_DAYS = 14
    settings.SELFIE_RETENTION_DAYS = 30
    request = _unconfirmed_request()
    files = _files(request)
    assert len(files) == 2 and all(f.exists() for f in files)
    with time_machine.travel(RECEIVED + timedelta(days=14) - timedelta(minutes=1), tick=False):
        assert requests_expire_unconfirmed() == 0  # not yet
    assert DataRequest.objects.get(id=request.id).status == RequestStatus.UNCONFIRMED
    expired_at = RECEIVED + timedelta(days=14, minutes=1)
    with time_machine.travel(expired_at, tick=False):
        assert requests_expire_unconfirmed() == 1
        assert requests_expire_unconfirmed() == 0  # run twice: once
    request.refresh_from_db()
    assert request.status == RequestStatus.EXPIRED and request.is_closed
    assert request.closed_at == expired_at and request.answered_at is None
    assert request.status in CLOSED_STATUSES and request.status not in OPEN_STATUSES
    # Deleted the same day, not SELFIE_RETENTION_DAYS later: they served no purpose.
    assert request.purged_at == expired_at
    assert not any(f.exists() for f in files)
    assert PurgeRecord.objects.get(request=request).what["selfie_files"] == 2
    event = AuditEvent.objects.get(request=request, action="expired_unconfirmed")
    assert (event.from_status, event.to_status) == (RequestStatus.UNCONFIRMED, RequestStatus.EXPIRED)


def test_expiry_never_comes_before_the_confirmation_link_expires(settings):
    settings.UNCONFIRMED_EXPIRY_DAYS = 1  # misconfigured shorter than a link's life
    settings.CONFIRMATION_MAX_AGE = timedelta(days=7)
    request = _unconfirmed_request()
    with time_machine.travel(RECEIVED + timedelta(days=6), tick=False):
        assert request_expire_unconfirmed(request_id=request.id) is False
    with time_machine.travel(RECEIVED + timedelta(days=7, hours=1), tick=False):
        assert request_expire_unconfirmed(request_id=request.id) is True


def test_expiry_leaves_confirmed_and_gone_requests_alone(settings):
    settings.UNCONFIRMED_EXPIRY_DAYS = 14
    confirmed = make_request(kind=RequestKind.ACCESS, status=RequestStatus.QUEUED, received_at=RECEIVED)
    with time_machine.travel(RECEIVED + timedelta(days=30), tick=False):
        assert request_expire_unconfirmed(request_id=confirmed.id) is False  # taken: confirmed meanwhile
        assert request_expire_unconfirmed(request_id=999_999) is False  # row gone
        assert requests_expire_unconfirmed() == 0
    assert DataRequest.objects.get(id=confirmed.id).status == RequestStatus.QUEUED


def test_an_expired_request_left_unpurged_is_purged_by_the_daily_purge(settings):
    """If the immediate purge failed, the purge job takes an expired request without a grace period."""
    settings.SELFIE_RETENTION_DAYS = 30
    request = _unconfirmed_request()
    closed = RECEIVED + timedelta(days=14)
    DataRequest.objects.filter(id=request.id).update(status=RequestStatus.EXPIRED, closed_at=closed)
    with time_machine.travel(closed + timedelta(hours=1), tick=False):
        assert requests_purge_due().requests == 1
    assert DataRequest.objects.get(id=request.id).purged_at is not None


def test_the_status_page_says_the_request_expired_and_that_one_can_ask_again(client, settings):
    settings.UNCONFIRMED_EXPIRY_DAYS = 14
    request = _unconfirmed_request()
    with time_machine.travel(RECEIVED + timedelta(days=15), tick=False):
        requests_expire_unconfirmed()
        response = client.get(reverse("public:status", kwargs={"token": request.public_token}))
    page = response.content.decode()
    assert response.status_code == 200
    assert "This request expired" in page
    assert "email address was never confirmed" in page
    assert "You can simply ask again" in page
    assert reverse("public:request_new") in page
    assert "Where is my answer?" not in page  # a closed request cannot be followed up
