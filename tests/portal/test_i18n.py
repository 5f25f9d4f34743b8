"""Five languages: complete catalogues, and every public page in each language.

The catalogues (locale/<lang>/LC_MESSAGES/django.po) are read with polib: every message has a
translation that is neither empty nor fuzzy, keeps the msgid's placeholders and HTML tags, and the
committed .mo holds exactly what the .po says (no gettext is needed to run this). The pages are
asked for in each language twice: by the browser's Accept-Language, and with the switcher.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from pathlib import Path

import polib
import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext, pgettext

from rights.lifecycle.language import language_of, language_supported
from rights.models import DataRequest, Selfie
from rights.pipeline.access import access_report_build
from rights.pipeline.answers import requester_notify_answer
from rights.pipeline.search import NO_FACE, selfie_check
from tests.portal.hostile import no_face_jpeg
from tests.portal.test_public_pages import (
    access_answer,
    answered,
    confirmed_request,
    erasure_certificate,
    post_request,
    upload,
)

pytestmark = pytest.mark.django_db

LANGUAGES = [code for code, _name in settings.LANGUAGES]
HTML_LANG = {"en": "en-GB", "fr": "fr", "zh-hans": "zh-Hans", "zh-hant": "zh-Hant", "ja": "ja"}
# A named placeholder (%(name)s), a bare one (%s, %d) or a brace one ({name}).
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%[sd]|\{[a-z_]*\}")
TAG = re.compile(r"</?[a-z]+[^>]*>")
# Words spelt alike in French and English, and right in French as they are.
SAME_WORDS = {
    "fr": {
        *("action", "Action", "Configuration", "Contact", "image", "images", "Images", "note", "notes"),
        *("score", "selfie", "selfies", "Selfies", "Source"),
    }
}


@pytest.fixture(autouse=True)
def _default_language_after_each_test():
    """The test client leaves the last request's language active in this thread: put the default
    back, so that no later test (of a service that uses gettext) runs in French by accident."""
    yield
    translation.deactivate()


def catalogue_dir(code: str) -> Path:
    return Path(settings.BASE_DIR) / "locale" / translation.to_locale(code) / "LC_MESSAGES"


def catalogue(code: str) -> polib.POFile:
    return polib.pofile(str(catalogue_dir(code) / "django.po"))


def forms_of(entry: polib.POEntry) -> list[str]:
    return (
        [entry.msgstr]
        if not entry.msgid_plural
        else [entry.msgstr_plural[i] for i in sorted(entry.msgstr_plural)]
    )


# --- The catalogues -------------------------------------------------------------------------------


def test_the_five_languages_are_offered():
    assert LANGUAGES == ["en", "fr", "zh-hans", "zh-hant", "ja"]
    for code in LANGUAGES:
        assert (catalogue_dir(code) / "django.po").is_file(), code
        assert (catalogue_dir(code) / "django.mo").is_file(), code


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_message_has_a_translation_that_is_neither_empty_nor_fuzzy(code):
    po = catalogue(code)
    assert len(po) > 250  # the public pages, emails, letters, report and certificate
    assert not po.metadata_is_fuzzy
    untranslated = [e.msgid for e in po if e.obsolete is False and not all(f.strip() for f in forms_of(e))]
    fuzzy = [e.msgid for e in po if "fuzzy" in e.flags]
    assert untranslated == [], untranslated[:5]
    assert fuzzy == [], fuzzy[:5]
    expected_forms = int(re.search(r"nplurals=(\d+)", po.metadata["Plural-Forms"]).group(1))
    for entry in po:
        if entry.msgid_plural:
            assert len(entry.msgstr_plural) == expected_forms, entry.msgid


@pytest.mark.parametrize("code", [c for c in LANGUAGES if c != "en"])
def test_translations_are_in_the_language_not_copies_of_the_english(code):
    """A message left in English would pass the check above: few may equal their msgid."""
    po = catalogue(code)
    # Names, codes and formats read the same in every language ("%(label)s: ..."), and French shares
    # some words with English (listed, so that any other message left in English still counts).
    same = [
        e.msgid
        for e in po
        if forms_of(e)[0] == e.msgid
        and PLACEHOLDER.sub("", e.msgid).strip(" :.,") != ""
        and e.msgid not in SAME_WORDS.get(code, ())
    ]
    assert len(same) <= 3, same


@pytest.mark.parametrize("code", LANGUAGES)
def test_each_translation_keeps_the_placeholders_and_tags_of_its_msgid(code):
    """A plural form may leave out the count ("One of your photos..."), never add or lose another."""
    bad = []
    for entry in catalogue(code):
        most = set(PLACEHOLDER.findall(entry.msgid_plural or entry.msgid))
        least = set(PLACEHOLDER.findall(entry.msgid))
        tags = sorted(TAG.findall(entry.msgid))
        for form in forms_of(entry):
            found = PLACEHOLDER.findall(form)
            exact = sorted(found) == sorted(PLACEHOLDER.findall(entry.msgid))
            in_bounds = least <= set(found) <= most if entry.msgid_plural else exact
            if not in_bounds or sorted(TAG.findall(form)) != tags:
                bad.append((entry.msgid[:60], form[:60]))
    assert bad == []


@pytest.mark.parametrize("code", LANGUAGES)
def test_the_committed_mo_holds_what_the_po_says(code):
    po = {(e.msgctxt, e.msgid): forms_of(e) for e in catalogue(code)}
    mo = {(e.msgctxt, e.msgid): forms_of(e) for e in polib.mofile(str(catalogue_dir(code) / "django.mo"))}
    mo.pop((None, ""), None)  # the header
    assert mo == po


def test_a_catalogue_check_fails_on_a_bad_translation(tmp_path):
    """The checks above can fail: an empty, a fuzzy and a placeholder-breaking entry are all caught."""
    po = polib.POFile()
    po.metadata = {"Plural-Forms": "nplurals=1; plural=0;"}
    po.append(polib.POEntry(msgid="Due %(due)s", msgstr="期限"))
    po.append(polib.POEntry(msgid="Hello", msgstr=""))
    po.append(polib.POEntry(msgid="Bye", msgstr="さようなら", flags=["fuzzy"]))
    broken = [e for e in po if sorted(PLACEHOLDER.findall(e.msgstr)) != sorted(PLACEHOLDER.findall(e.msgid))]
    assert [e.msgid for e in broken] == ["Due %(due)s"]
    assert [e.msgid for e in po if not e.msgstr] == ["Hello"]
    assert [e.msgid for e in po if "fuzzy" in e.flags] == ["Bye"]


# --- The pages in each language -------------------------------------------------------------------


def title_of(response) -> str:
    return html.unescape(
        " ".join(re.search(r"<title>(.*?)</title>", response.content.decode(), re.S).group(1).split())
    )


def lang_of(response) -> str:
    return re.search(r'<html lang="([^"]+)"', response.content.decode()).group(1)


def assert_in_language(response, code: str, title_msgid: str) -> None:
    """The page is in ``code``: its lang attribute, and a title translated from ``title_msgid``."""
    with translation.override(code):
        wanted = gettext(title_msgid)
    if code != "en":
        assert wanted != title_msgid, (code, title_msgid)  # the catalogue really translates it
    assert lang_of(response) == HTML_LANG[code]
    assert title_of(response).startswith(wanted), (code, title_of(response))
    assert response["Content-Language"] == code


def browser(code: str) -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE=f"{code};q=1.0, en;q=0.5")


@pytest.fixture
def pages(client, mailoutbox):
    """A confirmed request with an access answer: the address and title msgid of each public page."""
    request = confirmed_request(client, mailoutbox)
    answered(request)
    answer = access_answer(request)
    return {
        reverse("public:home"): "Your rights over your photos",
        reverse("public:request_new"): "Make a request",
        reverse("public:request_sent"): "Check your email",
        reverse("public:status", args=[request.public_token]): "Your request",
        reverse("public:answer", args=[answer.download_token]): "Access report",
        "/no-such-page/": "Page not found",
    }


@pytest.mark.parametrize("code", LANGUAGES)
def test_each_public_page_follows_the_browsers_language(pages, code):
    for path, title in pages.items():
        response = browser(code).get(path)
        assert response.status_code in (200, 404), (path, response.status_code)
        assert_in_language(response, code, title)


@pytest.mark.parametrize("code", LANGUAGES)
def test_the_switcher_changes_the_language_of_the_same_page_without_javascript(pages, code):
    visitor = browser("ja" if code != "ja" else "fr")
    for path, title in pages.items():
        page = visitor.get(path).content.decode()
        # One button per language, in a form that posts back to this same page.
        assert f'name="language" value="{code}"' in page
        if path != "/no-such-page/":
            assert f'name="next" value="{path}"' in page
        switched = visitor.post(reverse("set_language"), {"language": code, "next": path})
        assert switched.status_code == 302 and switched["Location"] == path
        response = visitor.get(path)
        assert_in_language(response, code, title)
        assert re.search(rf'value="{code}"[^>]*aria-current="true"', response.content.decode())


def test_an_error_page_never_echoes_its_address_in_the_switcher(client):
    secret = "/status/SECRET-TOKEN-NOT-REAL/"
    page = client.get(secret)
    assert page.status_code == 404
    assert "SECRET-TOKEN-NOT-REAL" not in page.content.decode()
    assert 'name="next" value="/"' in page.content.decode()


def test_a_bad_switch_changes_nothing_and_goes_nowhere_else(client):
    """An unknown language keeps the current one; a `next` on another site is not followed."""
    client.post(reverse("set_language"), {"language": "fr", "next": "/"})
    unknown = client.post(reverse("set_language"), {"language": "xx", "next": "/request/"})
    assert unknown.status_code == 302
    assert lang_of(client.get("/")) == "fr"
    elsewhere = client.post(reverse("set_language"), {"language": "ja", "next": "https://evil.example/"})
    assert elsewhere.status_code == 302 and "evil.example" not in elsewhere["Location"]
    assert lang_of(client.get("/")) == "ja"


def test_an_unknown_browser_language_gets_english():
    response = browser("de").get(reverse("public:home"))
    assert_in_language(response, "en", "Your rights over your photos")


@pytest.mark.parametrize("code", LANGUAGES)
def test_dates_are_written_the_readers_way(client, mailoutbox, code):
    request = confirmed_request(client, mailoutbox)
    page = browser(code).get(reverse("public:status", args=[request.public_token])).content.decode()
    with translation.override(code):
        received = date_format(timezone.localtime(request.received_at), "DATE_FORMAT")
    assert received in page
    if code == "en":
        assert re.fullmatch(r"\d{1,2} [A-Z][a-z]+ \d{4}", received)  # 1 December 2026
    elif code in ("ja", "zh-hans", "zh-hant"):
        assert re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日", received)
    else:
        assert re.fullmatch(r"\d{1,2} [a-zéû]+ \d{4}", received)  # 1 décembre 2026


@pytest.mark.parametrize(
    ("code", "germany", "japan"),
    [
        ("en", "Germany", "Japan"),
        ("fr", "Allemagne", "Japon"),
        ("ja", "ドイツ", "日本"),
        ("zh-hans", "德国", "日本"),
        ("zh-hant", "德國", "日本"),
    ],
)
def test_country_names_come_translated_from_django_countries(code, germany, japan):
    page = browser(code).get(reverse("public:request_new")).content.decode()
    assert f'<option value="DE">{germany}</option>' in page
    assert f'<option value="JP">{japan}</option>' in page
    # The EU first, by its own name in the language.
    with translation.override(code):
        assert page.index(gettext("European Union")) < page.index(gettext("Elsewhere"))
    assert page.count("<option value=") > 240  # every country, not a hand-picked list


def test_an_expired_download_is_explained_in_the_readers_language(client, mailoutbox):
    request = confirmed_request(client, mailoutbox)
    answered(request)
    answer = access_answer(request, expires_in=timedelta(days=1))
    with time_machine.travel(timezone.now() + timedelta(days=2), tick=False):
        for code in LANGUAGES:
            response = browser(code).get(reverse("public:download", args=[answer.download_token]))
            assert response.status_code == 410
            assert_in_language(response, code, "This download has expired")


# --- The requester's language, stored and used for everything sent later ------------------------


@pytest.mark.parametrize(
    ("asked", "stored"),
    [("fr-CA", "fr"), ("zh-TW", "zh-hant"), ("zh-CN", "zh-hans"), ("ja-JP", "ja"), ("de", "en"), ("", "en")],
)
def test_a_language_asked_for_maps_to_one_of_the_five(asked, stored):
    assert language_supported(code=asked) == stored


@pytest.mark.parametrize("code", LANGUAGES)
def test_the_request_keeps_the_language_it_was_made_in_and_its_confirmation_is_in_it(mailoutbox, code):
    response = post_request(browser(code))
    assert response.status_code == 302, response.content.decode()[:1000]
    request = DataRequest.objects.latest("id")
    assert request.language == code
    [confirmation] = mailoutbox
    with translation.override(code):
        subject = gettext("%(organisation_name)s: please confirm your request") % {
            "organisation_name": settings.ORGANISATION_NAME
        }
        due = date_format(timezone.localtime(request.due_at), "DATE_FORMAT")
    assert confirmation.subject == subject
    assert due in confirmation.body
    # The same words as HTML, in the same language, every link a link and nothing unescaped.
    [(html_body, mimetype)] = confirmation.alternatives
    assert mimetype == "text/html"
    assert f'<html lang="{HTML_LANG[code]}">' in html_body
    confirm_url = re.search(r"https?://\S+/confirm/\S+/", confirmation.body).group(0)
    assert f'<a href="{confirm_url}"' in html_body
    assert html.escape(due) in html_body


def test_a_later_email_is_in_the_requests_language_whatever_is_active(client, mailoutbox):
    request = confirmed_request(client, mailoutbox)
    DataRequest.objects.filter(pk=request.pk).update(language="ja")
    request.refresh_from_db()
    with translation.override("fr"):  # a French page, a worker, a staff member in French: still Japanese
        requester_notify_answer(request=request, answer_token="t" * 43)
    answer_mail = mailoutbox[-1]
    assert (
        answer_mail.subject == f"{settings.ORGANISATION_NAME}\uff1a回答の準備ができました"
    )  # full-width colon
    assert "開示請求への回答の準備ができました" in answer_mail.body
    assert "votre" not in answer_mail.body.lower()
    with language_of(language="ja"):
        assert date_format(timezone.localtime(request.received_at), "DATE_FORMAT") in answer_mail.body


def test_the_access_report_file_is_written_in_the_requests_language(client, mailoutbox):
    request = confirmed_request(client, mailoutbox)
    DataRequest.objects.filter(pk=request.pk).update(language="zh-hant")
    request.refresh_from_db()
    with translation.override("en"):
        built = access_report_build(request=request)
    assert '<html lang="zh-Hant">' in built.html
    assert "您的查閱報告" in built.html and "Your access report" not in built.html


# --- The admin in the staff member's language -----------------------------------------------------


@pytest.mark.parametrize(
    ("code", "log_in"), [("fr", "Connexion"), ("ja", "ログイン"), ("zh-hans", "登录"), ("zh-hant", "登入")]
)
def test_the_admin_speaks_the_staff_members_language(code, log_in):
    page = browser(code).get(reverse("admin:login"))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'<html lang="{code}"' in html
    assert log_in in html


# --- What the services say, in the reader's language ----------------------------------------------


def said(code: str, msgid: str, **params) -> str:
    with translation.override(code):
        return gettext(msgid) % params if params else gettext(msgid)


@pytest.mark.parametrize("code", ["fr", "ja", "zh-hant"])
def test_form_errors_and_a_refused_photo_are_in_the_pages_language(mailoutbox, code):
    """A bad email, then a file that is not an image: each refusal next to its field, in the language."""
    visitor = browser(code)
    bad_email = html.unescape(post_request(visitor, email="not-an-address").content.decode())
    assert (
        said(code, "This is not a valid email address. Please check it (for example name@example.com).")
        in bad_email
    )
    not_a_photo = post_request(visitor, selfies=[upload(b"Dear Sir, this is not a photo." * 20)])
    assert not_a_photo.status_code == 400
    assert said(
        code,
        "This file is not a JPEG, PNG or WebP image (whatever its name says). Please choose a photo file.",
    ) in html.unescape(not_a_photo.content.decode())
    assert DataRequest.objects.count() == 0 and mailoutbox == []  # nothing written, nothing sent


@pytest.mark.parametrize("code", ["fr", "zh-hans"])
def test_the_timeline_and_what_the_request_waits_for_are_in_the_readers_language(client, mailoutbox, code):
    request = confirmed_request(client, mailoutbox)
    page = html.unescape(
        browser(code).get(reverse("public:status", args=[request.public_token])).content.decode()
    )
    assert said(code, "You sent your request.") in page
    assert said(code, "You confirmed your email address.") in page
    assert "You sent your request." not in page


@pytest.mark.parametrize("code", ["fr", "ja"])
def test_an_answer_is_written_from_its_data_in_the_readers_language(client, mailoutbox, code):
    """The same stored answer read in two languages: counts, checks and consent said in each."""
    request = confirmed_request(client, mailoutbox)
    answered(request)
    access = access_answer(request)
    page = html.unescape(
        browser(code).get(reverse("public:answer", args=[access.download_token])).content.decode()
    )
    assert said(code, "We hold %(count)s image(s) of you.", count=1) in page
    assert said(code, "What we searched") in page  # an Art. 15(1) item's heading
    certificate = erasure_certificate(request)
    page = html.unescape(
        browser(code).get(reverse("public:answer", args=[certificate.download_token])).content.decode()
    )
    assert said(code, "No image of you remains in the collection.") in page
    assert (
        said(
            code,
            "You did not consent to us keeping a face template to stop re-collection, so we keep none: "
            "we cannot automatically prevent images of you from being collected again.",
        )
        in page
    )
    assert "No image of you remains" not in page
    with translation.override(code):  # where each image was erased from: "file, faces, index"
        parts = pgettext("list separator", ", ").join(
            pgettext("removed from", w) for w in ["file", "faces", "index"]
        )
    assert parts in page


def test_a_photo_without_a_face_is_explained_in_the_requests_language(mailoutbox):
    """The worker checks the photo under the request's language: what it stores is in that language."""
    response = post_request(browser("fr"), selfies=[upload(no_face_jpeg())])
    assert response.status_code == 302
    request = DataRequest.objects.latest("id")
    with translation.override("en"):  # a worker runs in the default language
        checked = selfie_check(selfie=request.selfies.get())
    assert checked.status == Selfie.Status.REJECTED
    assert checked.problem == said("fr", NO_FACE)
    assert checked.problem.startswith("Nous n'avons trouvé aucun visage")
