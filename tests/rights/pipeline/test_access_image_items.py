"""rights.pipeline.access_image_items: each image's items stored as data, written in the reader's language.

Before, each image of an access answer kept its items as sentences in the requester's language (how
it was found, who it was handed to, how long it is kept, when it was collected, "Not recorded"), so
a reader in another language got the requester's sentences, and the completeness check only asked
that each was not blank. No faces are needed here: the images are collection rows without a file,
and the report's HTML is written by the real template from their data.
"""

from __future__ import annotations

import html
import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.translation import gettext

from rights.lifecycle.language import language_of, setting_text
from rights.models import Answer, Match, Recipient, RequestStatus
from rights.pipeline.access import report_html_render
from rights.pipeline.access_image_items import (
    IMAGE_KEYS,
    IMAGE_SHOWN,
    NOT_RECORDED,
    image_item_text,
    image_items_data,
    image_items_problems,
    image_items_read,
    image_section,
)
from rights.pipeline.access_items import REPORT_VERSION, general_items_data
from tests.rights.jobs_helpers import make_image, release
from tests.rights.pipeline_helpers import request_make

pytestmark = pytest.mark.django_db

COLLECTED = datetime(2020, 3, 5, 10, 0, tzinfo=timezone.get_default_timezone())
RELEASED = datetime(2026, 11, 30, 0, 0, tzinfo=timezone.get_default_timezone())
FACES = "Found by comparing faces (similarity %(score)s)."
CONFIRMED = "Found by comparing faces (similarity %(score)s), confirmed by our staff."
BY_IDENTIFIER = "Found by one of the identifiers you gave (address or account name), checked by our staff."
HANDED = "Handed to: %(list)s"
KEPT_FOR = "Kept for %(days)s days after collection (until %(until)s), or until you ask us to erase it."
KEPT = "Kept until it is erased: no fixed retention period applies. You can ask us to erase it at any time."


@pytest.fixture(autouse=True)
def _default_language_after_each_test():
    yield
    translation.deactivate()


def said(code: str, msgid: str, **values: Any) -> str:
    """``msgid`` as the catalogue of ``code`` writes it, with its placeholders filled."""
    with language_of(language=code):
        return gettext(msgid) % values if values else gettext(msgid)


def day(code: str, moment: date) -> str:
    """A day as the answer writes it in ``code`` (English keeps "05 March 2020")."""
    with language_of(language=code):
        if code == "en":
            return moment.strftime("%d %B %Y")
        return date_format(moment, "DATE_FORMAT")


def score(code: str, value: float) -> str:
    with language_of(language=code):
        return formats.number_format(value, 2)


