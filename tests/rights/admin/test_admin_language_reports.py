# ruff: noqa: F811 (the fixtures imported from test_admin and test_collection are used as arguments)
# ruff: noqa: RUF001 (the Japanese and Chinese punctuation of the catalogues is meant)
"""Issue 12, part B: the staff reports and the staff services' sentences in the staff member's
language. The summary, the compliance report (its HTML: the CSV and JSON keep their English codes
for the tools that read them), the collection image page, the due badge, the review screen's
confirmations, the refusal messages and the match rule's "why"; English by default."""

from __future__ import annotations

import itertools

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import translation

from matching.services.thresholds import thresholds_why, thresholds_why_shown
from portal.staff_language import staff_language_set
from rights.models import DataRequest, RequestStatus
from tests.rights.admin.test_admin import under_review, users  # noqa: F401 (fixtures)
from tests.rights.admin.test_collection import image  # noqa: F401 (fixture)
from tests.rights.staff_helpers import (
    NOW,
    PRIVACY_OFFICER,
    REFUSAL_REASON,
    REVIEWER,
    local,
    make_request,
    seed_history,
    staff_login,
    staff_user,
)

pytestmark = pytest.mark.django_db

SUMMARY = reverse("admin:rights_summary")
REPORT = reverse("admin:rights_compliance_report")
NUMBERS = itertools.count()


def staff_in(language: str | None, *, role: str = PRIVACY_OFFICER) -> Client:
    """A signed-in staff member in ``role`` who chose ``language`` (None: never chose); the browser
    asks for English, so only the stored choice can bring another language."""
    user = staff_user(role, username=f"{role.split()[0].lower()}-{next(NUMBERS)}")
    if language:
        staff_language_set(user=user, language=language)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    staff_login(client, user)
    return client


def get_html(client: Client, url: str, **params: str) -> str:
    with time_machine.travel(local(*NOW), tick=False):
        response = client.get(url, params)
    assert response.status_code == 200
    return response.content.decode()


def report(client: Client, format: str) -> str:
    return get_html(client, REPORT, **{"from": "2024-01-01", "to": "2024-12-31", "format": format})


# --- The summary -----------------------------------------------------------------------------------


def test_the_summary_in_japanese() -> None:
    seed_history()
    html = get_html(staff_in("ja"), SUMMARY)
    for japanese in (
        "CNIL 向け数値（すべての請求）",
        "期限後に回答（期限または延長後の期限より後）",
        "<td>すべて</td>",  # the in-time figure's target
        "<td>理由を明記</td>",  # the refusals' target
        "拒否とその理由",
        "月別の受付件数（種類別）",
        ">開示請求</text>",  # the volume chart's legend: the kinds' short names
        ">期限内に回答</text>",
        "コンプライアンス報告書",
        "ダウンロード",
    ):
        assert japanese in html, japanese
    assert "目標 0：期限後の回答" in html
    for english in (
        "CNIL figures (all requests)",
        "Answered late (after the due date",
        "Download",
        "Target 0:",
    ):
        assert english not in html, english
    assert REFUSAL_REASON in html  # what staff wrote stays as written


def test_the_summary_in_french_and_english_by_default() -> None:
    seed_history()
    html = get_html(staff_in("fr"), SUMMARY)
    assert "Chiffres CNIL (toutes les demandes)" in html and "Refus et leurs motifs" in html
    assert "Demandes répondues dans les délais et en retard, par mois" in html
    assert "CNIL figures (all requests)" not in html
    html = get_html(staff_in(None), SUMMARY)
    assert "CNIL figures (all requests)" in html and "Refusals and their reasons" in html
    assert "Chiffres CNIL" not in html and "CNIL 向け数値" not in html


# --- The compliance report -------------------------------------------------------------------------


def test_the_html_report_is_in_the_staff_members_language_and_the_csv_keeps_its_codes() -> None:
    seed_history()
    client = staff_in("ja")
    html = report(client, "html")
    assert '<html lang="ja">' in html
    for japanese in (
        "データ主体の権利：コンプライアンス報告書",
        "請求ごと",
        "所要日数",
        "期限後に回答",  # a request's flag, no longer the code answered_late
        "2019-06-01 以降に収集された画像が対象外でした",  # a search's problem
        "対応中",  # open requests' "In time"
    ):
        assert japanese in html, japanese
    for english in ("Each request", "Days taken", "were not covered", "<td>answered_late"):
        assert english not in html, english
    # The CSV is read by other tools: its keys, codes and problem text stay English.
    csv_text = report(client, "csv")
    assert csv_text.startswith("request_id,kind,status,received_at,channel,")
    assert "answered_late,1," in csv_text
    assert "images collected from 2019-06-01 were not covered" in csv_text
    assert "期限" not in csv_text


def test_the_html_report_in_traditional_chinese_and_english_by_default() -> None:
    seed_history()
    html = report(staff_in("zh-hant"), "html")
    assert '<html lang="zh-hant">' in html
    assert "資料當事人權利：合規報告" in html and "未涵蓋整個圖片庫的搜尋" in html
    html = report(staff_in(None), "html")
    assert '<html lang="en">' in html
    assert "Data-subject rights: compliance report" in html and "Days taken" in html
    assert "answered late" in html and "images collected from 2019-06-01 were not covered" in html


