"""POST /api/v1/requests/<reference>/approve/: approve the request for fulfilment (privacy officer);
the reviewer (teammate) and the outsider are refused and nothing changes."""

from __future__ import annotations

import pytest

from rights.models import DataRequest, Match, RequestStatus
from tests.rights.staff_helpers import make_request


def _post(caller, request, action, body=None):
    return caller.client.post(f"/api/v1/requests/{request.reference}/{action}/", body or {}, format="json")


@pytest.mark.django_db
def test_approve(owner, teammate):
    request = make_request()
    Match.objects.create(request=request, image_sha256="e" * 64, band=Match.Band.MATCH, score=0.9)
    assert _post(teammate, request, "approve").status_code == 403
    response = _post(owner, request, "approve")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == RequestStatus.APPROVED


@pytest.mark.django_db
def test_approve_is_refused_while_a_candidate_waits(owner):
    request = make_request()
    Match.objects.create(request=request, image_sha256="f" * 64, band=Match.Band.REVIEW, score=0.4)
    response = _post(owner, request, "approve")
    assert response.status_code == 409 and "review" in response.json()["detail"]
    assert DataRequest.objects.get(id=request.id).status == RequestStatus.REVIEW
