"""The deadline sweep: due-soon reminders (each once), escalation (once), overdue counts.

Frozen clock; TIME_ZONE is Europe/Paris, so the dates below are local calendar days.
"""

from __future__ import annotations

import socket

import pytest
import time_machine
from django.core import mail

from rights.models import AuditEvent, DataRequest, RequestKind, RequestStatus
from rights.upkeep.deadlines import deadlines_sweep
from tests.rights.jobs_helpers import local, make_request

pytestmark = pytest.mark.django_db

STAFF = "team@privacy.example"
DPO = "dpo@privacy.example"


@pytest.fixture(autouse=True)
def _addresses(settings):
    settings.STAFF_REMINDER_EMAIL = STAFF
    settings.PRIVACY_OFFICER_EMAIL = DPO
    settings.DUE_SOON_REMINDER_DAYS = [7, 2]


@pytest.fixture
def seeded() -> dict[str, DataRequest]:
    """Requests as they stand on 10 March 2026 (due dates: one calendar month after receipt)."""
    return {
        "due_in_7": make_request(received_at=local(2026, 2, 17, 12)),  # due 17 March
        "due_in_2": make_request(received_at=local(2026, 2, 12, 12)),  # due 12 March: 7 and 2 reached
        "due_today": make_request(received_at=local(2026, 2, 10, 9)),  # due 10 March 23:59:59
        "due_later": make_request(received_at=local(2026, 3, 1, 12)),  # due 1 April
        "overdue": make_request(received_at=local(2026, 2, 5, 12), status=RequestStatus.APPROVED),  # 5 March
        "overdue_waiting": make_request(received_at=local(2026, 2, 8, 12), status=RequestStatus.NEEDS_SELFIE),
        "extended": make_request(
            received_at=local(2026, 2, 1, 12),
            extended_until=local(2026, 4, 1, 23, 59, 59),
            extension_reason="Complex request",
            extension_notified_at=local(2026, 2, 20, 12),
        ),
        "answered_late": make_request(
            received_at=local(2026, 1, 10, 12),
            status=RequestStatus.ANSWERED,
            answered_at=local(2026, 2, 15, 12),
            closed_at=local(2026, 2, 15, 12),
        ),
        "refused": make_request(received_at=local(2026, 1, 20, 12), status=RequestStatus.REFUSED),
        "unconfirmed": make_request(received_at=local(2026, 2, 1, 12), status=RequestStatus.UNCONFIRMED),
    }


def _reminded_ids() -> list[int]:
    return sorted(e.request_id for e in AuditEvent.objects.filter(action="due_soon_reminder"))


def test_sweep_reminds_escalates_and_counts(seeded):
    with time_machine.travel(local(2026, 3, 10, 8), tick=False):
        result = deadlines_sweep()

    assert (result.reminded, result.escalated, result.overdue, result.failed) == (3, 2, 2, 0)
    by_id = {r.id: r for r in DataRequest.objects.all()}
    assert by_id[seeded["due_in_7"].id].reminders_sent == [7]
    # A missed threshold is marked, not sent as a second email.
    assert by_id[seeded["due_in_2"].id].reminders_sent == [2, 7]
    assert by_id[seeded["due_today"].id].reminders_sent == [2, 7]
    for name in ("due_later", "extended", "answered_late", "refused", "unconfirmed", "overdue"):
        assert by_id[seeded[name].id].reminders_sent == [], name
    escalated = {r.id for r in by_id.values() if r.escalated_at is not None}
    assert escalated == {seeded["overdue"].id, seeded["overdue_waiting"].id}

    reminders = [m for m in mail.outbox if m.to == [STAFF]]
    escalations = [m for m in mail.outbox if m.to == [DPO]]
    assert len(mail.outbox) == 5
    assert sorted(m.subject for m in reminders) == sorted(
        [
            f"[facerights] Request #{seeded['due_in_7'].id} is due in 7 days (17 March 2026)",
            f"[facerights] Request #{seeded['due_in_2'].id} is due in 2 days (12 March 2026)",
            f"[facerights] Request #{seeded['due_today'].id} is due in 0 days (10 March 2026)",
        ]
    )
    overdue_mail = next(m for m in escalations if f"#{seeded['overdue'].id} " in m.subject)
    assert "OVERDUE" in overdue_mail.subject and "5 March 2026" in overdue_mail.subject
    assert "Days overdue: 5" in overdue_mail.body
    assert f"/admin/rights/datarequest/{seeded['overdue'].id}/change/" in overdue_mail.body
    # Logs and audit detail never carry the requester's address.
    assert all("person@example.org" not in m.body for m in mail.outbox)
    assert AuditEvent.objects.filter(action="overdue_escalated").count() == 2
    assert _reminded_ids() == sorted([seeded["due_in_7"].id, seeded["due_in_2"].id, seeded["due_today"].id])


