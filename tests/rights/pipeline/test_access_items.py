"""rights.pipeline.access_items: the Art. 15(1) items stored as data, written in the reader's language.

Before issue 12 the answer stored each item as a sentence already in the requester's language, so a
reader in another language got the requester's sentences, and the completeness check compared
those sentences with the HTML. No faces are needed: the person has no image in the collection, so
the answer is built, checked and stored without the face models.
"""

from __future__ import annotations

import html
import io
import json
import zipfile
from datetime import datetime
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext

from rights.lifecycle.audit import SYSTEM, audit_record
from rights.lifecycle.language import language_of
from rights.models import AuditAction, Recipient, RequestStatus
from rights.pipeline.access import BuiltReport, access_answer_run, access_report_build, access_report_check
from rights.pipeline.access_items import (
    GENERAL_KEYS,
    REPORT_VERSION,
    general_item_text,
    general_items_data,
    general_items_read,
)
from tests.rights.pipeline_helpers import request_make, zip_open

pytestmark = pytest.mark.django_db

THRESHOLDS = {
    "match": 0.61,
    "review": 0.42,
    "match_expected_strangers": 0.004,
    "review_expected_strangers": 12.5,
    "faces_planned_for": 1234567,
}
FIRST = datetime(2019, 3, 5, 10, 0, tzinfo=timezone.get_default_timezone())
LAST = datetime(2026, 11, 20, 16, 30, tzinfo=timezone.get_default_timezone())
CATEGORIES = (
    "Photographs showing your face; the face template (a list of numbers computed from "
    "each face, used to compare faces); for each photograph, the address of the page it was "
    "collected from, the platform and account name that published it, and the date we "
    "collected it."
)
WHOLE = (
    "We searched the whole collection, whatever the date an image was collected: "
    "all %(size)s images, collected between %(first)s and %(last)s. "
    "No image was left out because of its age or its source."
)
RECIPIENTS = (
    "Organisations we have handed copies of images to: %(names)s. With each of your "
    "images we say whether it was handed to any of them."
)


@pytest.fixture(autouse=True)
def _default_language_after_each_test():
    yield
    translation.deactivate()


def said(code: str, msgid: str, **values: Any) -> str:
    """``msgid`` as the catalogue of ``code`` writes it, with its placeholders filled."""
    with language_of(language=code):
        return gettext(msgid) % values if values else gettext(msgid)


def day(code: str, moment: datetime) -> str:
    with language_of(language=code):
        if code == "en":
            return timezone.localtime(moment).strftime("%d %B %Y")
        return date_format(timezone.localtime(moment), "DATE_FORMAT")


def searched_request(*, language: str = "fr", **fields: Any):
    """A FULFILLING access request whose search covered the whole collection and found nothing."""
    request = request_make(
        status=RequestStatus.FULFILLING,
        language=language,
        searched_at=timezone.now(),
        searched_collection_from=FIRST,
        searched_collection_to=LAST,
        searched_collection_size=3210,
        searched_index_faces=4321,
        searched_collection_faces=4321,
        **fields,
    )
    audit_record(
        actor=SYSTEM, action=AuditAction.SEARCH_DONE, request_id=request.id, detail={"thresholds": THRESHOLDS}
    )
    return request


