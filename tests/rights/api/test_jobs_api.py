"""The read-only REST API for other systems (staff only) and its OpenAPI schema."""

from __future__ import annotations

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from rights.models import Recipient, RecipientNotice, RequestKind, RequestStatus
from rights.recipients.notices import notice_acknowledge, notices_create_for_erasure
from tests.rights.jobs_helpers import erase, local, make_image, make_request, release

pytestmark = pytest.mark.django_db

NOW = local(2026, 3, 10, 12)


def _client(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def viewer() -> User:
    user = User.objects.create_user("viewer", password="a long test password 1", is_staff=True)
    user.groups.add(Group.objects.get(name="Viewer"))
    return user


@pytest.fixture
def seeded():
    overdue = make_request(kind=RequestKind.ACCESS, received_at=local(2026, 2, 1, 12))  # due 1 March
    soon = make_request(
        kind=RequestKind.ERASURE, received_at=local(2026, 2, 20, 12), status=RequestStatus.ANSWERED
    )
    later = make_request(kind=RequestKind.OBJECTION, received_at=local(2026, 3, 5, 12))
    acme = Recipient.objects.create(name="Acme Research", contact_email="dpo@acme.example")
    beta = Recipient.objects.create(name="Beta Labs", contact_email="privacy@beta.example")
    one, two = make_image("one"), make_image("two")
    release(acme, one)
    release(beta, two)
    erase(soon, one)
    erase(soon, two)
    notices = notices_create_for_erasure(request_id=soon.id)
    notice_acknowledge(token=notices[0].ack_token)
    return {"overdue": overdue, "soon": soon, "later": later, "notices": notices}


def test_only_staff_with_the_view_permission_may_read(seeded, viewer):
    outsider = User.objects.create_user("outsider", password="a long test password 1")
    no_role = User.objects.create_user("norole", password="a long test password 1", is_staff=True)
    for user, expected in ((None, 403), (outsider, 403), (no_role, 403), (viewer, 200)):
        for url in ("/api/requests/", "/api/notices/", f"/api/requests/{seeded['overdue'].id}/"):
            assert _client(user).get(url).status_code == expected, (user, url)
    # Read-only: nothing can be changed through the API, even by a privacy officer.
    officer = User.objects.create_user("officer", password="a long test password 1", is_staff=True)
    officer.groups.add(Group.objects.get(name="Privacy officer"))
    client = _client(officer)
    assert client.post("/api/requests/", {"kind": "access"}).status_code == 405
    assert client.patch(f"/api/requests/{seeded['overdue'].id}/", {"status": "answered"}).status_code == 405
    assert client.delete(f"/api/notices/{seeded['notices'][0].id}/").status_code == 405


def test_requests_by_due_date_with_no_personal_data_or_secrets(seeded, viewer):
    with time_machine.travel(NOW, tick=False):
        body = _client(viewer).get("/api/requests/").json()
    assert body["count"] == 3
    rows = body["results"]
    assert [r["id"] for r in rows] == [seeded["overdue"].id, seeded["soon"].id, seeded["later"].id]
    assert rows[0]["days_left"] == -9 and rows[1]["days_left"] is None and rows[2]["days_left"] == 26
    for row in rows:
        assert "email" not in row and "public_token" not in row
    assert "person@example.org" not in str(body)


def test_request_filters_and_their_errors(seeded, viewer):
    client = _client(viewer)
    with time_machine.travel(NOW, tick=False):
        assert [r["id"] for r in client.get("/api/requests/?overdue=true").json()["results"]] == [
            seeded["overdue"].id
        ]
        assert client.get("/api/requests/?overdue=false").json()["count"] == 2
        assert [r["id"] for r in client.get("/api/requests/?kind=objection").json()["results"]] == [
            seeded["later"].id
        ]
        assert client.get("/api/requests/?status=answered").json()["count"] == 1
        bad_status = client.get("/api/requests/?status=lost")
        bad_flag = client.get("/api/requests/?overdue=perhaps")
    assert bad_status.status_code == 400 and "one of" in str(bad_status.json())
    assert bad_flag.status_code == 400 and "perhaps" in str(bad_flag.json())


def test_notices_show_acknowledgement_and_never_the_ack_token(seeded, viewer):
    client = _client(viewer)
    body = client.get(f"/api/notices/?request={seeded['soon'].id}").json()
    assert body["count"] == 2
    assert all("ack_token" not in row for row in body["results"])
    tokens = set(RecipientNotice.objects.values_list("ack_token", flat=True))
    assert not any(token in str(body) for token in tokens)
    waiting = client.get("/api/notices/?acknowledged=false").json()["results"]
    assert [(n["recipient"], len(n["image_hashes"])) for n in waiting] == [("Beta Labs", 1)]
    assert client.get("/api/notices/?request=abc").status_code == 400


def test_the_openapi_schema_describes_the_endpoints(viewer):
    response = _client(viewer).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert {"/api/requests/", "/api/requests/{id}/", "/api/notices/", "/api/notices/{id}/"} <= set(
        schema["paths"]
    )
    params = {p["name"] for p in schema["paths"]["/api/requests/"]["get"]["parameters"]}
    assert {"kind", "status", "overdue", "page"} <= params
    assert _client(None).get("/api/schema/").status_code == 403