def strings_in(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings_in(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings_in(item)]
    return [value] if isinstance(value, str) else []


def an_image(label: str = "one", **fields: Any):
    fields = {"source_url": "https://social.example/p/1", "platform": "", "account": "ana_photos", **fields}
    return make_image(label, collected_at=COLLECTED, **fields)


def item_of(image, *, band: str = Match.Band.MATCH, decision: str = Match.Decision.PENDING, value=0.7134):
    match = Match(image_sha256=image.sha256, band=band, decision=decision, score=value)
    return image_items_data(
        image=image,
        match=match,
        file=f"images/001-{image.sha256[:16]}.jpg",
        your_face=None,
        other_faces_blurred=1,
    )


def payload_of(*items: dict[str, Any], language: str = "fr", version: int = REPORT_VERSION) -> dict[str, Any]:
    request = request_make(status=RequestStatus.FULFILLING, language=language, searched_at=timezone.now())
    return {
        "version": version,
        "kind": "access_report",
        "organisation": "Example Face Search Ltd",
        "request": {"received_at": timezone.now().isoformat(), "kind": "access", "reference": "abcd1234"},
        "language": language,
        "image_count": len(items),
        "images": list(items),
        "no_longer_held": [],
        "general": general_items_data(request=request),
    }


def answer_page(payload: dict[str, Any], *, code: str) -> str:
    request = request_make(status=RequestStatus.ANSWERED, language=payload.get("language", "fr"))
    answer = Answer.objects.create(request=request, kind=Answer.Kind.ACCESS_REPORT, payload=payload)
    page = Client(HTTP_ACCEPT_LANGUAGE=code).get(reverse("public:answer", args=[answer.download_token]))
    assert page.status_code == 200
    return html.unescape(page.content.decode())


# --- What the answer stores ----------------------------------------------------------------------


def test_each_image_is_stored_as_its_facts_never_a_sentence(settings):
    settings.COLLECTION_RETENTION_DAYS = 400
    image = an_image()
    release(Recipient.objects.create(name="Acme Research"), image, at=RELEASED)
    with language_of(language="fr"):  # as the answer is built: in the requester's language
        item = item_of(image)

    assert list(item)[: len(IMAGE_KEYS)] == list(IMAGE_KEYS)
    assert item["source_url"] == "https://social.example/p/1" and item["account"] == "ana_photos"
    assert item["platform"] is None  # not recorded: said in words when shown, in the reader's language
    assert datetime.fromisoformat(item["collected_at"]) == COLLECTED
    assert [(r["name"], r["released_on"]) for r in item["recipients"]] == [("Acme Research", "2026-11-30")]
    assert item["retention"]["days"] == 400
    assert datetime.fromisoformat(item["retention"]["until"]) == COLLECTED + timedelta(days=400)
    assert item["how_found"] == {"band": "match", "score": 0.7134, "decision": "pending"}
    assert "collected_on" not in item and "recipients_text" not in item
    # No stored string is a sentence, in French or in any other language.
    stored = set(strings_in(item)) - set(strings_in(item["purposes"]))
    for code in ("en", "fr", "ja"):
        with language_of(language=code):
            texts = [image_item_text(key=key, data=item[key]) for key in IMAGE_KEYS]
        assert all(text.strip() for text in texts), code
        sentences = ("platform", "collected_at", "recipients", "retention", "how_found")
        written = [text for key, text in zip(IMAGE_KEYS, texts, strict=True) if key in sentences]
        assert not [text for text in written if text in stored], code
    assert said("fr", NOT_RECORDED) not in json.dumps(item, ensure_ascii=False)


@pytest.mark.parametrize("code", ["en", "fr", "zh-hans", "zh-hant", "ja"])
def test_every_image_item_is_written_with_the_catalogues_sentences(settings, code):
    settings.COLLECTION_RETENTION_DAYS = 400
    image = an_image()
    release(Recipient.objects.create(name="Acme Research"), image, at=RELEASED)
    item = item_of(image)
    with language_of(language=code):
        texts = {key: image_item_text(key=key, data=item[key]) for key in IMAGE_KEYS}
        purposes = setting_text(name="PROCESSING_PURPOSES")

    assert texts["how_found"] == said(code, FACES, score=score(code, 0.7134))
    assert texts["recipients"] == said(code, HANDED, list=f"Acme Research ({day(code, RELEASED.date())})")
    until = day(code, (COLLECTED + timedelta(days=400)).date())
    assert texts["retention"] == said(code, KEPT_FOR, days=400, until=until)
    assert texts["platform"] == said(code, NOT_RECORDED)
    assert texts["collected_at"] == day(code, COLLECTED.date())
    assert texts["purposes"] == purposes
    if code != "en":  # the fixed sentences come out translated, not in English
        english = {key: image_item_text(key=key, data=item[key]) for key in ("how_found", "recipients")}
        assert all(texts[key] != english[key] for key in english), code


def test_how_each_match_was_decided_is_written_from_its_band_and_decision():
    image = an_image()
    with language_of(language="ja"):
        confirmed = item_of(image, band=Match.Band.REVIEW, decision=Match.Decision.CONFIRMED, value=0.55)
        assert image_item_text(key="how_found", data=confirmed["how_found"]) == said(
            "ja", CONFIRMED, score=score("ja", 0.55)
        )
        by_identifier = item_of(
            image, band=Match.Band.IDENTIFIER, decision=Match.Decision.CONFIRMED, value=None
        )
        assert by_identifier["how_found"]["score"] is None
        assert image_item_text(key="how_found", data=by_identifier["how_found"]) == said("ja", BY_IDENTIFIER)
        # A decision no answer includes has no sentence (the check then names it).
        rejected = item_of(image, decision=Match.Decision.REJECTED)
        assert image_item_text(key="how_found", data=rejected["how_found"]) == ""


def test_no_retention_period_and_no_release_are_written_so(settings):
    settings.COLLECTION_RETENTION_DAYS = 0
    item = item_of(an_image())
    assert item["retention"] == {"days": 0, "until": None} and item["recipients"] == []
    with language_of(language="fr"):
        assert image_item_text(key="retention", data=item["retention"]) == said("fr", KEPT)
        assert image_item_text(key="recipients", data=item["recipients"]) == said(
            "fr", "Not handed to anyone."
        )


def test_unreadable_data_shows_nothing_rather_than_failing():
    with language_of(language="ja"):
        assert image_item_text(key="collected_at", data="yesterday") == ""
        assert image_item_text(key="retention", data={"days": 30, "until": "soon"}) == ""
        assert (
            image_item_text(key="how_found", data={"band": "match", "decision": "pending", "score": "x"})
            == ""
        )
        assert image_item_text(key="recipients", data="Acme") == ""
        assert image_item_text(key="no_such_item", data="x") == ""
        assert image_items_read(payload={"version": REPORT_VERSION, "images": "not a list"}) == []


# --- Read in the reader's language ---------------------------------------------------------------


def test_an_answer_built_in_french_is_read_in_japanese_on_the_answer_page(settings):
    settings.COLLECTION_RETENTION_DAYS = 400
    image = an_image()
    release(Recipient.objects.create(name="Acme Research"), image, at=RELEASED)
    with language_of(language="fr"):
        payload = payload_of(item_of(image), language="fr")

    text = answer_page(payload, code="ja;q=1.0, en;q=0.5")

    until = (COLLECTED + timedelta(days=400)).date()
    for code, present in (("ja", True), ("fr", False)):
        for sentence in (
            said(code, FACES, score=score(code, 0.7134)),
            said(code, HANDED, list=f"Acme Research ({day(code, RELEASED.date())})"),
            said(code, KEPT_FOR, days=400, until=day(code, until)),
            said(code, NOT_RECORDED),
        ):
            assert (sentence in text) is present, (code, sentence)
    assert said("ja", FACES, score="0.71") != FACES  # the catalogue translates it

    # The report file is the French snapshot, written once from the same data.
    report = html.unescape(report_html_render(payload=payload, generated_at=timezone.now()))
    assert said("fr", HANDED, list=f"Acme Research ({day('fr', RELEASED.date())})") in report
    assert said("ja", NOT_RECORDED) not in report and said("fr", NOT_RECORDED) in report


# --- Old answers ---------------------------------------------------------------------------------


OLD_IMAGE = {
    "file": "images/001-abc.jpg",
    "image_sha256": "ab" * 32,
    "source_url": "https://social.example/p/1",
    "platform": "Non enregistré : nous ne l'avons pas conservé lors de la collecte de l'image.",
    "account": "ana_photos",
    "collected_at": "2020-01-02T03:04:05+00:00",
    "collected_on": "2 janvier 2020",
    "purposes": "Recherche de visages.",
    "recipients": [],
    "recipients_text": "Remise à personne.",
    "retention": "Conservée jusqu'à son effacement.",
    "how_found": "Trouvée par comparaison des visages (similarité 0,71).",
}


@pytest.mark.parametrize("version", [None, 1, 2])
def test_an_old_answers_image_sentences_are_read_as_they_were_stored(version):
    payload: dict[str, Any] = {
        "kind": "access_report",
        "language": "fr",
        "image_count": 1,
        "images": [OLD_IMAGE],
    }
    if version is not None:
        payload["version"] = version
    with language_of(language="ja"):
        (shown,) = image_items_read(payload=payload)
    assert {name: shown[name] for name in IMAGE_SHOWN} == {name: OLD_IMAGE[name] for name in IMAGE_SHOWN}

    text = answer_page(payload, code="ja")
    for name in ("platform", "collected_on", "purposes", "recipients_text", "retention", "how_found"):
        assert OLD_IMAGE[name] in text, name
    assert said("ja", "How we found it") in text  # its headings are the reader's


# --- The completeness check of each image --------------------------------------------------------


def checked(item: dict[str, Any], page: str, language: str = "fr") -> list[str]:
    return image_items_problems(item=item, html=page, language=language)


@pytest.fixture
def built(settings):
    """An image's data and the French report's HTML written from it."""
    settings.COLLECTION_RETENTION_DAYS = 400
    image = an_image()
    release(Recipient.objects.create(name="Acme Research"), image, at=RELEASED)
    item = item_of(image)
    return item, report_html_render(payload=payload_of(item, language="fr"), generated_at=timezone.now())


def test_a_complete_image_passes_the_check(built):
    item, page = built
    assert checked(item, page) == []


@pytest.mark.parametrize("key", [key for key in IMAGE_KEYS if key != "image_sha256"])
def test_the_check_names_a_missing_image_item_by_its_key(built, key):
    item, page = built
    del item[key]
    assert checked(item, page) == [f"image {item['image_sha256'][:12]}: '{key}' is missing"]


def test_an_image_without_its_hash_is_named_by_its_file_and_not_found_in_the_html(built):
    item, page = built
    del item["image_sha256"]
    assert checked(item, page) == [
        f"image {item['file']}: 'image_sha256' is missing",
        f"image {item['file']}: not shown in the HTML report",
    ]


def test_the_check_names_an_empty_image_item_and_each_fact_it_lacks(built):
    item, page = built
    sha = item["image_sha256"][:12]
    item["platform"] = "   "
    item["how_found"] = {"band": "match", "decision": "pending"}
    item["recipients"] = [{"name": "Acme Research"}]
    item["retention"] = {"days": 400}
    item["purposes"] = {"text": {"en": "", "fr": " "}}
    assert checked(item, page) == [
        f"image {sha}: 'platform' is empty",
        f"image {sha}: 'purposes' is empty (no text)",
        f"image {sha}: 'recipients' is empty (no released_on)",
        f"image {sha}: 'retention' is empty (no until)",
        f"image {sha}: 'how_found' is empty (no score)",
    ]


def test_the_check_names_image_data_no_sentence_says(built):
    item, page = built
    item["how_found"]["decision"] = Match.Decision.REJECTED
    item["collected_at"] = "last spring"
    assert checked(item, page) == [
        f"image {item['image_sha256'][:12]}: 'collected_at' has data no sentence says",
        f"image {item['image_sha256'][:12]}: 'how_found' has data no sentence says",
    ]


def test_the_check_names_an_image_item_absent_from_its_section_in_the_reports_language(built):
    item, page = built
    sha = item["image_sha256"][:12]
    with language_of(language="fr"):
        retention = image_item_text(key="retention", data=item["retention"])
    assert escape(retention) in image_section(html=page, sha256=item["image_sha256"])
    assert checked(item, page.replace(escape(retention), "")) == [
        f"image {sha}: 'retention' is not in the HTML report"
    ]

    # The English words of the same items are not the French report's: an English HTML fails them.
    with language_of(language="en"):
        english = report_html_render(payload=payload_of(item, language="en"), generated_at=timezone.now())
    problems = checked(item, english)
    for key in ("platform", "collected_at", "recipients", "retention", "how_found"):
        assert f"image {sha}: '{key}' is not in the HTML report" in problems
    assert f"image {sha}: 'source_url' is not in the HTML report" not in problems  # the same in both


def test_words_shown_only_under_another_image_do_not_count(built, settings):
    item, _page = built
    other = item_of(an_image("two"))  # its platform not recorded either
    page = report_html_render(payload=payload_of(item, other, language="fr"), generated_at=timezone.now())
    assert checked(item, page) == [] and checked(other, page) == []
    # This image's own "not recorded" platform gone from its section, still in the report under the other's:
    mine = image_section(html=page, sha256=item["image_sha256"])
    with language_of(language="fr"):
        platform = image_item_text(key="platform", data=item["platform"])
    page = page.replace(mine, mine.replace(escape(platform), ""))
    assert escape(platform) in page
    assert checked(item, page) == [f"image {item['image_sha256'][:12]}: 'platform' is not in the HTML report"]


def test_an_image_the_html_does_not_show_is_named(built):
    item, page = built
    section = image_section(html=page, sha256=item["image_sha256"])
    assert checked(item, page.replace(section, "")) == [
        f"image {item['image_sha256'][:12]}: not shown in the HTML report"
    ]
