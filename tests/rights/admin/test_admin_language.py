# ruff: noqa: F811 (the fixtures imported from test_admin are used as arguments)
"""Issue 12: the admin in the staff member's language. A staff member who chose a language on their
account page (portal.staff_language) gets the intake and review screens in it, whatever their
browser asks; one who has not chosen gets the browser's (English by default); the public pages keep
the browser/switcher rule even for a signed-in staff member."""

from __future__ import annotations

import itertools

import pytest
from django.test import Client
from django.urls import reverse

from portal.staff_language import staff_language_set
from tests.rights.admin.test_admin import under_review  # noqa: F401 (fixture)
from tests.rights.api.conftest import grant as grant_perm
from tests.rights.staff_helpers import PRIVACY_OFFICER, REVIEWER, staff_login, staff_user

pytestmark = pytest.mark.django_db

INTAKE = "/admin/rights/datarequest/record/"
NUMBERS = itertools.count()


def officer_in(language: str | None, *, browser: str = "en") -> Client:
    """A privacy officer who may record requests, signed in; ``language`` stored on their account
    (None: never chosen); their browser asks for ``browser``."""
    officer = staff_user(PRIVACY_OFFICER, username=f"officer-{next(NUMBERS)}")
    grant_perm(officer, "rights.add_datarequest")
    if language:
        staff_language_set(user=officer, language=language)
    client = Client(HTTP_ACCEPT_LANGUAGE=browser)
    staff_login(client, officer)
    return client


def intake_page(client: Client) -> str:
    response = client.get(INTAKE)
    assert response.status_code == 200
    return response.content.decode()


def review_refusal(client: Client, data_request) -> str:
    """The review screen's answer to a decision with nothing ticked (a refusal, nothing decided)."""
    url = reverse("admin:rights_datarequest_matches_decide", args=[data_request.id])
    response = client.post(url, {"decision": "confirmed"}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert data_request.matches.filter(decision="pending").count() == 3
    return response.json()["message"]


def test_a_staff_member_who_chose_japanese_gets_the_intake_screen_in_japanese() -> None:
    html = intake_page(officer_in("ja", browser="en"))
    assert '<html lang="ja"' in html
    for japanese in ("請求を登録する", "受付経路", "確認メールと回答の送付先です。", "ホーム"):
        assert japanese in html
    assert "Record the request" not in html and "Where the confirmation and the answer go." not in html


def request_page(client: Client, data_request) -> str:
    response = client.get(reverse("admin:rights_datarequest_change", args=[data_request.id]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_staff_member_who_chose_japanese_gets_the_review_screen_in_japanese(under_review) -> None:
    client = officer_in("ja", browser="en")
    html = request_page(client, under_review)
    for japanese in ("自撮り写真と並べた候補画像", "すべての候補", "法定期限", "不採用"):
        assert japanese in html
    assert '候補 3 件、うち判断待ち <span class="review-pending-count">2</span> 件。' in html
    assert "Review: candidate images beside the selfie" not in html and "all candidates" not in html
    message = review_refusal(client, under_review)
    assert message.startswith("実行されませんでした")
    assert "先に判断する候補にチェックを入れてください" in message


def test_a_staff_member_who_chose_french_gets_the_screens_in_french(under_review) -> None:
    client = officer_in("fr", browser="ja")
    html = intake_page(client)
    assert '<html lang="fr"' in html
    assert "Enregistrer la demande" in html and "Canal" in html and "Record the request" not in html
    html = request_page(client, under_review)
    assert "Examen : les images candidates à côté du selfie" in html and "Délai légal" in html
    assert "Review: candidate images beside the selfie" not in html
    assert review_refusal(client, under_review) == "Non effectué : Cochez d'abord les candidates à décider."


def test_english_by_default_and_the_browser_until_a_language_is_chosen(under_review) -> None:
    html = intake_page(officer_in(None))
    assert '<html lang="en' in html
    assert "Record the request" in html and "Where the confirmation and the answer go." in html
    client = officer_in(None)
    assert review_refusal(client, under_review) == "Not done: Tick the candidates to decide first."
    html = request_page(client, under_review)
    assert "Review: candidate images beside the selfie" in html and "Statutory clock" in html
    assert "Enregistrer la demande" in intake_page(officer_in(None, browser="fr"))


def test_the_choice_on_the_account_page_applies_to_the_next_admin_page() -> None:
    client = officer_in(None)
    assert "Record the request" in intake_page(client)
    response = client.post(reverse("staff-account"), {"language": "zh-hant"})
    assert response.status_code in (200, 302)
    assert "登記該請求" in intake_page(client)


def test_the_public_pages_keep_the_browsers_language_for_a_signed_in_staff_member() -> None:
    reviewer = staff_user(REVIEWER, username="reviewer-ja")
    staff_language_set(user=reviewer, language="ja")
    client = Client(HTTP_ACCEPT_LANGUAGE="fr")
    staff_login(client, reviewer)
    page = client.get(reverse("public:home"))
    assert page.status_code == 200
    assert '<html lang="fr"' in page.content.decode()


def test_the_queue_is_in_the_chosen_language_too(under_review) -> None:
    response = officer_in("zh-hant", browser="en").get(reverse("admin:rights_datarequest_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "將所選請求匯出為 CSV" in html and "指派給" in html
    assert "Export the selected requests as CSV" not in html and "days left" not in html


def test_the_second_factor_page_is_in_the_chosen_language() -> None:
    reviewer = staff_user(REVIEWER, username="reviewer-fr")
    staff_language_set(user=reviewer, language="fr")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(reviewer)  # the password only: the second factor is still to set up
    response = client.get(reverse("staff_otp:enrol"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Configurer votre second facteur" in html and "Confirmer et continuer" in html
    assert "Set up your second factor" not in html