def test_each_reminder_once_and_escalation_once(seeded):
    with time_machine.travel(local(2026, 3, 10, 8), tick=False):
        deadlines_sweep()
        again = deadlines_sweep()
    assert (again.reminded, again.escalated, again.overdue) == (0, 0, 2)
    assert len(mail.outbox) == 5

    with time_machine.travel(local(2026, 3, 15, 8), tick=False):
        later = deadlines_sweep()
    # due_in_7 now has 2 days left: its second reminder. due_in_2 and due_today are now overdue.
    assert (later.reminded, later.escalated, later.overdue) == (1, 2, 4)
    assert DataRequest.objects.get(id=seeded["due_in_7"].id).reminders_sent == [2, 7]
    assert AuditEvent.objects.filter(action="overdue_escalated").count() == 4

    with time_machine.travel(local(2026, 3, 20, 8), tick=False):
        last = deadlines_sweep()
    # Everything overdue was already escalated; the first reminder's request is now overdue too.
    assert (last.reminded, last.escalated, last.overdue) == (0, 1, 5)
    assert AuditEvent.objects.filter(action="overdue_escalated").count() == 5
    assert len(_reminded_ids()) == 4


def test_answered_request_stops_being_watched(seeded):
    DataRequest.objects.filter(id=seeded["overdue"].id).update(
        status=RequestStatus.ANSWERED, answered_at=local(2026, 3, 9, 12), closed_at=local(2026, 3, 9, 12)
    )
    with time_machine.travel(local(2026, 3, 10, 8), tick=False):
        result = deadlines_sweep()
    assert (result.escalated, result.overdue) == (1, 1)
    assert DataRequest.objects.get(id=seeded["overdue"].id).escalated_at is None


def test_reminder_days_are_a_setting(settings):
    settings.DUE_SOON_REMINDER_DAYS = [3]
    request = make_request(received_at=local(2026, 2, 17, 12), kind=RequestKind.ACCESS)  # due 17 March
    with time_machine.travel(local(2026, 3, 13, 8), tick=False):  # 4 days left
        assert deadlines_sweep().reminded == 0
    with time_machine.travel(local(2026, 3, 14, 8), tick=False):  # 3 days left
        assert deadlines_sweep().reminded == 1
    request.refresh_from_db()
    assert request.reminders_sent == [3]


def test_unsendable_email_records_nothing_and_is_retried(settings, seeded):
    """A mail server refusing connections: nothing is marked sent, the next run sends it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port
    with time_machine.travel(local(2026, 3, 10, 8), tick=False):
        failed = deadlines_sweep()
    assert (failed.reminded, failed.escalated, failed.overdue, failed.failed) == (0, 0, 2, 5)
    assert not DataRequest.objects.filter(escalated_at__isnull=False).exists()
    assert not DataRequest.objects.exclude(reminders_sent=[]).exists()
    assert not AuditEvent.objects.filter(action__in=["due_soon_reminder", "overdue_escalated"]).exists()

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with time_machine.travel(local(2026, 3, 10, 9), tick=False):
        retried = deadlines_sweep()
    assert (retried.reminded, retried.escalated, retried.failed) == (3, 2, 0)
