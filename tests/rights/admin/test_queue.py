"""The queue (issue 13): partial search by email, identifier, image URL or number; CSV export and
linking as bulk actions; the Summary linked from the admin home."""

# ruff: noqa: F811 (fixtures imported from test_admin are used as arguments)
from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from matching.models import Image
from rights.models import Match
from tests.rights.admin.test_admin import users  # noqa: F401 (fixture)
from tests.rights.staff_helpers import PRIVACY_OFFICER, VIEWER, local, make_request, staff_login

pytestmark = pytest.mark.django_db

QUEUE = reverse("admin:rights_datarequest_changelist")


def shown(client, query: str) -> set[int]:
    response = client.get(QUEUE, {"q": query})
    assert response.status_code == 200
    return {r.id for r in response.context["cl"].result_list}


def test_partial_search_by_email_identifier_url_and_number(client, users) -> None:
    ana = make_request(email="Ana.Lopez@example.org", identifiers="https://social.example/@ana_l")
    bob = make_request(email="bob@example.net")
    image = Image.objects.create(
        sha256="a" * 64,
        collected_at=local(2021, 1, 1),
        width=1,
        height=1,
        file="",
        source_url="https://photos.example.net/album/77/bob.jpg",
        account="bobby",
    )
    Match.objects.create(request=bob, image=image, image_sha256=image.sha256, score=0.7, band="match")
    staff_login(client, users[VIEWER])
    assert shown(client, "ana.lopez") == {ana.id}  # part of an email, any case
    assert shown(client, "@ana_l") == {ana.id}  # part of an identifier
    assert shown(client, "album/77") == {bob.id}  # part of a candidate image's URL
    assert shown(client, "bobby") == {bob.id}  # the image's account
    assert shown(client, f"#{bob.id}") == {bob.id} and ana.id in shown(client, str(ana.id))
    assert shown(client, "example") == {ana.id, bob.id}  # one row each, however many matches
    # Bad or odd input: nothing found, or everything for blanks; never an error.
    assert shown(client, "nobody-here") == set()
    assert shown(client, "   ") == {ana.id, bob.id}
    assert shown(client, "9" * 40) == set() and shown(client, "%_'\"") == set()


def test_csv_export_of_the_selected_requests_holds_no_email(client, users) -> None:
    first = make_request(email="first@example.org", received_at=local(2024, 5, 2, 10))
    second = make_request(kind="erasure", email="second@example.org", received_at=local(2024, 5, 3, 10))
    staff_login(client, users[VIEWER])
    response = client.post(QUEUE, {"action": "export_csv", "_selected_action": [first.id, second.id]})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["id"], r["kind"], r["received"], r["due"]) for r in rows] == [
        (str(first.id), "access", "2024-05-02", "2024-06-02"),
        (str(second.id), "erasure", "2024-05-03", "2024-06-03"),
    ]
    assert "@" not in response.content.decode()


def test_linking_the_selected_as_the_same_person(client, users) -> None:
    earliest = make_request(received_at=local(2024, 3, 1, 10))
    later = make_request(received_at=local(2024, 4, 1, 10))
    latest = make_request(received_at=local(2024, 5, 1, 10))
    staff_login(client, users[PRIVACY_OFFICER])
    ids = [latest.id, earliest.id, later.id]
    response = client.post(QUEUE, {"action": "link_same_person", "_selected_action": ids}, follow=True)
    assert f"to the earliest, #{earliest.id}" in " ".join(str(m) for m in response.context["messages"])
    assert set(latest.earlier_requests.values_list("id", flat=True)) == {earliest.id}
    assert set(later.earlier_requests.values_list("id", flat=True)) == {earliest.id}
    # One request ticked: a clear refusal, nothing linked.
    response = client.post(
        QUEUE, {"action": "link_same_person", "_selected_action": [earliest.id]}, follow=True
    )
    assert "tick at least two" in " ".join(str(m) for m in response.context["messages"])
    # A read-only viewer is not offered the action, and posting it does nothing.
    staff_login(client, users[VIEWER])
    assert "link_same_person" not in client.get(QUEUE).content.decode()
    other = make_request(received_at=local(2024, 6, 1, 10))
    client.post(QUEUE, {"action": "link_same_person", "_selected_action": [earliest.id, other.id]})
    assert not other.earlier_requests.exists()


def test_the_summary_is_linked_from_the_admin_home(client, users) -> None:
    staff_login(client, users[VIEWER])
    html = client.get(reverse("admin:index")).content.decode()
    assert 'id="rights-home-links"' in html and reverse("admin:rights_summary") in html
