"""GET /api/v1/requests/: staff list and filter requests, by public reference, paginated."""

from __future__ import annotations

import pytest
from django.utils import timezone

from rights.models import RequestChannel, RequestKind, RequestStatus
from tests.rights.staff_helpers import make_request

URL = "/api/v1/requests/"


@pytest.fixture
def requests(db):
    now = timezone.now()
    return [
        make_request(kind=RequestKind.ACCESS, received_at=now - timezone.timedelta(days=40)),  # overdue
        make_request(kind=RequestKind.ERASURE, channel=RequestChannel.POST),
        make_request(kind=RequestKind.OBJECTION, status=RequestStatus.ANSWERED, answered_at=now),
    ]


def test_owner_and_teammate_list_ordered_by_due_date_with_references_only(owner, teammate, requests):
    for caller in (owner, teammate):
        body = caller.client.get(URL).json()
        assert body["count"] == 3
        assert body["results"][0]["reference"] == requests[0].reference
        assert all("id" not in r and "email" not in r for r in body["results"])


def test_filters(owner, requests):
    def refs(**query):
        return {r["reference"] for r in owner.client.get(URL, query).json()["results"]}

    assert refs(kind="erasure") == {requests[1].reference}
    assert refs(channel="post") == {requests[1].reference}
    assert refs(status="answered") == {requests[2].reference}
    assert refs(overdue="true") == {requests[0].reference}
    assert requests[0].reference not in refs(overdue="false")
    assert len(owner.client.get(URL, {"page_size": 1}).json()["results"]) == 1


@pytest.mark.parametrize(
    "query",
    [{"kind": "everything"}, {"channel": "fax"}, {"received_after": "yesterday"}, {"overdue": "maybe"}],
)
def test_a_bad_filter_gets_400_naming_it(owner, requests, query):
    response = owner.client.get(URL, query)
    assert response.status_code == 400 and set(query) <= set(response.json()["errors"])


def test_outsider_and_anonymous_are_refused(outsider, client, requests):
    assert outsider.client.get(URL).status_code == 403
    assert client.get(URL).status_code in (401, 403)


def test_received_filters_take_any_offset_and_refuse_dates_out_of_range(owner, requests):
    # An offset PostgreSQL refuses (+20:42) is read in UTC; a year outside 1970-2999 is a 400.
    response = owner.client.get(URL, {"received_after": "2000-01-01T00:00:00+20:42"})
    assert response.status_code == 200 and response.json()["count"] == 3
    assert owner.client.get(URL, {"received_before": "2000-01-01T00:00:00Z"}).json()["count"] == 0
    response = owner.client.get(URL, {"received_after": "0245-04-22T06:33:21+20:42"})
    assert response.status_code == 400 and "received_after" in response.json()["errors"]
