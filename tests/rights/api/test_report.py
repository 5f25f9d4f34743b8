"""GET /api/v1/report/: the compliance report (officer only, audited), with each request's channel."""

from __future__ import annotations

import pytest
from django.utils import timezone

from rights.models import AuditEvent, RequestChannel
from tests.rights.staff_helpers import make_request

URL = "/api/v1/report/"


@pytest.mark.django_db
def test_owner_gets_the_report_and_the_export_is_audited(owner, teammate):
    made = make_request(channel=RequestChannel.PHONE)
    today = timezone.localdate().isoformat()
    response = owner.client.get(URL, {"date_from": today, "date_to": today})
    assert response.status_code == 200, response.json()
    lines = response.json()["requests"]
    assert len(lines) == 1 and lines[0]["channel"] == "phone" and lines[0]["request_id"] == made.id
    assert AuditEvent.objects.filter(action="compliance_report_exported", detail__via="api").count() == 1
    assert teammate.client.get(URL, {"date_from": today, "date_to": today}).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        {"date_from": "2026-02-01", "date_to": "2026-01-01"},  # the period ends before it starts
        {"date_from": "0001-01-01", "date_to": "0001-01-01"},  # outside the calendar the report covers
        {"date_from": "yesterday", "date_to": "2026-01-01"},
        {},
    ],
)
def test_a_bad_period_is_400_and_nothing_is_audited(owner, query):
    response = owner.client.get(URL, query)
    assert response.status_code == 400 and response.json()["detail"]
    assert not AuditEvent.objects.filter(action="compliance_report_exported").exists()
