"""Staff emails in the staff member's language: the stored choice, the account page, the emails.

A reminder or an escalation to a staff member who chose Japanese is in Japanese (subject and body,
text and HTML); mail to a team address no account owns follows settings.STAFF_LANGUAGE. Frozen
clock; TIME_ZONE is Europe/Paris.
"""

from __future__ import annotations

import html

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core import mail
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext, ngettext

from portal.models import StaffPreference
from portal.staff_language import (
    StaffLanguageInvalid,
    staff_language_for_address,
    staff_language_get,
    staff_language_set,
)
from rights.lifecycle.clock import request_due_in_force
from rights.models import RequestStatus
from rights.pipeline.failures import staff_alert
from rights.recipients.notices import notices_missing_contact_alert
from rights.upkeep.deadlines import deadlines_sweep
from tests.rights.jobs_helpers import local, make_request
from tests.rights.staff_helpers import staff_login, staff_user

pytestmark = pytest.mark.django_db

TEAM = "team@privacy.example"
DPO = "dpo@privacy.example"


@pytest.fixture(autouse=True)
def _addresses(settings):
    settings.STAFF_REMINDER_EMAIL = TEAM
    settings.PRIVACY_OFFICER_EMAIL = DPO
    settings.DUE_SOON_REMINDER_DAYS = [7, 2]
    settings.STAFF_LANGUAGE = "en"
    yield
    translation.deactivate()


def staff_with(email: str, language: str | None, *, username: str = "dpo") -> User:
    user = User.objects.create_user(username=username, email=email, password="a long test password 1")
    User.objects.filter(pk=user.pk).update(is_staff=True)
    user.refresh_from_db()
    if language:
        staff_language_set(user=user, language=language)
    return user


