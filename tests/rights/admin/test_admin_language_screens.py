# ruff: noqa: RUF001 (the Japanese and Chinese punctuation of the catalogues is meant)
"""Issue 12, part A: the recipients, notices, event endpoints and second-factor screens, the account
page, and every status and audit action shown on a staff screen, in the staff member's chosen
language (English by default).

A status or an action is shown as its label in that language, never as its stored code ("answered",
"search_started"): the code stays in the database, the CSV export and the API."""

from __future__ import annotations

import html as html_text
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.staff_language import staff_language_set
from rights.lifecycle.audit import audit_record
from rights.models import Recipient, RecipientNotice, RequestStatus
from rights.recipients.events import event_endpoint_create
from tests.rights.admin.test_admin_language import officer_in
from tests.rights.staff_helpers import PRIVACY_OFFICER, local, make_request, staff_login, staff_user

pytestmark = pytest.mark.django_db

RECIPIENTS = reverse("admin:rights_recipient_changelist")
NOTICES = reverse("admin:rights_recipientnotice_changelist")
ENDPOINTS = reverse("admin:rights_eventendpoint_changelist")
AUDIT = reverse("admin:rights_auditevent_changelist")
QUEUE = reverse("admin:rights_datarequest_changelist")


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


@pytest.fixture
def notices() -> None:
    """A recipient with no contact, one whose notice waits (chased twice), one that acknowledged."""
    Recipient.objects.create(name="Nowhere Ltd", contact_email="")
    waiting = Recipient.objects.create(name="Acme", contact_email="privacy@acme.example")
    done = Recipient.objects.create(name="Foo", contact_email="privacy@foo.example")
    data_request = make_request(status=RequestStatus.ANSWERED)
    sent = local(2026, 11, 2, 12)
    RecipientNotice.objects.create(
        request=data_request, recipient=waiting, image_hashes=["a" * 64], sent_at=sent, chase_count=2
    )
    RecipientNotice.objects.create(
        request=data_request,
        recipient=done,
        image_hashes=["a" * 64],
        sent_at=sent,
        acknowledged_at=sent + timedelta(days=3),
    )


# --- Recipients and their notices -----------------------------------------------------------------


def test_the_recipients_and_notices_screens_in_japanese(notices) -> None:
    client = officer_in("ja")
    html = page(client, RECIPIENTS)
    for japanese in ("連絡先", "提供した画像", "受領確認待ちの通知", "未登録：通知を送信できません"):
        assert japanese in html
    assert "Images released" not in html and "missing: notices cannot be sent" not in html
    html = page(client, NOTICES)
    assert "状態" in html and "画像" in html
    assert "2026-11-02 から受領確認待ち、督促 2 回" in html and "2026-11-05 に受領確認" in html
    assert "awaiting acknowledgement since" not in html and "chased 2 times" not in html
    acme = Recipient.objects.get(name="Acme")
    html = page(client, reverse("admin:rights_recipient_change", args=[acme.pk]))
    # The recipient's form and its releases.
    releases = ("受領者への提供", "提供日時", "画像の SHA-256")
    for japanese in ("連絡先メールアドレス", "Webhook の URL", *releases):
        assert japanese in html
    assert "Contact email" not in html and "Released at" not in html


def test_the_notices_screen_in_traditional_chinese_and_french(notices) -> None:
    html = page(officer_in("zh-hant"), NOTICES)
    assert "狀態" in html and "自 2026-11-02 起等待確認收到，已催告 2 次" in html
    html = html_text.unescape(page(officer_in("fr"), NOTICES))
    assert "État" in html and "accusé de réception attendu depuis le 2026-11-02, relancée 2 fois" in html
    assert "réception accusée le 2026-11-05" in html


def test_the_recipients_and_notices_screens_in_english_by_default(notices) -> None:
    client = officer_in(None)
    html = page(client, RECIPIENTS)
    assert "Images released" in html and "Notices awaiting acknowledgement" in html
    assert "missing: notices cannot be sent" in html and "連絡先" not in html
    html = page(client, NOTICES)
    assert "awaiting acknowledgement since 2026-11-02, chased 2 times" in html
    assert "acknowledged 2026-11-05" in html


def test_a_refused_webhook_address_is_explained_in_the_staff_members_language(settings) -> None:
    settings.NOTICE_WEBHOOK_ALLOW_PRIVATE = False
    form = {
        "name": "Hooked Ltd",
        "contact_email": "privacy@hooked.example",
        "webhook_url": "http://10.1.2.3/x",
        "releases-TOTAL_FORMS": "0",
        "releases-INITIAL_FORMS": "0",
        "releases-MIN_NUM_FORMS": "0",
        "releases-MAX_NUM_FORMS": "1000",
    }
    japanese = officer_in("ja").post(reverse("admin:rights_recipient_add"), form).content.decode()
    assert "Webhook のホスト名は公開されていないアドレス 1 件" in japanese
    assert "non-public address" not in japanese
    english = officer_in(None).post(reverse("admin:rights_recipient_add"), form).content.decode()
    assert "the webhook host resolves to 1 non-public address (loopback" in english
    assert not Recipient.objects.filter(name="Hooked Ltd").exists()


# --- Event endpoints --------------------------------------------------------------------------------


