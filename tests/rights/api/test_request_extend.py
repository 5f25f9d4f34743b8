"""POST /api/v1/requests/<reference>/extend/: extend the deadline, with reasons sent to the person
(privacy officer); the reviewer (teammate) and the outsider are refused and nothing changes."""

from __future__ import annotations

import pytest

from rights.models import DataRequest
from tests.rights.staff_helpers import make_request


def _post(caller, request, action, body=None):
    return caller.client.post(f"/api/v1/requests/{request.reference}/{action}/", body or {}, format="json")


@pytest.mark.django_db
def test_extend(owner, teammate, mailoutbox):
    request = make_request()
    assert _post(teammate, request, "extend", {"months": 1, "reason": "many images"}).status_code == 403
    response = _post(owner, request, "extend", {"months": 2, "reason": "Thousands of images to check."})
    assert response.status_code == 200, response.json()
    assert response.json()["extended_until"] is not None and len(mailoutbox) == 1
    # A second extension is the extension rule's refusal, with its words.
    again = _post(owner, request, "extend", {"months": 1, "reason": "more"})
    assert again.status_code == 409 and again.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"months": 3, "reason": "x"}, {"months": 1}, {"reason": "x"}])
def test_extend_bad_input_is_400(owner, body):
    request = make_request()
    assert _post(owner, request, "extend", body).status_code == 400
    assert DataRequest.objects.get(id=request.id).extended_until is None
