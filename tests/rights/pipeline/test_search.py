"""rights.pipeline.search: selfie checks, the whole-collection search, the recorded matches, the policy.

Real models, real faces: a small collection ingested through matching's ingestion service.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.utils import timezone
from PIL import Image as PILImage

from matching.models import Face, Image
from matching.services.embedding import DetectedFace
from rights import queries
from rights.models import AuditEvent, Match, RequestKind, RequestStatus, Selfie
from rights.pipeline import search
from rights.pipeline.search import request_search_run, selfie_check, selfie_face_pick
from tests.conftest import GROUP_PHOTO
from tests.rights.pipeline_helpers import PEOPLE, collection_ingest, request_make, selfie_bytes

pytestmark = pytest.mark.models


@pytest.fixture
def collection(db, lfw_identities):
    return collection_ingest(lfw_identities=lfw_identities)


def _face(box: tuple[float, float, float, float], score: float = 0.9) -> DetectedFace:
    return DetectedFace(
        bbox=box, kps=np.zeros((5, 2), np.float32), det_score=score, embedding=np.zeros(512, np.float32)
    )


def _png(rgb: np.ndarray) -> bytes:
    out = io.BytesIO()
    PILImage.fromarray(rgb).save(out, format="PNG")
    return out.getvalue()


# --- Which face of a selfie is used (pure rule, no models) --------------------------------


def test_selfie_rule_no_face():
    verdict = selfie_face_pick(faces=[])
    assert verdict.face is None and verdict.problem.startswith("We found no face")


def test_selfie_rule_unclear_face(settings):
    verdict = selfie_face_pick(faces=[_face((0, 0, 100, 100), score=settings.SELFIE_MIN_DET_SCORE - 0.05)])
    assert verdict.face is None and "not clearly enough" in verdict.problem


def test_selfie_rule_several_faces():
    faces = [_face((0, 0, 100, 100)), _face((120, 0, 220, 100)), _face((0, 120, 90, 210))]
    verdict = selfie_face_pick(faces=faces)
    assert verdict.face is None and verdict.problem.startswith("We found 3 faces")


def test_selfie_rule_too_small(settings):
    verdict = selfie_face_pick(faces=[_face((0, 0, 40, 45))])
    assert verdict.face is None
    assert verdict.problem.startswith("The face is too small") and "40 pixels" in verdict.problem
    assert str(settings.SELFIE_MIN_FACE_PX) in verdict.problem


def test_selfie_rule_one_usable_face_beside_a_tiny_passer_by():
    main, tiny = _face((10, 10, 150, 160)), _face((200, 5, 230, 35))
    assert selfie_face_pick(faces=[main, tiny]).face is main


# --- Selfie checks with the real detector ---------------------------------------------------


def _selfie(db_request, data: bytes) -> Selfie:
    from django.core.files.base import ContentFile

    selfie = Selfie(request=db_request, sha256="0" * 64)
    selfie.file.save("s.jpg", ContentFile(data), save=False)
    selfie.save()
    return selfie


@pytest.mark.django_db
def test_selfie_of_one_person_is_usable_with_box_and_embedding(lfw_identities):
    request = request_make(selfies=[selfie_bytes(lfw_identities["Clay_Aiken"][-1])])
    selfie = selfie_check(selfie=request.selfies.get())
    assert selfie.status == Selfie.Status.USABLE and selfie.problem == ""
    assert len(selfie.face_bbox) == 4
    assert selfie.vector.shape == (512,) and abs(float(np.linalg.norm(selfie.vector)) - 1) < 1e-3


@pytest.mark.django_db
def test_group_photo_is_rejected_saying_how_many_faces():
    request = request_make(selfies=[selfie_bytes(GROUP_PHOTO)])
    selfie = selfie_check(selfie=request.selfies.get())
    assert selfie.status == Selfie.Status.REJECTED
    assert selfie.problem.startswith("We found ") and "faces in this photo" in selfie.problem
    assert selfie.embedding is None


@pytest.mark.django_db
def test_photo_without_face_is_rejected():
    sky = np.zeros((300, 300, 3), np.uint8)
    sky[:, :] = (120, 170, 230)
    request = request_make(selfies=[_png(sky)])
    selfie = selfie_check(selfie=request.selfies.get())
    assert selfie.status == Selfie.Status.REJECTED and selfie.problem.startswith("We found no face")


@pytest.mark.django_db
def test_face_far_away_is_too_small(lfw_identities):
    face = PILImage.open(lfw_identities["Clay_Aiken"][-1]).convert("RGB").resize((90, 90))
    canvas = PILImage.new("RGB", (640, 640), (200, 200, 200))
    canvas.paste(face, (275, 275))
    request = request_make(selfies=[_png(np.asarray(canvas))])
    selfie = selfie_check(selfie=request.selfies.get())
    assert selfie.status == Selfie.Status.REJECTED
    assert selfie.problem.startswith("The face is too small"), selfie.problem


@pytest.mark.django_db
def test_damaged_selfie_file_is_rejected_not_crashing():
    request = request_make(selfies=[b"\xff\xd8\xff\xe0 not really a jpeg"])
    selfie = selfie_check(selfie=request.selfies.get())
    assert selfie.status == Selfie.Status.REJECTED and selfie.problem.startswith(
        "We could not read this photo"
    )


# --- The search -----------------------------------------------------------------------------


def test_access_search_finds_every_image_of_the_person_and_waits_for_approval(collection, settings):
    settings.ACCESS_REQUIRES_APPROVAL = True
    who = PEOPLE[0]
    request = request_make(selfies=[selfie_bytes(collection.selfies[who])])

    assert request_search_run(request_id=request.id) == RequestStatus.REVIEW

    request.refresh_from_db()
    assert request.status == RequestStatus.REVIEW
    found = {m.image_id: m for m in request.matches.all()}
    assert set(collection.images[who]) <= set(found)
    for image_id in collection.images[who]:
        match = found[image_id]
        assert match.band == Match.Band.MATCH and match.score >= settings.MATCH_THRESHOLD
        assert match.face_id is not None and len(match.face_bbox) == 4
        assert match.image_sha256 == Image.objects.get(pk=image_id).sha256
    # Nobody else in the `match` band.
    assert all(
        collection.identity_of[m.image_id] == who for m in found.values() if m.band == Match.Band.MATCH
    )
    # The whole collection, whatever the collection date: the six-year-old image is in the span.
    old = Image.objects.get(pk=collection.old_image_id)
    assert collection.old_image_id in found
    assert request.searched_collection_from == old.collected_at
    assert request.searched_collection_to == Image.objects.order_by("-collected_at").first().collected_at
    assert request.searched_collection_size == Image.objects.count()
    assert request.searched_at is not None
    # What the search covered, from the index it searched (before the fix: not recorded at all).
    assert request.searched_index_faces == request.searched_collection_faces == Face.objects.count()
    assert queries.search_whole_collection(request=request)
    event = AuditEvent.objects.filter(request_id=request.id, action="search_done").get()
    assert "staff approval" in event.reason


def test_erasure_with_only_match_band_goes_ahead_at_once(collection, django_capture_on_commit_callbacks):
    who = "Al_Sharpton"
    request = request_make(kind=RequestKind.ERASURE, selfies=[selfie_bytes(collection.selfies[who])])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert request_search_run(request_id=request.id) == RequestStatus.APPROVED
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    assert request.matches.count() == len(collection.images[who])
    assert len(callbacks) == 1  # request_fulfil enqueued after commit


def test_access_without_approval_setting_goes_ahead(collection, settings, django_capture_on_commit_callbacks):
    settings.ACCESS_REQUIRES_APPROVAL = False
    request = request_make(selfies=[selfie_bytes(collection.selfies["Clay_Aiken"])])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert request_search_run(request_id=request.id) == RequestStatus.APPROVED
    assert len(callbacks) == 1


def test_review_band_candidates_always_wait_for_staff_even_for_erasure(collection, settings):
    who = "Anna_Kournikova"  # three of her photos score in the review band against the held-back one
    request = request_make(kind=RequestKind.ERASURE, selfies=[selfie_bytes(collection.selfies[who])])
    assert request_search_run(request_id=request.id) == RequestStatus.REVIEW
    review = request.matches.filter(band=Match.Band.REVIEW)
    assert review.exists()
    assert all(settings.REVIEW_THRESHOLD <= m.score < settings.MATCH_THRESHOLD for m in review)
    assert all(m.decision == Match.Decision.PENDING for m in request.matches.all())


def test_identifiers_find_images_by_account_and_url_and_need_review(collection):
    # A selfie of one person, identifiers naming another person's account and one image URL.
    other = "Hans_Blix"
    image = Image.objects.get(pk=collection.images["Fujio_Cho"][0])
    request = request_make(
        kind=RequestKind.ERASURE,
        selfies=[selfie_bytes(collection.selfies["Clay_Aiken"])],
        identifiers=f"@{other.upper()}\n{image.source_url.replace('https://', 'http://')}/",
    )
    assert request_search_run(request_id=request.id) == RequestStatus.REVIEW
    by_identifier = set(request.matches.filter(band=Match.Band.IDENTIFIER).values_list("image_id", flat=True))
    assert by_identifier == {*collection.images[other], image.pk}
    assert all(m.score is None and m.face_id is None for m in request.matches.filter(band="identifier"))


def test_image_found_by_face_and_identifier_keeps_the_face_band(collection):
    who = "Clay_Aiken"
    request = request_make(
        kind=RequestKind.ERASURE, selfies=[selfie_bytes(collection.selfies[who])], identifiers=who.lower()
    )
    assert request_search_run(request_id=request.id) == RequestStatus.APPROVED
    assert request.matches.count() == len(collection.images[who])  # one row per image
    assert set(request.matches.values_list("band", flat=True)) == {Match.Band.MATCH}


def test_nobody_in_the_collection_erasure_goes_ahead_with_no_match(collection, lfw_identities):
    request = request_make(kind=RequestKind.ERASURE, selfies=[selfie_bytes(lfw_identities["JK_Rowling"][-1])])
    assert request_search_run(request_id=request.id) == RequestStatus.APPROVED
    assert request.matches.count() == 0


def test_no_usable_selfie_asks_for_another_keeping_the_due_date(collection, mailoutbox):
    request = request_make(selfies=[selfie_bytes(GROUP_PHOTO)])
    due = request.due_at
    assert request_search_run(request_id=request.id) == RequestStatus.NEEDS_SELFIE
    request.refresh_from_db()
    assert request.status == RequestStatus.NEEDS_SELFIE
    assert request.selfie_problem.startswith("We found ") and "faces" in request.selfie_problem
    assert request.due_at == due
    assert request.matches.count() == 0 and request.searched_at is None
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [request.email]
    assert "another photo" in mailoutbox[0].subject and request.selfie_problem in mailoutbox[0].body


def test_one_bad_and_one_good_selfie_searches_with_the_good_one(collection):
    who = "Frank_Solich"
    request = request_make(
        kind=RequestKind.ERASURE, selfies=[selfie_bytes(GROUP_PHOTO), selfie_bytes(collection.selfies[who])]
    )
    status = request_search_run(request_id=request.id)
    assert sorted(request.selfies.values_list("status", flat=True)) == ["rejected", "usable"]
    their_hashes = set(Image.objects.filter(pk__in=collection.images[who]).values_list("sha256", flat=True))
    found = dict(request.matches.values_list("image_sha256", "band"))
    assert {sha for sha, band in found.items() if band == "match"} == their_hashes
    # Strangers scoring in the review band wait for staff; without any, the erasure goes ahead.
    waiting = [sha for sha, band in found.items() if band != "match"]
    assert status == (RequestStatus.REVIEW if waiting else RequestStatus.APPROVED)


def test_new_selfie_after_needs_selfie_keeps_staff_decisions(collection):
    who = "Anna_Kournikova"
    request = request_make(kind=RequestKind.ERASURE, selfies=[selfie_bytes(collection.selfies[who])])
    request_search_run(request_id=request.id)
    decided = request.matches.filter(band=Match.Band.REVIEW).first()
    Match.objects.filter(pk=decided.pk).update(decision=Match.Decision.REJECTED)
    # Searched again (e.g. a new photo was added): one row per image still, the decision kept.
    request.__class__.objects.filter(pk=request.pk).update(status=RequestStatus.QUEUED)
    request_search_run(request_id=request.id)
    assert request.matches.filter(image_sha256=decided.image_sha256).get().decision == Match.Decision.REJECTED
    assert request.matches.count() == len(set(request.matches.values_list("image_sha256", flat=True)))


def test_not_queued_request_is_left_alone(collection):
    request = request_make(
        status=RequestStatus.REVIEW, selfies=[selfie_bytes(collection.selfies["Edward_Lu"])]
    )
    assert request_search_run(request_id=request.id) is None
    assert request.selfies.get().status == Selfie.Status.PENDING
    assert request.matches.count() == 0


def test_search_covers_images_older_than_any_window(collection):
    """CNIL SAN-2022-019: no 12-month window. A 6-year-old image is found like yesterday's."""
    who = PEOPLE[0]
    old = Image.objects.get(pk=collection.old_image_id)
    assert (timezone.now() - old.collected_at).days >= 6 * 365
    request = request_make(kind=RequestKind.ERASURE, selfies=[selfie_bytes(collection.selfies[who])])
    request_search_run(request_id=request.id)
    old_match = request.matches.get(image_id=collection.old_image_id)
    new_match = request.matches.get(image_id=collection.new_image_id)
    assert old_match.band == new_match.band == Match.Band.MATCH


