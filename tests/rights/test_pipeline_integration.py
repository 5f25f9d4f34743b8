"""The request pipeline end to end, with a real Celery worker process on the broker the settings
give (Redis, or the embedded filesystem broker), the real database, the real face models, and a
small collection of real faces from ../shared/faces/lfw-dev.

A person asks through the real public form with a photo held back from the collection, confirms
from the link in the email FILE, the worker searches, staff approve through the service, the
worker answers. Waits poll the database with a deadline; nothing is timed.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from matching.models import Face, Image
from matching.services.embedding import faces_detect
from matching.services.imaging import image_decode
from matching.services.index import index_ids, index_load
from rights.models import DataRequest, ErasureRecord, Match, RequestKind, RequestStatus
from rights.pipeline.access_items import general_items_read
from rights.staff.review import matches_decide, request_approve
from tests.rights.pipeline_helpers import PEOPLE, collection_ingest, region, zip_open

pytestmark = [pytest.mark.worker, pytest.mark.models]
WHO = PEOPLE[0]  # seven photos in the collection, some with other people in them; one six years old
EMAIL = "condi@example.org"


@pytest.fixture
def collection(transactional_db, lfw_identities, settings):
    # The web side writes its emails to files, like the worker: the test reads the link from the file.
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    return collection_ingest(lfw_identities=lfw_identities)


@pytest.fixture
def staff() -> User:
    # The review services check these permissions themselves.
    from django.contrib.auth.models import Permission

    user = User.objects.create_user("olivia", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["review_match", "approve_request"]))
    return User.objects.get(pk=user.pk)


def _mails(settings, to: str) -> list[str]:
    texts = [p.read_text() for p in sorted(Path(settings.EMAIL_FILE_PATH).glob("*.log"))]
    return [t for t in texts if re.search(rf"^To: {re.escape(to)}$", t, re.MULTILINE)]


def _link(text: str, route: str) -> str:
    """The path of the first absolute link to ``route`` in an email's text."""
    found = re.search(rf"https?://\S+/{route}/\S+", text)
    assert found, f"no {route} link in:\n{text}"
    return urlsplit(found.group(0)).path