def test_a_bad_period_is_refused_in_the_staff_members_language() -> None:
    with time_machine.travel(local(*NOW), tick=False):
        response = staff_in("ja").get(
            REPORT, {"from": "2024-12-31", "to": "2024-01-01", "format": "csv"}, follow=True
        )
    messages = " ".join(str(m) for m in response.context["messages"])
    assert "期間の開始日（2024-12-31）が終了日（2024-01-01）より後です。" in messages


# --- The collection image page --------------------------------------------------------------------


def test_the_collection_image_page_in_japanese_and_traditional_chinese(image) -> None:
    url = reverse("admin:matching_image_change", args=[image.pk])
    html = get_html(staff_in("ja", role=REVIEWER), url)
    for japanese in ("閲覧のみ：コレクションが変わるのは", "出典URL", "検出スコア", "提供先", "顔（1）"):
        assert japanese in html, japanese
    assert "Read-only:" not in html and "Detector score" not in html
    assert "Partner Analytics, 2" in html  # the recipient's name as recorded
    html = get_html(staff_in("zh-hant", role=REVIEWER), url)
    assert "唯讀：圖片庫只會因匯入、刪除和保存期限而變化。" in html and "偵測器分數" in html
    html = get_html(staff_in(None, role=REVIEWER), url)
    assert "Read-only: the collection changes only by ingestion" in html and "Detector score" in html


# --- The staff services' sentences -----------------------------------------------------------------


def test_the_due_badge_in_japanese(under_review) -> None:
    html = get_html(staff_in("ja"), reverse("admin:rights_datarequest_change", args=[under_review.id]))
    assert "残り" in html and " days left" not in html


def decide(client: Client, data_request: DataRequest, data: dict) -> dict:
    url = reverse("admin:rights_datarequest_matches_decide", args=[data_request.id])
    return client.post(url, data, HTTP_ACCEPT="application/json").json()


def test_the_review_screens_confirmations_in_japanese(under_review) -> None:
    client = staff_in("ja", role=REVIEWER)
    first, second = under_review.matches.filter(band="review").order_by("-score")
    body = decide(client, under_review, {"single": f"{first.id}:confirmed"})
    assert body["ok"] is True and body["message"] == f"候補画像 {first.image_id} を確定しました。"
    both = [m.id for m in under_review.matches.filter(band="review").order_by("-score")]
    body = decide(client, under_review, {"match_ids": both, "decision": "rejected"})
    images = f"{first.image_id}、{second.image_id}"
    assert body["message"] == f"候補画像 2 件を不採用にしました：画像 {images}。"
    # English by default, as the review screen's tests expect.
    body = decide(staff_in(None, role=REVIEWER), under_review, {"single": f"{second.id}:confirmed"})
    assert body["message"] == f"Candidate image {second.image_id} confirmed."


def test_a_refusal_without_a_justification_is_refused_in_japanese() -> None:
    data_request = make_request(status=RequestStatus.REVIEW)
    url = reverse("admin:rights_datarequest_refuse", args=[data_request.id])
    response = staff_in("ja").post(url, {"reason": "too many"}, follow=True)
    message = " ".join(str(m) for m in response.context["messages"])
    assert message.startswith("実行されませんでした：拒否するには、請求が明らかに根拠がない")
    assert "（40 文字以上）" in message
    data_request.refresh_from_db()
    assert data_request.status == RequestStatus.REVIEW


def test_the_match_rules_why_is_recorded_in_english_and_shown_in_the_readers_language() -> None:
    figures = {"faces": 1_000_000, "match": 0.45, "review": 0.3, "match_strangers": 0.0098}
    with translation.override("ja"):  # the record never follows the language in force
        recorded = thresholds_why(**figures, review_strangers=12.5, extrapolated=False, translate=False)
    assert recorded == (
        "thresholds for 1,000,000 faces searched: match at 0.450 (at most 0.0098 strangers expected "
        "per request), review at 0.300 (at most 12.5), from FMR x faces with the calibrated false-match rate"
    )
    record = {
        "match": 0.45,
        "review": 0.3,
        "faces_planned_for": 1_000_000,
        "match_expected_strangers": 0.0098,
        "review_expected_strangers": 12.5,
        "why": recorded + " (extrapolated beyond the labelled pairs by the fitted tail)",  # an older record
    }
    with translation.override("ja"):
        shown = thresholds_why_shown(record=record)
    assert shown.startswith("検索対象の顔 1,000,000 件に合わせたしきい値：0.450 以上で一致")
    assert shown.endswith("（ラベル付きのペアの範囲外は、当てはめた裾の分布で外挿）")
    with translation.override("fr"):
        shown = thresholds_why_shown(record={**record, "extrapolated": False})
    # French groups thousands with a no-break space and writes a decimal comma.
    assert shown.startswith("seuils pour 1\xa0000\xa0000 visages recherchés : correspondance à partir de")
    assert "à partir de 0,450 (au plus 0,0098 inconnus attendus par demande)" in shown
    assert "extrapolé" not in shown
    # A record without the figures keeps its recorded sentence.
    assert thresholds_why_shown(record={"match": 0.45, "why": "test"}) == "test"