def html_part(message) -> str:
    [(body, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return body


# --- The stored choice --------------------------------------------------------------------------


def test_a_staff_member_has_the_default_language_until_they_choose_one(settings):
    user = staff_with(DPO, None)
    assert staff_language_get(user=user) == settings.LANGUAGE_CODE
    assert staff_language_set(user=user, language="zh_Hant") == "zh-hant"  # the locale spelling too
    assert staff_language_get(user=user) == "zh-hant"
    assert staff_language_set(user=user, language="ja") == "ja"
    assert StaffPreference.objects.filter(user=user).count() == 1  # changed, not added


def test_a_language_that_is_not_one_of_the_five_is_refused_and_nothing_is_stored():
    user = staff_with(DPO, None)
    for bad in ("de", "", "japanese"):
        with pytest.raises(StaffLanguageInvalid, match="not one of the portal's languages: en, fr"):
            staff_language_set(user=user, language=bad)
    assert not StaffPreference.objects.exists()


def test_the_address_decides_whose_language_a_staff_email_is_in(settings):
    settings.STAFF_LANGUAGE = "fr"
    staff_with(DPO, "ja")
    assert staff_language_for_address(address="DPO@Privacy.example") == "ja"  # case does not matter
    assert staff_language_for_address(address=TEAM) == "fr"  # no account: the team setting
    assert staff_language_for_address(address="") == "fr"
    # Two accounts share an address and disagree: a shared mailbox, the team setting.
    staff_with(DPO, "zh-hans", username="deputy")
    assert staff_language_for_address(address=DPO) == "fr"
    # An account that is no longer staff (or inactive) does not decide.
    User.objects.filter(username="deputy").update(is_active=False)
    assert staff_language_for_address(address=DPO) == "ja"


# --- The account page ------------------------------------------------------------------------------


def test_a_staff_member_sets_their_own_language_on_their_account_page(client):
    user = staff_user(None, username="rita")
    staff_login(client, user)
    page = client.get(reverse("staff-account"))
    assert page.status_code == 200
    assert 'name="language"' in page.content.decode()
    # Every admin page links to it.
    assert f'href="{reverse("staff-account")}"' in client.get(reverse("admin:index")).content.decode()

    response = client.post(reverse("staff-account"), {"language": "ja"})
    assert response.status_code == 302
    assert staff_language_get(user=user) == "ja"
    assert "日本語" in client.get(response.url).content.decode()  # the confirmation names it


def test_the_account_page_refuses_a_language_it_does_not_offer_with_a_sentence(client):
    user = staff_user(None, username="rita")
    staff_login(client, user)
    response = client.post(reverse("staff-account"), {"language": "de"})
    assert response.status_code == 400
    assert "de is not one of the portal&#x27;s languages." in response.content.decode()
    assert not StaffPreference.objects.exists()


def test_the_account_page_needs_a_staff_login(client):
    response = client.get(reverse("staff-account"))
    assert response.status_code == 302 and reverse("admin:login") in response.url
    outsider = User.objects.create_user(username="outsider", password="a long test password 1")
    client.force_login(outsider)
    assert client.get(reverse("staff-account")).status_code == 302
    client.post(reverse("staff-account"), {"language": "ja"})
    assert not StaffPreference.objects.exists()


# --- The emails --------------------------------------------------------------------------------


def test_a_reminder_and_an_escalation_to_a_staff_member_in_japanese_are_in_japanese():
    staff_with(TEAM, "ja", username="team")
    staff_with(DPO, "ja")
    due_soon = make_request(received_at=local(2026, 2, 17, 12))  # due 17 March: 7 days left
    overdue = make_request(received_at=local(2026, 2, 5, 12), status=RequestStatus.APPROVED)
    with translation.override("fr"), time_machine.travel(local(2026, 3, 10, 8), tick=False):
        # A French page or worker sends them: still Japanese.
        result = deadlines_sweep()
    assert (result.reminded, result.escalated) == (1, 1)
    [reminder] = [m for m in mail.outbox if m.to == [TEAM]]
    [escalation] = [m for m in mail.outbox if m.to == [DPO]]

    with translation.override("ja"):
        due = request_due_in_force(request=due_soon, now=local(2026, 3, 10, 8))
        due_day = date_format(timezone.localtime(due), "DATE_FORMAT")
        expected = ngettext(
            "[facerights] Request #%(number)s is due in %(days)s day (%(due)s)",
            "[facerights] Request #%(number)s is due in %(days)s days (%(due)s)",
            7,
        ) % {"number": due_soon.pk, "days": 7, "due": due_day}
        kind = str(due_soon.get_kind_display())
        escalated_subject = gettext("[facerights] OVERDUE: request #%(number)s was due on %(due)s") % {
            "number": overdue.pk,
            "due": date_format(timezone.localtime(request_due_in_force(request=overdue)), "DATE_FORMAT"),
        }
    assert reminder.subject == expected
    assert "期限まであと 7 日" in reminder.subject and "2026年3月17日" in reminder.subject
    assert "残り日数：7" in reminder.body and "データ主体からの請求の期限が近づいています。" in reminder.body  # noqa: RUF001
    assert kind in reminder.body and kind != str(due_soon.get_kind_display())  # the kind too
    assert "due soon" not in reminder.body and "Days left" not in reminder.body
    assert escalated_subject == escalation.subject and "期限超過" in escalation.subject
    assert "超過日数：5" in escalation.body and "法定の期限" in escalation.body  # noqa: RUF001
    assert f"/admin/rights/datarequest/{overdue.pk}/change/" in escalation.body
    for message in (reminder, escalation):
        body = html_part(message)
        assert '<html lang="ja">' in body
        assert html.escape(message.subject) in body  # the title
        assert "ダッシュボードで開く：" in body and "Open it" not in body  # noqa: RUF001


def test_a_reminder_to_a_team_address_follows_staff_language(settings):
    settings.STAFF_LANGUAGE = "zh-hant"
    staff_with(DPO, "ja")  # someone else's choice changes nothing for the team's mailbox
    make_request(received_at=local(2026, 2, 17, 12))
    with time_machine.travel(local(2026, 3, 10, 8), tick=False):
        deadlines_sweep()
    [reminder] = mail.outbox
    assert reminder.to == [TEAM]
    assert "將在 7 天後到期" in reminder.subject
    assert "剩餘天數：7" in reminder.body  # noqa: RUF001
    assert '<html lang="zh-Hant">' in html_part(reminder) and "剩餘天數：7" in html_part(reminder)  # noqa: RUF001


def test_without_a_choice_or_a_setting_staff_emails_stay_english():
    make_request(received_at=local(2026, 2, 17, 12))
    with translation.override("ja"), time_machine.travel(local(2026, 3, 10, 8), tick=False):
        deadlines_sweep()
    [reminder] = mail.outbox
    assert reminder.subject.endswith("is due in 7 days (17 March 2026)")
    assert "Days left: 7" in reminder.body


def test_pipeline_and_missing_contact_alerts_are_in_the_officers_language():
    staff_with(DPO, "fr")
    first, second = make_request(), make_request()
    staff_alert(request_id=first.pk, reason="The search step raised RuntimeError; see the worker's log.")
    notices_missing_contact_alert(request_id=second.pk, notice_ids=[1, 2], names=["Acme Research", "Beta"])
    held, waiting = mail.outbox
    assert held.subject == f"[facerights] Demande {first.pk} suspendue"
    assert f"La demande {first.pk} a besoin d'un membre de l'équipe." in held.body
    assert "The search step raised RuntimeError" in held.body  # the reason as the audit trail has it
    assert waiting.subject == (
        f"[facerights] Notifications d'effacement en attente d'un contact (demande #{second.pk})"
    )
    assert "aucun contact pour 2 d'entre eux" in waiting.body and "- Acme Research" in waiting.body
    assert '<html lang="fr">' in html_part(waiting)
