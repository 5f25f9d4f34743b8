"""One rule, one answer: the status page, the API and the dashboard agree, clock pause on and off.

Each rule has one function (rights.lifecycle.clock.request_due_in_force, requests_overdue /
request_overdue, rights.requester.requests.request_followup_allowed,
rights.staff.actions.request_extension_refusal); these tests read what each surface shows and
check that they say the same thing, for a request that is waiting for the person (the pause
matters) and for one that is not. The clock is frozen; no score or threshold is involved.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from rights.lifecycle import clock
from rights.models import DataRequest, RequestStatus
from rights.requester import requests as requester
from rights.staff.actions import ActionRefused, request_extend
from tests.rights.staff_helpers import PRIVACY_OFFICER, local, make_request, staff_login, staff_user

pytestmark = pytest.mark.django_db

NOW = local(2024, 5, 20, 12, 0)
PAUSE = [pytest.param(True, id="pause-on"), pytest.param(False, id="pause-off")]


@pytest.fixture
def officer():
    return staff_user(PRIVACY_OFFICER)


@pytest.fixture
def surfaces(client, officer):
    """Readers of the three surfaces for one request, all at NOW."""
    staff_login(client, officer)
    api = APIClient()
    api.force_authenticate(officer)

    class Surfaces:
        @staticmethod
        def page(request: DataRequest):
            return client.get(reverse("public:status", args=[request.public_token])).context

        @staticmethod
        def api(request: DataRequest) -> dict:
            response = api.get(f"/api/requests/{request.id}/")
            assert response.status_code == 200, response.content
            return response.json()

        @staticmethod
        def api_overdue_ids() -> set[int]:
            response = api.get("/api/requests/", {"overdue": "true", "page_size": 1000})
            assert response.status_code == 200, response.content
            return {row["id"] for row in response.json()["results"]}

        @staticmethod
        def dashboard(request: DataRequest):
            response = client.get(reverse("admin:rights_datarequest_change", args=[request.id]))
            assert response.status_code == 200
            return response.context

        @staticmethod
        def dashboard_overdue_ids() -> set[int]:
            response = client.get(reverse("admin:rights_datarequest_changelist"), {"overdue": "yes"})
            assert response.status_code == 200
            return {r.id for r in response.context["cl"].queryset}

    return Surfaces


def _waiting(*, days_waited: int, due_in_days: int) -> DataRequest:
    """A request waiting for a new photo for ``days_waited`` days, due (stored) ``due_in_days`` from NOW."""
    return make_request(
        status=RequestStatus.NEEDS_SELFIE,
        received_at=NOW - timedelta(days=20),
        due_at=clock.end_of_local_day(day=(NOW + timedelta(days=due_in_days)).date()),
        waiting_since=NOW - timedelta(days=days_waited, hours=1),
    )


@pytest.mark.parametrize("pause", PAUSE)
def test_the_due_date_in_force_is_the_same_everywhere(settings, surfaces, pause) -> None:
    settings.CLOCK_PAUSES_WHILE_WAITING = pause
    waiting = _waiting(days_waited=10, due_in_days=3)
    working = make_request(status=RequestStatus.REVIEW, received_at=NOW - timedelta(days=5))
    with time_machine.travel(NOW, tick=False):
        for request in (waiting, working):
            due = clock.request_due_in_force(request=request)
            page, api, dashboard = surfaces.page(request), surfaces.api(request), surfaces.dashboard(request)
            assert page["due_at"] == due
            assert parse_datetime(api["effective_due_at"]) == due
            assert dashboard["clock"]["effective_due_at"] == due
            assert page["days_left"] == api["days_left"] == clock.days_left(due_at=due)
        # The pause moves the waiting request's date by the whole days waited, and only then.
        moved = clock.request_due_in_force(request=waiting) - waiting.due_at
        assert moved == (timedelta(days=10) if pause else timedelta(0))


@pytest.mark.parametrize("pause", PAUSE)
def test_overdue_is_the_same_everywhere(settings, surfaces, pause) -> None:
    settings.CLOCK_PAUSES_WHILE_WAITING = pause
    # Past its stored date, but it waited 10 days for the person: overdue only without the pause.
    waiting = _waiting(days_waited=10, due_in_days=-2)
    late = make_request(status=RequestStatus.REVIEW, received_at=NOW - timedelta(days=40))
    in_time = make_request(status=RequestStatus.REVIEW, received_at=NOW - timedelta(days=5))
    # Never confirmed and past its date: not yet a request anyone can act on, so never overdue
    # (before the fix the API counted it and the dashboard did not).
    unconfirmed = make_request(status=RequestStatus.UNCONFIRMED, received_at=NOW - timedelta(days=40))
    expected = {late.id} | ({waiting.id} if not pause else set())
    with time_machine.travel(NOW, tick=False):
        assert set(clock.requests_overdue().values_list("id", flat=True)) == expected
        assert surfaces.api_overdue_ids() == expected
        assert surfaces.dashboard_overdue_ids() == expected
        for request in (waiting, late, in_time, unconfirmed):
            overdue = request.id in expected
            assert clock.request_overdue(request=request) is overdue
            assert surfaces.page(request)["overdue"] is overdue, request.status
            badge = surfaces.dashboard(request)["clock"]["badge"]
            assert ("overdue" in badge) is overdue, badge


@pytest.mark.parametrize("pause", PAUSE)
@pytest.mark.parametrize(
    "status",
    [RequestStatus.UNCONFIRMED, RequestStatus.NEEDS_SELFIE, RequestStatus.REVIEW, RequestStatus.ANSWERED],
)
def test_the_follow_up_button_shows_exactly_when_a_follow_up_is_counted(settings, surfaces, pause, status):
    settings.CLOCK_PAUSES_WHILE_WAITING = pause
    request = make_request(status=status, received_at=NOW - timedelta(days=5))
    with time_machine.travel(NOW, tick=False):
        shown = surfaces.page(request)["can_follow_up"]
        assert shown is requester.request_followup_allowed(request=request)
        try:
            requester.request_followup(request=request)
            counted = True
        except requester.RequestStateError as refused:  # a closed or unconfirmed request: a clear error
            assert str(refused)
            counted = False
    request.refresh_from_db()
    assert counted is shown and request.followups == (1 if shown else 0)
    assert shown is (status in (RequestStatus.NEEDS_SELFIE, RequestStatus.REVIEW))


@pytest.mark.parametrize("pause", PAUSE)
def test_the_extend_form_shows_exactly_when_an_extension_is_accepted(settings, surfaces, officer, pause):
    settings.CLOCK_PAUSES_WHILE_WAITING = pause
    # Past its stored original date, but it waited 10 days: still extendable only with the pause.
    waiting = _waiting(days_waited=10, due_in_days=-2)
    working = make_request(status=RequestStatus.REVIEW, received_at=NOW - timedelta(days=5))
    unconfirmed = make_request(status=RequestStatus.UNCONFIRMED, received_at=NOW - timedelta(days=5))
    with time_machine.travel(NOW, tick=False):
        for request, possible in ((waiting, pause), (working, True), (unconfirmed, False)):
            assert surfaces.dashboard(request)["clock"]["extension_possible"] is possible, request.status
            try:
                request_extend(
                    request_id=request.id, user=officer, months=1, reason="Many requests this week."
                )
                accepted = True
            except ActionRefused as refused:  # the reason code says why; nothing was changed
                assert refused.reason_code in {"too_late", "unconfirmed"}
                assert DataRequest.objects.get(id=request.id).extended_until is None
                accepted = False
            assert accepted is possible, request.status
            # Once extended, neither the dashboard nor the service offers a second one.
            if accepted:
                assert surfaces.dashboard(request)["clock"]["extension_possible"] is False