def test_collection_span_is_the_whole_collection(collection):
    span = queries.collection_span()
    assert span["size"] == Image.objects.count() == sum(len(v) for v in collection.images.values())


def test_a_face_match_records_which_selfie_matched(collection):
    """Two selfies, the first unusable: each face match names the usable selfie that found it."""
    who = "Clay_Aiken"
    request = request_make(
        selfies=[selfie_bytes(GROUP_PHOTO), selfie_bytes(collection.selfies[who])],
        identifiers=collection.account("Al_Sharpton"),
    )
    request_search_run(request_id=request.id)
    rejected, usable = request.selfies.order_by("id")
    assert rejected.status == Selfie.Status.REJECTED and usable.status == Selfie.Status.USABLE
    theirs = request.matches.filter(image_id__in=collection.images[who])
    assert theirs.count() == len(collection.images[who])
    assert set(theirs.values_list("selfie_id", flat=True)) == {usable.id}
    by_identifier = request.matches.filter(band=Match.Band.IDENTIFIER)
    assert by_identifier.exists() and set(by_identifier.values_list("selfie_id", flat=True)) == {None}


def test_the_search_records_face_groups_the_persons_images_share(collection):
    """faces_group over the candidates: the person's own images fall in at most 2 groups, no other
    candidate shares one of theirs, and an identifier-only find has no group."""
    who = "Charles_Moose"  # their search also brings strangers in the review band (two, when measured)
    request = request_make(
        selfies=[selfie_bytes(collection.selfies[who])], identifiers=collection.account("Al_Sharpton")
    )
    request_search_run(request_id=request.id)
    theirs = request.matches.filter(image_id__in=collection.images[who])
    assert theirs.count() == len(collection.images[who]) >= 2
    groups = set(theirs.values_list("group", flat=True))
    assert None not in groups and 1 <= len(groups) <= 2
    others = request.matches.exclude(image_id__in=collection.images[who])
    assert not others.filter(group__in=groups).exists()
    by_identifier = request.matches.filter(band=Match.Band.IDENTIFIER)
    assert by_identifier.exists() and set(by_identifier.values_list("group", flat=True)) == {None}
    assert not request.matches.filter(face_id__isnull=False, group__isnull=True).exists()


