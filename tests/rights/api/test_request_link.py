"""POST /api/v1/requests/<reference>/link/: link to an earlier request of the same person (privacy
officer); the reviewer (teammate) and the outsider are refused and nothing changes."""

from __future__ import annotations

import pytest

from tests.rights.staff_helpers import make_request


def _post(caller, request, action, body=None):
    return caller.client.post(f"/api/v1/requests/{request.reference}/{action}/", body or {}, format="json")


@pytest.mark.django_db
def test_link(owner, teammate):
    earlier = make_request(email="p@example.org")
    later = make_request(email="p@example.org")
    assert _post(teammate, later, "link", {"earlier": earlier.reference}).status_code == 403
    assert _post(owner, later, "link", {"earlier": "R-NOSUCHREF00"}).status_code == 404
    response = _post(owner, later, "link", {"earlier": earlier.reference})
    assert response.status_code == 200, response.json()
    assert response.json()["earlier_requests"] == [earlier.reference]
