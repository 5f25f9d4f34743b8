"""GET /api/v1/requests/<reference>/answer/: an access report's Art. 15(1) items and each image's items
as data, and in words in the language the call asks for (``general_text``, ``images_text``); an old
answer's stored sentences as they were."""

from __future__ import annotations

import pytest
from django.utils import formats, timezone, translation
from django.utils.translation import gettext

from rights.lifecycle.language import language_of
from rights.models import Answer, Match, RequestStatus
from rights.pipeline.access_image_items import IMAGE_SHOWN, image_items_data
from rights.pipeline.access_items import REPORT_VERSION, general_items_data
from tests.rights.jobs_helpers import make_image
from tests.rights.staff_helpers import make_request

CATEGORIES = (
    "Photographs showing your face; the face template (a list of numbers computed from "
    "each face, used to compare faces); for each photograph, the address of the page it was "
    "collected from, the platform and account name that published it, and the date we "
    "collected it."
)


@pytest.fixture(autouse=True)
def _default_language_after_each_test():
    yield
    translation.deactivate()


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["en", "ja"])
def test_the_items_come_as_data_and_in_the_callers_language(owner, code):
    request = make_request(status=RequestStatus.ANSWERED, language="fr", searched_at=timezone.now())
    payload = {"version": REPORT_VERSION, "language": "fr", "general": general_items_data(request=request)}
    Answer.objects.create(request=request, kind=Answer.Kind.ACCESS_REPORT, payload=payload)

    body = owner.client.get(f"/api/v1/requests/{request.reference}/answer/", HTTP_ACCEPT_LANGUAGE=code).json()

    assert body["payload"]["general"]["categories"] == {"held": payload["general"]["categories"]["held"]}
    with language_of(language=code):
        assert body["general_text"]["categories"] == gettext(CATEGORIES)
    assert set(body["general_text"]) == set(payload["general"])


@pytest.mark.django_db
def test_an_old_answer_gives_its_stored_sentences_and_another_kind_none(owner):
    request = make_request(status=RequestStatus.ANSWERED)
    old = {"rights": "Vous pouvez demander la rectification."}
    Answer.objects.create(
        request=request, kind=Answer.Kind.ACCESS_REPORT, payload={"version": 1, "general": old}
    )
    body = owner.client.get(f"/api/v1/requests/{request.reference}/answer/", HTTP_ACCEPT_LANGUAGE="ja").json()
    assert body["general_text"] == old

    other = make_request(status=RequestStatus.ANSWERED)
    Answer.objects.create(request=other, kind=Answer.Kind.ERASURE_CERTIFICATE, payload={"erased_count": 0})
    body = owner.client.get(f"/api/v1/requests/{other.reference}/answer/").json()
    assert body["general_text"] == {}


FACES = "Found by comparing faces (similarity %(score)s)."
NOT_RECORDED = "Not recorded: we did not keep this when the image was collected."


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["en", "ja"])
def test_each_images_items_come_as_data_and_in_the_callers_language(owner, code):
    request = make_request(status=RequestStatus.ANSWERED, language="fr", searched_at=timezone.now())
    image = make_image("api", source_url="https://social.example/p/1", account="ana_photos")
    match = Match(
        image_sha256=image.sha256, band=Match.Band.MATCH, decision=Match.Decision.PENDING, score=0.7134
    )
    with language_of(language="fr"):  # as the answer is built, in the requester's language
        item = image_items_data(
            image=image, match=match, file="images/001.jpg", your_face=None, other_faces_blurred=0
        )
    payload = {"version": REPORT_VERSION, "language": "fr", "image_count": 1, "images": [item]}
    Answer.objects.create(request=request, kind=Answer.Kind.ACCESS_REPORT, payload=payload)

    body = owner.client.get(f"/api/v1/requests/{request.reference}/answer/", HTTP_ACCEPT_LANGUAGE=code).json()

    assert body["payload"]["images"][0]["how_found"] == {
        "band": "match",
        "score": 0.7134,
        "decision": "pending",
    }
    (shown,) = body["images_text"]
    assert list(shown) == list(IMAGE_SHOWN)
    with language_of(language=code):
        assert shown["how_found"] == gettext(FACES) % {"score": formats.number_format(0.7134, 2)}
        assert shown["platform"] == gettext(NOT_RECORDED)
    assert shown["source_url"] == "https://social.example/p/1" and shown["image_sha256"] == image.sha256


@pytest.mark.django_db
def test_an_old_answers_images_give_their_stored_sentences(owner):
    request = make_request(status=RequestStatus.ANSWERED)
    old = {name: f"stored {name}" for name in IMAGE_SHOWN}
    Answer.objects.create(
        request=request, kind=Answer.Kind.ACCESS_REPORT, payload={"version": 2, "images": [dict(old)]}
    )
    body = owner.client.get(f"/api/v1/requests/{request.reference}/answer/", HTTP_ACCEPT_LANGUAGE="ja").json()
    assert body["images_text"] == [old]
