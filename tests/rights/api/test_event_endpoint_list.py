"""GET /api/v1/event-endpoints/ and /<id>/: every role reads them (never a secret); an outsider
gets 403; an endpoint is named by its public id, never a sequential one."""

from __future__ import annotations

import pytest

from rights.recipients.events import event_endpoint_create

URL = "/api/v1/event-endpoints/"


@pytest.fixture
def endpoint(db):
    return event_endpoint_create(url="https://93.184.215.14/h", events=["request.received"], actor="t")


@pytest.mark.django_db
def test_the_owner_and_a_teammate_read_the_list_and_one_without_the_secret(owner, teammate, endpoint):
    for caller in (owner, teammate):
        listed = caller.client.get(URL)
        assert listed.status_code == 200
        (row,) = listed.json()["results"]
        assert row["id"] == str(endpoint.public_id) and row["last_delivery_status"] == ""
        one = caller.client.get(f"{URL}{endpoint.public_id}/")
        assert one.status_code == 200 and one.json()["url"] == endpoint.url
        assert endpoint.secret not in listed.content.decode() + one.content.decode()


@pytest.mark.django_db
def test_an_outsider_gets_403(outsider, endpoint):
    assert outsider.client.get(URL).status_code == 403
    assert outsider.client.get(f"{URL}{endpoint.public_id}/").status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["1", "not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_a_sequential_or_unknown_id_is_404(owner, endpoint, name):
    response = owner.client.get(f"{URL}{name}/")
    assert response.status_code == 404 and response.json()["detail"]
