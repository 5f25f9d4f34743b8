"""rights.reporting.charts: volume by kind, backlog at each month's end and median days to answer,
from seeded requests under a frozen clock; and the Summary page drawing them as inline SVG."""

# ruff: noqa: F811 (fixtures imported from test_admin are used as arguments)
from __future__ import annotations

from datetime import date

import pytest
import time_machine
from django.urls import reverse

from rights.models import DataRequest, RequestStatus
from rights.reporting.charts import backlog_by_month, bar_chart, median_days_to_answer, volume_by_kind
from tests.rights.admin.test_admin import users  # noqa: F401 (fixture)
from tests.rights.staff_helpers import VIEWER, local, make_request, staff_login

pytestmark = pytest.mark.django_db

NOW = local(2024, 6, 15, 12)


def answered(data_request: DataRequest, at) -> None:
    DataRequest.objects.filter(id=data_request.id).update(
        status=RequestStatus.ANSWERED, answered_at=at, closed_at=at
    )


@pytest.fixture
def seeded() -> None:
    a = make_request(received_at=local(2024, 4, 2, 10))  # answered after 10 days, in April
    answered(a, local(2024, 4, 12, 10))
    b = make_request(kind="erasure", received_at=local(2024, 4, 20, 10))  # answered after 20 days, May
    answered(b, local(2024, 5, 10, 10))
    c = make_request(kind="erasure", received_at=local(2024, 5, 1, 10))  # after 30 days, May
    answered(c, local(2024, 5, 31, 10))
    make_request(kind="objection", received_at=local(2024, 5, 5, 10))  # still open
    make_request(status=RequestStatus.UNCONFIRMED, received_at=local(2024, 6, 1, 10))  # never confirmed


def test_volume_by_kind_counts_every_request_received_per_month(seeded) -> None:
    volume = dict(volume_by_kind(now=NOW))
    assert len(volume) == 12 and min(volume) == date(2023, 7, 1) and max(volume) == date(2024, 6, 1)
    assert volume[date(2024, 4, 1)] == {"access": 1, "erasure": 1, "objection": 0}
    assert volume[date(2024, 5, 1)] == {"access": 0, "erasure": 1, "objection": 1}
    assert volume[date(2024, 6, 1)] == {"access": 1, "erasure": 0, "objection": 0}


def test_backlog_counts_confirmed_requests_open_at_each_months_end(seeded) -> None:
    backlog = dict(backlog_by_month(now=NOW))
    # End of April: b open (a answered 12 April). End of May: the objection. Now: the same.
    assert backlog[date(2024, 3, 1)] == 0
    assert backlog[date(2024, 4, 1)] == 1
    assert backlog[date(2024, 5, 1)] == 1
    assert backlog[date(2024, 6, 1)] == 1  # the unconfirmed one is not a backlog


def test_median_days_to_answer_per_month_answered(seeded) -> None:
    median = dict(median_days_to_answer(now=NOW))
    assert median[date(2024, 4, 1)] == 10.0
    assert median[date(2024, 5, 1)] == 25.0  # 20 and 30 days
    assert median[date(2024, 6, 1)] is None  # none answered: nothing drawn, not zero


def test_bar_heights_are_proportional_and_stay_in_the_plot() -> None:
    chart = bar_chart(
        points=[(date(2024, 1, 1), [2.0, 1.0]), (date(2024, 2, 1), [None, 0.0])], series=["a", "b"]
    )
    first, second = chart.bars
    assert first.segments[0].height == pytest.approx(2 * first.segments[1].height, abs=0.2)
    assert all(s.y >= 0 and s.y + s.height <= chart.plot_bottom + 0.1 for s in first.segments)
    assert second.total == 0 and all(s.height == 0 for s in second.segments)


def test_the_summary_draws_the_three_charts(client, users, seeded) -> None:
    staff_login(client, users[VIEWER])
    with time_machine.travel(NOW, tick=False):
        html = client.get(reverse("admin:rights_summary")).content.decode()
    for chart in ("volume", "backlog", "median"):
        assert f'id="{chart}-chart"' in html and f'id="{chart}-title"' in html
    assert 'data-month="2024-05" data-total="25.0"' in html  # the median chart's May bar
    assert "<script" not in html.split('id="volume-chart"')[1].split("</svg>")[0]
