"""GET /api/v1/requests/<reference>/: one request with its timeline and its matches."""

from __future__ import annotations

import pytest

from rights.lifecycle.audit import audit_record
from rights.models import Match
from tests.rights.staff_helpers import make_request


@pytest.fixture
def request_with_match(db):
    request = make_request()
    audit_record(actor="system", action="searched", request_id=request.id, to_status="review")
    Match.objects.create(request=request, image_sha256="b" * 64, band=Match.Band.REVIEW, score=0.41)
    return request


def test_detail_has_timeline_and_matches(teammate, request_with_match):
    body = teammate.client.get(f"/api/v1/requests/{request_with_match.reference}/").json()
    assert body["reference"] == request_with_match.reference
    assert [e["action"] for e in body["timeline"]] == ["searched"]
    assert body["matches"][0]["band"] == "review" and body["matches"][0]["decision"] == "pending"
    assert "email" not in body


def test_a_sequential_id_or_unknown_reference_is_404(owner, request_with_match):
    assert owner.client.get(f"/api/v1/requests/{request_with_match.id}/").status_code == 404
    response = owner.client.get("/api/v1/requests/R-000000000000/")
    assert response.status_code == 404 and response.json()["detail"]


def test_outsider_is_refused(outsider, request_with_match):
    assert outsider.client.get(f"/api/v1/requests/{request_with_match.reference}/").status_code == 403
