"""GET /api/v1/requests/<reference>/answer/: an access report's Art. 15(1) items as data, and in words
in the language the call asks for (``general_text``); an old answer's stored sentences as they were."""

from __future__ import annotations

import pytest
from django.utils import timezone, translation
from django.utils.translation import gettext

from rights.lifecycle.language import language_of
from rights.models import Answer, RequestStatus
from rights.pipeline.access_items import REPORT_VERSION, general_items_data
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
