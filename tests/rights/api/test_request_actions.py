"""POST /api/v1/requests/<reference>/{approve,extend,refuse,link}/: the officer's actions; the
reviewer (teammate) and the outsider are refused and nothing changes."""

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


@pytest.mark.django_db
def test_refuse(owner, teammate, outsider, mailoutbox):
    request = make_request()
    assert _post(outsider, request, "refuse", {"reason": "x"}).status_code == 403
    assert _post(teammate, request, "refuse", {"reason": "x"}).status_code == 403
    assert _post(owner, request, "refuse", {}).status_code == 400  # a refusal needs its justification
    response = _post(owner, request, "refuse", {"reason": "The same request, sent 40 times this week."})
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == RequestStatus.REFUSED and len(mailoutbox) == 1


@pytest.mark.django_db
def test_link(owner, teammate):
    earlier = make_request(email="p@example.org")
    later = make_request(email="p@example.org")
    assert _post(teammate, later, "link", {"earlier": earlier.reference}).status_code == 403
    assert _post(owner, later, "link", {"earlier": "R-NOSUCHREF00"}).status_code == 404
    response = _post(owner, later, "link", {"earlier": earlier.reference})
    assert response.status_code == 200, response.json()
    assert response.json()["earlier_requests"] == [earlier.reference]
