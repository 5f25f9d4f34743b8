"""Texts the settings give requesters (SUPERVISORY_AUTHORITY, TRANSFER_SAFEGUARDS, PROCESSING_PURPOSES).

A deployment gives one text for every language or a JSON object by language; unset, the default is
translated. ``setting_text`` gives the active language's, and the pages and emails show it.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.utils import translation

from portal.env import env_language, env_texts
from portal.texts import TEXT_DEFAULTS
from rights.lifecycle.emails import email_send
from rights.lifecycle.language import language_of, setting_text
from tests.factories import request_make

LANGUAGES = [code for code, _name in settings.LANGUAGES]
NAMES = ["SUPERVISORY_AUTHORITY", "TRANSFER_SAFEGUARDS", "PROCESSING_PURPOSES"]


@pytest.fixture(autouse=True)
def _default_language_after_each_test():
    yield
    translation.deactivate()


def parse(monkeypatch, raw: str | None, name: str = "TRANSFER_SAFEGUARDS"):
    if raw is None:
        monkeypatch.delenv(name, raising=False)
    else:
        monkeypatch.setenv(name, raw)
    return env_texts(name, languages=LANGUAGES, default_language="en")


# --- Reading the environment ---------------------------------------------------------------------


def test_unset_or_blank_gives_the_default_text(monkeypatch):
    assert parse(monkeypatch, None) == TEXT_DEFAULTS["TRANSFER_SAFEGUARDS"]
    assert parse(monkeypatch, "  ") == TEXT_DEFAULTS["TRANSFER_SAFEGUARDS"]


def test_one_string_is_kept_as_written(monkeypatch):
    assert parse(monkeypatch, "Standard contractual clauses (Art. 46(2)(c)).") == (
        "Standard contractual clauses (Art. 46(2)(c))."
    )


def test_a_json_object_gives_a_text_per_language_in_the_portals_spelling(monkeypatch):
    texts = parse(monkeypatch, '{"en": "EEA only.", "fr": "EEE uniquement.", "zh_Hant": "僅限歐洲經濟區。"}')
    assert texts == {"en": "EEA only.", "fr": "EEE uniquement.", "zh-hant": "僅限歐洲經濟區。"}


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ('{"en": "EEA only.",}', "is not valid JSON"),
        ('{"fr": "EEE uniquement."}', "must give the en text"),
        ('{"en": "EEA only.", "de": "Nur EWR."}', "'de' is not one of the languages en, fr, zh-hans"),
        ('{"en": "EEA only.", "ja": ""}', "the ja text must be a non-empty string"),
        ('{"en": ["EEA only."]}', "the en text must be a non-empty string"),
    ],
)
def test_a_bad_json_object_stops_the_portal_with_a_sentence(monkeypatch, raw, says):
    with pytest.raises(ImproperlyConfigured, match="TRANSFER_SAFEGUARDS") as caught:
        parse(monkeypatch, raw)
    assert says in str(caught.value)


def test_staff_language_must_be_one_of_the_five(monkeypatch):
    monkeypatch.setenv("STAFF_LANGUAGE", "zh_Hans")
    assert env_language("STAFF_LANGUAGE", "en", languages=LANGUAGES) == "zh-hans"
    monkeypatch.setenv("STAFF_LANGUAGE", "de")
    with pytest.raises(ImproperlyConfigured, match="STAFF_LANGUAGE must be one of en, fr, zh-hans"):
        env_language("STAFF_LANGUAGE", "en", languages=LANGUAGES)


# --- In the active language ------------------------------------------------------------------------


def test_a_text_given_per_language_shows_in_each_and_the_default_languages_elsewhere(settings):
    settings.TRANSFER_SAFEGUARDS = {"en": "EEA only.", "fr": "EEE uniquement.", "ja": "EEA内のみ。"}
    shown = {}
    for code in LANGUAGES:
        with language_of(language=code):
            shown[code] = setting_text(name="TRANSFER_SAFEGUARDS")
    assert shown == {
        "en": "EEA only.",
        "fr": "EEE uniquement.",
        "zh-hans": "EEA only.",  # not given: the en text
        "zh-hant": "EEA only.",
        "ja": "EEA内のみ。",
    }


def test_one_string_for_all_shows_in_every_language(settings):
    settings.PROCESSING_PURPOSES = "Running our face search engine."
    for code in LANGUAGES:
        with language_of(language=code):
            assert setting_text(name="PROCESSING_PURPOSES") == "Running our face search engine."


@pytest.mark.parametrize("name", NAMES)
def test_the_default_text_is_translated_in_every_language(settings, name):
    setattr(settings, name, TEXT_DEFAULTS[name])
    shown = {}
    for code in LANGUAGES:
        with language_of(language=code):
            shown[code] = setting_text(name=name)
    assert shown["en"] == TEXT_DEFAULTS[name]
    assert len(set(shown.values())) == len(LANGUAGES), shown  # five different texts


def test_the_default_authority_in_japanese_and_french():
    with language_of(language="ja"):
        assert setting_text(name="SUPERVISORY_AUTHORITY").startswith("フランス情報処理・自由全国委員会")
    with language_of(language="fr"):
        assert "https://www.cnil.fr/fr/plaintes" in setting_text(name="SUPERVISORY_AUTHORITY")


# --- Where requesters read them ------------------------------------------------------------------


@pytest.mark.django_db
def test_pages_and_emails_show_the_readers_text(client, settings):
    settings.SUPERVISORY_AUTHORITY = {"en": "The Example DPA", "fr": "La CNIL d'exemple"}
    home_fr = client.get("/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "La CNIL d&#x27;exemple" in home_fr and "The Example DPA" not in home_fr
    assert "The Example DPA" in client.get("/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()

    request = request_make(language="fr")
    context = {"request": request, "answer_url": "https://x.example/a", "status_url": "https://x.example/s"}
    with translation.override("ja"):  # whoever sends it, the letter is in the requester's language
        email_send(to="person@example.org", template="answer_ready", context=context, language="fr")
    [letter] = mail.outbox
    assert "La CNIL d'exemple" in letter.body and "The Example DPA" not in letter.body


@pytest.mark.django_db
def test_the_default_authority_is_translated_in_a_letter():
    request = request_make(language="zh-hans")
    context = {"request": request, "answer_url": "https://x.example/a", "status_url": "https://x.example/s"}
    email_send(to="person@example.org", template="answer_ready", context=context, language="zh-hans")
    [letter] = mail.outbox
    assert "法国国家信息与自由委员会" in letter.body