def _ask_through_the_form(client, *, kind: str, selfie: Path) -> DataRequest:
    page = client.get(reverse("public:request_new"))
    key = re.search(r'name="form_key" value="([^"]+)"', page.content.decode()).group(1)
    response = client.post(
        reverse("public:request_new"),
        {
            "kind": kind,
            "email": EMAIL,
            "selfies": SimpleUploadedFile("me.jpg", selfie.read_bytes(), content_type="image/jpeg"),
            "identifiers": "",
            "country": "FR",
            "form_key": key,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return DataRequest.objects.filter(email=EMAIL, kind=kind).latest("id")


def _confirm_from_the_email_file(client, settings, request: DataRequest) -> None:
    mails = [m for m in _mails(settings, EMAIL) if request.public_token in m]
    assert len(mails) == 1
    response = client.get(_link(mails[0], "confirm"))
    assert response.status_code == 302
    assert response["Location"] == reverse("public:status", kwargs={"token": request.public_token})


def _status(request: DataRequest) -> str:
    return DataRequest.objects.values_list("status", flat=True).get(pk=request.pk)


def _decide_as_staff(request: DataRequest, collection, staff: User) -> None:
    """Staff look at every candidate the policy sent them and decide it (here: by the ground truth)."""
    pending = request.matches.filter(decision=Match.Decision.PENDING).exclude(band=Match.Band.MATCH)
    theirs = [m.id for m in pending if collection.identity_of.get(m.image_id) == WHO]
    others = [m.id for m in pending if collection.identity_of.get(m.image_id) != WHO]
    if theirs:
        matches_decide(match_ids=theirs, decision="confirmed", user=staff)
    if others:
        matches_decide(match_ids=others, decision="rejected", user=staff)


def _sharpness(pixels) -> float:
    import numpy as np

    return float(np.abs(np.diff(pixels, axis=0)).mean() + np.abs(np.diff(pixels, axis=1)).mean())


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union


def _file_hashes(image_ids) -> dict[int, str]:
    return {
        image.pk: hashlib.sha256(Path(default_storage.path(image.file.name)).read_bytes()).hexdigest()
        for image in Image.objects.filter(pk__in=image_ids)
    }


def test_access_through_the_form_answers_every_image_with_other_faces_blurred(
    collection, celery_worker_process, client, settings, staff
):
    worker = celery_worker_process
    request = _ask_through_the_form(client, kind=RequestKind.ACCESS, selfie=collection.selfies[WHO])
    assert request.status == RequestStatus.UNCONFIRMED
    _confirm_from_the_email_file(client, settings, request)

    worker.wait_for(lambda: _status(request) == RequestStatus.REVIEW, what="the search to reach review")
    request.refresh_from_db()
    assert request.searched_collection_size == Image.objects.count()
    _decide_as_staff(request, collection, staff)
    request_approve(request_id=request.id, user=staff)
    worker.wait_for(lambda: _status(request) == RequestStatus.ANSWERED, what="the access answer")

    request.refresh_from_db()
    answer = request.answers.get()
    archive = zip_open(answer.archive.read())
    report = json.loads(archive.read("report.json"))
    html = archive.read("report.html").decode()
    theirs = Image.objects.filter(pk__in=collection.images[WHO])
    by_hash = {item["image_sha256"]: item for item in report["images"]}
    # Every one of their images, and nobody else's.
    assert set(by_hash) == set(theirs.values_list("sha256", flat=True))
    other_faces_checked = 0
    for image in theirs:
        item = by_hash[image.sha256]
        own = request.matches.get(image_sha256=image.sha256)
        copy = image_decode(data=archive.read(item["file"])).rgb
        original = image_decode(data=image.file.read()).rgb
        for face in Face.objects.filter(image=image).exclude(pk=own.face_id):
            # Another person's face: its detail is gone ...
            assert _sharpness(region(copy, face.bbox)) < 0.25 * _sharpness(region(original, face.bbox))
            other_faces_checked += 1
        # ... and the detector finds no face in the copy but theirs.
        assert all(_iou(f.bbox, own.face_bbox) > 0.3 for f in faces_detect(rgb=copy)), image.pk
        assert item["file"] in html
    assert other_faces_checked >= 2

    # (c) The image collected six years ago is found and reported like yesterday's.
    old, new = Image.objects.get(pk=collection.old_image_id), Image.objects.get(pk=collection.new_image_id)
    assert (timezone.now() - old.collected_at).days >= 6 * 365
    for image in (old, new):
        item = by_hash[image.sha256]
        assert (
            item["collected_at"] == image.collected_at.isoformat() and item["source_url"] == image.source_url
        )
    assert report["searched_collection"]["from"] == old.collected_at.isoformat()
    assert "whole collection" in general_items_read(payload=report)["search_coverage"]

    # The person is told, by an email with the status link and the download link, which works.
    (ready,) = [m for m in _mails(settings, EMAIL) if "/answer/" in m]
    assert request.public_token in ready
    download = client.get(_link(ready, "answer").rstrip("/") + "/download/")
    assert download.status_code == 200
    body = b"".join(download.streaming_content) if download.streaming else download.content
    assert zip_open(io.BytesIO(body).getvalue()).namelist() == archive.namelist()


def test_erasure_through_the_form_leaves_nothing_of_them_and_everyone_else_untouched(
    collection, celery_worker_process, client, settings, staff, capsys
):
    worker = celery_worker_process
    theirs_ids = collection.images[WHO]
    theirs_hashes = set(Image.objects.filter(pk__in=theirs_ids).values_list("sha256", flat=True))
    theirs_files = [
        Path(default_storage.path(n))
        for n in Image.objects.filter(pk__in=theirs_ids).values_list("file", flat=True)
    ]
    theirs_faces = list(Face.objects.filter(image_id__in=theirs_ids).values_list("pk", flat=True))
    others_before = _file_hashes(Image.objects.exclude(pk__in=theirs_ids).values_list("pk", flat=True))

    request = _ask_through_the_form(client, kind=RequestKind.ERASURE, selfie=collection.selfies[WHO])
    _confirm_from_the_email_file(client, settings, request)
    worker.wait_for(
        lambda: _status(request) in (RequestStatus.REVIEW, RequestStatus.ANSWERED, RequestStatus.HELD),
        what="the erasure to be searched (and carried out when only sure matches were found)",
    )
    if _status(request) == RequestStatus.REVIEW:
        _decide_as_staff(request, collection, staff)
        request_approve(request_id=request.id, user=staff)
    worker.wait_for(
        lambda: _status(request) in (RequestStatus.ANSWERED, RequestStatus.HELD), what="the erasure"
    )
    request.refresh_from_db()
    assert request.status == RequestStatus.ANSWERED, request.hold_reason

    # Their files, faces and index entries are gone.
    assert not Image.objects.filter(pk__in=theirs_ids).exists()
    assert not Face.objects.filter(pk__in=theirs_faces).exists()
    assert not any(path.exists() for path in theirs_files)
    # Read the index the worker wrote before facesearch runs: its sync would remove leftovers
    # and hide an erasure that missed the index.
    _, index = index_load()
    assert not set(theirs_faces) & set(index_ids(index=index).tolist())
    call_command("facesearch", str(collection.selfies[WHO]), "--json")
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["faces_in_query"] >= 1 and result["matches"] == []
    # Everyone else's images are untouched: the same count and the same bytes.
    assert _file_hashes(Image.objects.values_list("pk", flat=True)) == others_before
    # The certificate lists what was deleted.
    certificate = request.answers.get()
    assert certificate.payload["erased_count"] == len(theirs_hashes)
    assert {row["image_sha256"] for row in certificate.payload["erased"]} == theirs_hashes
    assert certificate.payload["verification"]["images_found_after"] == 0
    assert (
        set(ErasureRecord.objects.filter(request=request).values_list("image_sha256", flat=True))
        == theirs_hashes
    )
    html = certificate.archive.read().decode()
    assert all(sha in html for sha in theirs_hashes)
    assert [m for m in _mails(settings, EMAIL) if "/answer/" in m and request.public_token in m]