def test_the_event_endpoints_list_shows_the_events_labels_in_the_chosen_language() -> None:
    event_endpoint_create(
        url="https://93.184.215.14/hooks", events=["request.received"], description="CRM", actor="system"
    )
    html = page(officer_in("ja"), ENDPOINTS)
    assert "請求を受け付けた" in html and "request.received" not in html
    assert "最終配信日時" in html and "最終配信の結果" in html and "イベントエンドポイント" in html
    assert "Last delivery at" not in html
    html = page(officer_in("fr"), ENDPOINTS)
    assert "Une demande a été reçue" in html
    html = page(officer_in(None), ENDPOINTS)
    assert "A request was received" in html and "request.received" not in html
    assert "Last delivery at" in html


# --- Statuses: labels, never codes ------------------------------------------------------------------


@pytest.fixture
def answered():
    """An answered request, linked to an earlier one still under review, with its status changes
    in the audit trail."""
    earlier = make_request(status=RequestStatus.REVIEW)
    later = make_request(status=RequestStatus.ANSWERED, answered_at=timezone.now())
    later.earlier_requests.add(earlier)
    with transaction.atomic():
        audit_record(actor="system", action="search_started", request_id=later.id)
        audit_record(
            actor="system",
            action="answered",
            request_id=later.id,
            from_status=RequestStatus.FULFILLING,
            to_status=RequestStatus.ANSWERED,
        )
    return later


def test_the_request_page_and_the_audit_trail_show_status_labels_in_japanese(answered) -> None:
    client = officer_in("ja")
    html = page(client, reverse("admin:rights_datarequest_change", args=[answered.id]))
    assert "回答を準備中 → 回答済み" in html  # the timeline
    assert "fulfilling → answered" not in html
    assert "担当者の確認待ち)" in html  # the same person's earlier request: its status
    assert ", review)" not in html
    assert '<span title="search_started">検索を開始</span>' in html  # the action: label, code on hover
    html = page(client, AUDIT)
    assert "回答を準備中 → 回答済み" in html and '<span title="search_started">検索を開始</span>' in html
    assert "検索を開始</a>" in html  # the actions filter, by label


def test_the_queue_shows_a_closed_requests_status_label_not_its_code(answered) -> None:
    html = page(officer_in("zh-hant"), QUEUE + "?queue=closed")
    assert '<span class="days-left closed">已答覆</span>' in html
    html = page(officer_in(None), QUEUE + "?queue=closed")
    assert '<span class="days-left closed">Answered</span>' in html
    assert '<span class="days-left closed">answered</span>' not in html


def test_status_labels_are_english_by_default(answered) -> None:
    client = officer_in(None)
    html = page(client, reverse("admin:rights_datarequest_change", args=[answered.id]))
    assert "Preparing the answer → Answered" in html
    assert "Waiting for staff review)" in html
    assert '<span title="search_started">Search started</span>' in html
    html = page(client, AUDIT)
    assert "Preparing the answer → Answered" in html and "Search started</a>" in html


# --- The account page ------------------------------------------------------------------------------


def test_the_account_page_says_the_language_covers_the_admin_pages_too() -> None:
    user = staff_user(PRIVACY_OFFICER, username="rita")
    user.email = "rita@example.org"
    user.save()
    client = Client()
    staff_login(client, user)
    html = page(client, reverse("staff-account"))
    assert "Language of the admin pages and of the emails sent to you" in html
    assert "The admin pages are shown in it" in html
    # The confirmation is in the language just chosen, as is the page it comes back to.
    response = client.post(reverse("staff-account"), {"language": "ja"}, follow=True)
    html = response.content.decode()
    assert "管理画面とあなた宛てのメールは次の言語になります：日本語。" in html
    assert "管理画面とあなた宛てのメールの言語" in html and "管理画面はこの言語で表示され" in html
    assert "Language of the admin pages" not in html


def test_the_account_page_in_french() -> None:
    user = staff_user(PRIVACY_OFFICER, username="remi")
    staff_language_set(user=user, language="fr")
    client = Client()
    staff_login(client, user)
    html = html_text.unescape(page(client, reverse("staff-account")))  # the apostrophes
    assert "Langue des pages d'administration et des e-mails qui vous sont envoyés" in html
    assert "Les pages d'administration sont dans la langue que vous choisissez ici." in html


# --- Staff accounts: the second-factor devices (django-otp marks none of its texts) ------------------


def boss_in(language: str | None) -> Client:
    boss = staff_user(PRIVACY_OFFICER, username=f"boss-{language}")
    boss.is_superuser = True
    boss.save(update_fields=["is_superuser"])
    if language:
        staff_language_set(user=boss, language=language)
    client = Client()
    staff_login(client, boss)
    return client


def test_the_second_factor_devices_screens_in_the_chosen_language() -> None:
    phone = TOTPDevice.objects.create(user=staff_user(None, username="rita"), name="phone", confirmed=True)
    change = reverse("admin:otp_totp_totpdevice_change", args=[phone.pk])
    client = boss_in("ja")
    html = page(client, reverse("admin:otp_totp_totpdevice_changelist"))
    assert "最終使用日時" in html and "確認済み" in html and "TOTP デバイス" in html
    assert "last used at" not in html.lower()
    html = page(client, change)
    for japanese in ("識別情報", "試行制限", "このデバイスのわかりやすい名前。", "時間ステップ（秒）。"):
        assert japanese in html
    assert "Throttling" not in html and "The human-readable name of this device." not in html
    html = html_text.unescape(page(boss_in("fr"), change))
    assert "Identité" in html and "Limitation des tentatives" in html
    html = page(boss_in(None), change)
    assert "Throttling" in html and "The human-readable name of this device." in html