def strings_in(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings_in(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings_in(item)]
    return [value] if isinstance(value, str) else []


def rebuilt(built: BuiltReport, payload: dict[str, Any], html_text: str | None = None) -> BuiltReport:
    """The same answer with another payload (and HTML), its ZIP written again to say the same."""
    text = built.html if html_text is None else html_text
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("report.json", json.dumps(payload, ensure_ascii=False))
        archive.writestr("report.html", text)
    return BuiltReport(payload=payload, archive=buffer.getvalue(), html=text, expected_hashes=[])


# --- What the answer stores ----------------------------------------------------------------------


def test_the_answer_stores_each_item_as_data_never_a_sentence(mailoutbox):
    Recipient.objects.create(name="Partner Analytics", contact_email="dpo@partner.example")
    request = searched_request(language="fr")

    answer = access_answer_run(request_id=request.id)

    assert answer is not None and answer.payload["version"] == REPORT_VERSION == 3
    general = answer.payload["general"]
    assert list(general) == list(GENERAL_KEYS)
    assert general["recipients"] == {"names": ["Partner Analytics"]}
    coverage = general["search_coverage"]
    assert coverage["kind"] == "whole" and coverage["images"] == 3210
    assert datetime.fromisoformat(coverage["first"]) == FIRST  # ISO strings, not words
    assert datetime.fromisoformat(coverage["last"]) == LAST
    assert general["search_bands"]["recorded"] is True
    assert general["search_bands"]["faces_planned_for"] == THRESHOLDS["faces_planned_for"]
    # No item's data holds a sentence, in French or in any other language (the purposes are the
    # deployment's own text, shown as it is).
    stored = set(strings_in(general)) - set(strings_in(general["purposes"]))
    for code in ("en", "fr", "ja"):
        with language_of(language=code):
            rendered = [
                general_item_text(key=key, data=data) for key, data in general.items() if key != "purposes"
            ]
        assert all(text.strip() for text in rendered)
        assert not [text for text in rendered if text in stored], code
    assert said("fr", CATEGORIES) not in json.dumps(answer.payload, ensure_ascii=False)


def test_an_answer_built_in_french_is_read_in_japanese_on_the_answer_page(mailoutbox):
    request = searched_request(language="fr")
    answer = access_answer_run(request_id=request.id)

    page = Client(HTTP_ACCEPT_LANGUAGE="ja;q=1.0, en;q=0.5").get(
        reverse("public:answer", args=[answer.download_token])
    )

    assert page.status_code == 200
    text = html.unescape(page.content.decode())
    figures = {"size": "3210", "first": day("ja", FIRST), "last": day("ja", LAST)}
    for sentence in (
        said("ja", CATEGORIES),
        said("ja", WHOLE, **figures),
        said("ja", "We have not handed copies of images to any other organisation."),
        said("ja", "How faces were compared"),  # the bands' heading, before: "Search bands"
    ):
        assert sentence in text, sentence
    assert said("ja", CATEGORIES) != CATEGORIES  # the catalogue translates the stored item's msgid
    # Nothing of the French sentences the answer would have stored before.
    assert said("fr", CATEGORIES) not in text
    assert said("fr", WHOLE, size="3210", first=day("fr", FIRST), last=day("fr", LAST)) not in text

    # The file the person downloads is the French snapshot, written once from the same data.
    report_html = html.unescape(zip_open(answer.archive.read()).read("report.html").decode())
    assert said("fr", CATEGORIES) in report_html and said("ja", CATEGORIES) not in report_html
    assert said("fr", WHOLE, size="3210", first=day("fr", FIRST), last=day("fr", LAST)) in report_html


@pytest.mark.parametrize("code", ["en", "fr", "zh-hans", "zh-hant", "ja"])
def test_every_item_is_written_with_the_catalogues_sentences(code):
    """The msgids are the ones the catalogues already translate: every fixed sentence comes out
    translated (not English) outside English, and in English exactly as it read before."""
    Recipient.objects.create(name="Partner Analytics")
    data = general_items_data(request=searched_request())
    with language_of(language=code):
        texts = {key: general_item_text(key=key, data=value) for key, value in data.items()}
    assert all(texts[key].strip() for key in GENERAL_KEYS), texts
    assert texts["categories"] == said(code, CATEGORIES)
    assert texts["recipients"] == said(code, RECIPIENTS, names="Partner Analytics")
    figures = {"size": 3210, "first": day(code, FIRST), "last": day(code, LAST)}
    assert texts["search_coverage"] == said(code, WHOLE, **figures)
    if code != "en":
        fixed = ("categories", "recipients", "rights", "source", "automated_decision_making", "search_bands")
        english = {key: general_item_text(key=key, data=data[key]) for key in fixed}
        assert all(texts[key] != english[key] for key in fixed), code


def test_a_partial_search_and_no_recorded_bands_are_written_from_their_data():
    request = request_make(
        status=RequestStatus.FULFILLING,
        searched_at=timezone.now(),
        searched_index_faces=9,
        searched_collection_faces=10,
    )
    data = general_items_data(request=request)
    assert data["search_coverage"] == {"kind": "partial", "index_faces": 9, "collection_faces": 10}
    assert data["search_bands"] == {"recorded": False}
    with language_of(language="ja"):
        assert general_item_text(key="search_coverage", data=data["search_coverage"]) == said(
            "ja",
            "Our search did not cover the whole collection: the index searched held "
            "%(index_faces)s faces of the collection's %(collection_faces)s.",
            index_faces=9,
            collection_faces=10,
        )
        assert general_item_text(key="search_bands", data=data["search_bands"]) == said(
            "ja", "The similarity thresholds this search used were not recorded."
        )


def test_a_deployments_text_by_language_is_kept_in_each_and_shown_in_the_readers(settings):
    settings.TRANSFER_SAFEGUARDS = {"en": "Kept in the EEA.", "ja": "EEA内で保管します。"}
    data = general_items_data(request=searched_request())["transfers"]
    assert (
        data["safeguards"]["en"] == "Kept in the EEA." and data["safeguards"]["ja"] == "EEA内で保管します。"
    )
    assert data["safeguards"]["fr"] == "Kept in the EEA."  # a language it leaves out: the default's
    settings.TRANSFER_SAFEGUARDS = "Changed since."  # the answer keeps what it said when it was built
    with language_of(language="ja"):
        assert "EEA内で保管します。" in general_item_text(key="transfers", data=data)
    with language_of(language="fr"):
        assert "Kept in the EEA." in general_item_text(key="transfers", data=data)


# --- Old answers ---------------------------------------------------------------------------------


OLD_GENERAL = {
    "controller": "Example Face Search Ltd, 1 Example Street. Contact: privacy@facerights.example.",
    "search_coverage": "Nous avons cherché dans toute la collection.",
    "rights": "Vous pouvez demander la rectification.",
}


@pytest.mark.parametrize("version", [None, 1])
def test_an_old_answer_with_sentences_is_read_as_it_was_stored(version):
    payload: dict[str, Any] = {"kind": "access_report", "general": dict(OLD_GENERAL)}
    if version is not None:
        payload["version"] = version
    with language_of(language="ja"):
        assert general_items_read(payload=payload) == OLD_GENERAL


def test_an_old_answer_still_renders_on_the_answer_page(mailoutbox):
    request = searched_request(language="fr")
    answer = access_answer_run(request_id=request.id)
    answer.payload = {**answer.payload, "version": 1, "general": dict(OLD_GENERAL)}
    answer.save(update_fields=["payload"])

    page = Client(HTTP_ACCEPT_LANGUAGE="ja").get(reverse("public:answer", args=[answer.download_token]))

    assert page.status_code == 200
    text = html.unescape(page.content.decode())
    for sentence in OLD_GENERAL.values():
        assert sentence in text
    assert said("ja", "Your rights") in text  # its headings are the reader's


def test_unreadable_data_shows_nothing_rather_than_failing():
    with language_of(language="ja"):
        payload = {
            "version": 2,
            "general": {"search_coverage": {"kind": "whole", "images": 3, "first": "yesterday", "last": ""}},
        }
        assert general_items_read(payload=payload) == {"search_coverage": ""}
        assert general_items_read(payload={"version": 2, "general": "not a mapping"}) == {}
        assert general_item_text(key="no_such_item", data={"x": 1}) == ""


# --- The completeness check ----------------------------------------------------------------------


def test_a_complete_answer_passes_the_check():
    request = searched_request(language="ja")
    built = access_report_build(request=request)
    assert access_report_check(request=request, built=built) == []


def test_the_check_names_a_missing_item_by_its_key():
    request = searched_request(language="fr")
    built = access_report_build(request=request)
    payload = json.loads(json.dumps(built.payload))
    del payload["general"]["rights"]
    assert access_report_check(request=request, built=rebuilt(built, payload)) == [
        "Art. 15(1) item 'rights' is missing"
    ]


def test_the_check_names_an_empty_item_and_each_fact_it_lacks():
    request = searched_request(language="fr")
    built = access_report_build(request=request)
    payload = json.loads(json.dumps(built.payload))
    payload["general"]["controller"] = {}
    payload["general"]["complaint"] = {"authority": "   "}
    payload["general"]["search_coverage"] = {"kind": "whole", "images": 3210, "first": FIRST.isoformat()}
    assert access_report_check(request=request, built=rebuilt(built, payload)) == [
        "Art. 15(1) item 'controller' is empty (no name, address, email)",
        "Art. 15(1) item 'complaint' is empty (no authority)",
        "Art. 15(1) item 'search_coverage' is empty (no last)",
    ]


def test_the_check_names_data_no_sentence_says():
    request = searched_request(language="fr")
    built = access_report_build(request=request)
    payload = json.loads(json.dumps(built.payload))
    payload["general"]["automated_decision_making"]["solely_automated_decisions"] = True
    assert access_report_check(request=request, built=rebuilt(built, payload)) == [
        "Art. 15(1) item 'automated_decision_making' has data no sentence says"
    ]


def test_the_check_names_an_item_absent_from_the_html_in_the_reports_language():
    request = searched_request(language="fr")
    built = access_report_build(request=request)
    with language_of(language="fr"):
        complaint = general_item_text(key="complaint", data=built.payload["general"]["complaint"])
    page = built.html.replace(html.escape(complaint), "")
    assert page != built.html
    assert access_report_check(request=request, built=rebuilt(built, built.payload, page)) == [
        "Art. 15(1) item 'complaint' is not in the HTML report"
    ]
    # The English words of the same item are not the French report's: an English HTML fails them all.
    with language_of(language="en"):
        english = access_report_build(request=searched_request(language="en"))
    problems = access_report_check(request=request, built=rebuilt(built, built.payload, english.html))
    assert "Art. 15(1) item 'categories' is not in the HTML report" in problems


def test_retention_in_days_is_written_with_the_period(settings):
    settings.COLLECTION_RETENTION_DAYS = 400
    data = general_items_data(request=searched_request())["retention"]
    assert data == {"days": 400}
    with language_of(language="fr"):
        text = general_item_text(key="retention", data=data)
    assert "400" in text and text == said(
        "fr",
        "Kept for %(days)s days after collection (until %(until)s), or until you ask us to erase it.",
        days=400,
        until=said("fr", "an unknown date"),
    )
