"""POST /api/v1/requests/<reference>/matches/decide/: confirm or reject candidates (reviewer role)."""

from __future__ import annotations

import pytest

from rights.models import Match
from tests.rights.staff_helpers import make_request


@pytest.fixture
def candidates(db):
    request = make_request()
    other = make_request(email="other@example.org")
    mine = Match.objects.create(request=request, image_sha256="c" * 64, band=Match.Band.REVIEW, score=0.4)
    theirs = Match.objects.create(request=other, image_sha256="d" * 64, band=Match.Band.REVIEW, score=0.4)
    return request, mine, theirs


def _url(request):
    return f"/api/v1/requests/{request.reference}/matches/decide/"


def test_teammate_confirms_a_candidate(teammate, candidates):
    request, mine, _ = candidates
    response = teammate.client.post(
        _url(request), {"matches": [mine.id], "decision": "confirmed"}, format="json"
    )
    assert response.status_code == 200, response.json()
    mine.refresh_from_db()
    assert mine.decision == "confirmed" and mine.decided_by_id == teammate.user.id


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"matches": [], "decision": "confirmed"}, 400),  # nothing to decide
        ({"matches": [1], "decision": "maybe"}, 400),  # not a decision
        ("theirs", 404),  # another request's match is not found on this one
    ],
)
def test_bad_input_decides_nothing(owner, candidates, body, code):
    request, _, theirs = candidates
    if body == "theirs":
        body = {"matches": [theirs.id], "decision": "rejected"}
    assert owner.client.post(_url(request), body, format="json").status_code == code
    assert not Match.objects.exclude(decision="pending").exists()


def test_outsider_is_refused(outsider, candidates):
    request, mine, _ = candidates
    body = {"matches": [mine.id], "decision": "confirmed"}
    assert outsider.client.post(_url(request), body, format="json").status_code == 403
    mine.refresh_from_db()
    assert mine.decision == "pending"
