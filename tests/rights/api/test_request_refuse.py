"""POST /api/v1/requests/<reference>/refuse/: refuse with a written justification (privacy officer);
the reviewer (teammate) and the outsider are refused and nothing changes."""

from __future__ import annotations

import pytest

from rights.models import RequestStatus
from tests.rights.staff_helpers import make_request


def _post(caller, request, action, body=None):
    return caller.client.post(f"/api/v1/requests/{request.reference}/{action}/", body or {}, format="json")


@pytest.mark.django_db
def test_refuse(owner, teammate, outsider, mailoutbox):
    request = make_request()
    assert _post(outsider, request, "refuse", {"reason": "x"}).status_code == 403
    assert _post(teammate, request, "refuse", {"reason": "x"}).status_code == 403
    assert _post(owner, request, "refuse", {}).status_code == 400  # a refusal needs its justification
    response = _post(owner, request, "refuse", {"reason": "The same request, sent 40 times this week."})
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == RequestStatus.REFUSED and len(mailoutbox) == 1