def test_a_search_whose_index_lacked_faces_is_recorded_as_not_whole(collection, monkeypatch):
    from matching.services.index import IndexSyncResult

    faces = Face.objects.count()
    # As if the index searched held one face fewer than the collection (a failed sync).
    monkeypatch.setattr(
        search,
        "index_coverage",
        lambda: IndexSyncResult(added=0, removed=0, total=faces - 1, version=1, database=faces),
    )
    request = request_make(selfies=[selfie_bytes(collection.selfies["Clay_Aiken"])])
    request_search_run(request_id=request.id)
    request.refresh_from_db()
    assert (request.searched_index_faces, request.searched_collection_faces) == (faces - 1, faces)
    assert not queries.search_whole_collection(request=request)


def test_the_selfies_are_fused_and_the_bands_used_are_recorded(collection, settings):
    """Two selfies search as one fused query; the search record states the bands used and why."""
    settings.THRESHOLDS_FOR_FACES = 1_000_000  # a small collection planned as a large one
    who = PEOPLE[0]
    request = request_make(selfies=[selfie_bytes(collection.selfies[who])] * 2)
    request_search_run(request_id=request.id)
    request.refresh_from_db()
    event = AuditEvent.objects.filter(request_id=request.id, action="search_done").get()
    bands = event.detail["thresholds"]
    assert bands["selfies"] == 2 and bands["faces_planned_for"] == 1_000_000
    assert (
        bands["review"] < bands["match"]
        and bands["match_expected_strangers"] <= settings.MATCH_EXPECTED_STRANGERS
    )
    assert "1,000,000 faces" in bands["why"]
    # The access report and the certificate read the same record.
    assert queries.search_coverage(request=request)["thresholds"] == bands
    found = {m.image_id: m for m in request.matches.all()}
    assert set(collection.images[who]) <= set(found)  # every photo of the person, in one band or the other
    for match in found.values():
        assert (match.band == Match.Band.MATCH) == (match.score >= bands["match"])
        assert match.score >= bands["review"]
