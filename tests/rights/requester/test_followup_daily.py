"""rights.requester.requests.request_followup: at most one follow-up counted per request per day."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from rights.models import AuditEvent, RequestKind, RequestStatus
from rights.requester import requests as svc
from tests.rights.jobs_helpers import make_request

pytestmark = pytest.mark.django_db


def test_pressing_again_the_same_day_counts_nothing_more():
    request = make_request(kind=RequestKind.ACCESS, status=RequestStatus.REVIEW)
    morning = timezone.make_aware(datetime(2026, 12, 2, 8, 0))

    with time_machine.travel(morning, tick=False):
        svc.request_followup(request=request)
    for minutes in (1, 60, 15 * 60):  # up to 23:00 the same local day
        later = morning + timedelta(minutes=minutes)
        with time_machine.travel(later, tick=False), pytest.raises(svc.FollowupAlreadyCounted):
            svc.request_followup(request=request)

    request.refresh_from_db()
    # Before the fix each press added one: 4 here.
    assert request.followups == 1
    assert AuditEvent.objects.filter(request=request, action="followup").count() == 1

    with time_machine.travel(morning + timedelta(days=1), tick=False):
        svc.request_followup(request=request)
    request.refresh_from_db()
    assert request.followups == 2


def test_the_status_page_says_the_question_was_already_recorded(client):
    request = make_request(kind=RequestKind.ACCESS, status=RequestStatus.REVIEW)
    url = reverse("public:followup", kwargs={"token": request.public_token})

    client.post(url)
    page = client.post(url, follow=True)

    assert page.status_code == 200
    assert "already recorded your question today" in page.content.decode()
    request.refresh_from_db()
    assert request.followups == 1


def test_an_answered_request_still_counts_nothing():
    request = make_request(kind=RequestKind.ACCESS, status=RequestStatus.ANSWERED)
    with pytest.raises(svc.RequestStateError):
        svc.request_followup(request=request)
    request.refresh_from_db()
    assert request.followups == 0
