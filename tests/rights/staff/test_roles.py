"""Staff roles: what each group may do, enforced on the server (not only by hidden buttons)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from rights.models import AuditEvent, DataRequest, Match, Recipient, RequestStatus
from rights.staff.actions import ActionRefused, request_extend, request_refuse
from tests.rights.staff_helpers import (
    PRIVACY_OFFICER,
    REFUSAL_REASON,
    REVIEWER,
    VIEWER,
    make_request,
    staff_login,
    staff_user,
)

pytestmark = pytest.mark.django_db

STAFF_ACTIONS = {
    "review_match",
    "approve_request",
    "extend_request",
    "refuse_request",
    "export_compliance_report",
}


def _codenames(group: str) -> set[str]:
    return set(Group.objects.get(name=group).permissions.values_list("codename", flat=True))


def test_the_migration_creates_the_three_roles() -> None:
    officer, reviewer, viewer = _codenames(PRIVACY_OFFICER), _codenames(REVIEWER), _codenames(VIEWER)
    views = {c for c in viewer if c.startswith("view_")}
    assert viewer == views and {"view_datarequest", "view_auditevent", "view_recipientnotice"} <= views
    assert reviewer == views | {"review_match"}
    assert officer >= views | STAFF_ACTIONS | {"change_datarequest", "add_recipient", "add_release"}
    # Nobody may edit or delete the audit trail, even the privacy officer.
    assert not {c for c in officer if c.endswith("_auditevent") and not c.startswith("view_")}


@pytest.fixture
def data_request() -> DataRequest:
    data_request = make_request(status=RequestStatus.REVIEW)
    Match.objects.create(request=data_request, image_sha256="a" * 64, score=0.3, band="review")
    return data_request


def _snapshot(data_request: DataRequest) -> tuple:
    fresh = DataRequest.objects.get(id=data_request.id)
    return (
        fresh.status,
        fresh.extended_until,
        fresh.refusal_reason,
        list(fresh.earlier_requests.values_list("id", flat=True)),
        list(fresh.matches.values_list("decision", flat=True)),
        AuditEvent.objects.count(),
    )


def _actions(data_request: DataRequest, earlier: DataRequest) -> dict[str, tuple[str, dict]]:
    match = data_request.matches.get()
    return {
        "approve": (reverse("admin:rights_datarequest_approve", args=[data_request.id]), {}),
        "extend": (
            reverse("admin:rights_datarequest_extend", args=[data_request.id]),
            {"months": "1", "reason": "Many requests this month."},
        ),
        "refuse": (
            reverse("admin:rights_datarequest_refuse", args=[data_request.id]),
            {"reason": REFUSAL_REASON},
        ),
        "link": (
            reverse("admin:rights_datarequest_link", args=[data_request.id]),
            {"earlier_id": earlier.id},
        ),
        "review": (
            reverse("admin:rights_datarequest_matches_decide", args=[data_request.id]),
            {"single": f"{match.id}:confirmed"},
        ),
    }


def test_a_reviewer_cannot_refuse_extend_approve_or_link(client, data_request, mailoutbox) -> None:
    earlier = make_request()
    staff_login(client, staff_user(REVIEWER))
    before = _snapshot(data_request)
    for name, (url, data) in _actions(data_request, earlier).items():
        if name == "review":
            continue
        assert client.post(url, data).status_code == 403, name
        assert _snapshot(data_request) == before, name
    assert mailoutbox == []


def test_a_reviewer_can_review_matches(client, data_request) -> None:
    staff_login(client, staff_user(REVIEWER))
    url, data = _actions(data_request, make_request())["review"]
    assert client.post(url, data).status_code == 302
    assert data_request.matches.get().decision == "confirmed"


def test_the_reviewer_page_offers_no_refuse_or_extend(client, data_request) -> None:
    staff_login(client, staff_user(REVIEWER))
    html = client.get(reverse("admin:rights_datarequest_change", args=[data_request.id])).content.decode()
    assert 'name="refuse"' not in html and 'name="extend"' not in html and 'name="approve"' not in html
    assert 'name="single"' in html


def test_services_refuse_a_reviewer_too(data_request) -> None:
    reviewer = staff_user(REVIEWER)
    for action in (
        lambda: request_extend(request_id=data_request.id, user=reviewer, months=1, reason="Many requests."),
        lambda: request_refuse(request_id=data_request.id, user=reviewer, reason=REFUSAL_REASON),
    ):
        with pytest.raises(ActionRefused) as refused:
            action()
        assert refused.value.reason_code == "not_permitted"


def test_a_viewer_cannot_change_anything(client, data_request, mailoutbox) -> None:
    earlier = make_request()
    viewer = staff_user(VIEWER)
    staff_login(client, viewer)
    before = _snapshot(data_request)
    for name, (url, data) in _actions(data_request, earlier).items():
        assert client.post(url, data).status_code == 403, name
        assert _snapshot(data_request) == before, name
    # The request page is read-only: no action form, no save button, and posting it is refused.
    change = reverse("admin:rights_datarequest_change", args=[data_request.id])
    html = client.get(change).content.decode()
    assert 'name="_save"' not in html and 'name="single"' not in html and 'name="refuse"' not in html
    assert client.post(change, {"status": "refused"}).status_code == 403
    # Nor recipients, nor the compliance export, nor the faces.
    assert (
        client.post(
            reverse("admin:rights_recipient_add"), {"name": "X", "contact_email": "x@x.example"}
        ).status_code
        == 403
    )
    assert not Recipient.objects.exists()
    report = client.get(reverse("admin:rights_compliance_report"), {"from": "2024-01-01", "to": "2024-12-31"})
    assert report.status_code == 403
    assert _snapshot(data_request) == before
    assert mailoutbox == []


def test_a_viewer_sees_the_queue_and_summary_but_not_faces(client, data_request) -> None:
    staff_login(client, staff_user(VIEWER))
    assert client.get(reverse("admin:rights_datarequest_changelist")).status_code == 200
    assert client.get(reverse("admin:rights_summary")).status_code == 200
    match = data_request.matches.get()
    assert client.get(reverse("admin:rights_match_image", args=[match.id])).status_code == 403


def test_staff_without_a_role_see_nothing(client, data_request) -> None:
    staff_login(client, staff_user(None, username="newcomer"))
    assert client.get(reverse("admin:rights_datarequest_changelist")).status_code == 403
    assert client.get(reverse("admin:rights_summary")).status_code == 403
    assert client.get(reverse("admin:rights_auditevent_changelist")).status_code == 403


def test_anonymous_users_are_sent_to_login(client, data_request) -> None:
    match = data_request.matches.get()
    login = reverse("admin:login")
    pages = [
        reverse("admin:index"),
        reverse("admin:rights_datarequest_changelist"),
        reverse("admin:rights_datarequest_change", args=[data_request.id]),
        reverse("admin:rights_summary"),
        reverse("admin:rights_compliance_report") + "?from=2024-01-01&to=2024-12-31",
        reverse("admin:rights_match_image", args=[match.id]),
        reverse("admin:rights_auditevent_changelist"),
        reverse("admin:rights_recipientnotice_changelist"),
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 302, page
        assert response["Location"].startswith(f"{login}?next="), page
    before = _snapshot(data_request)
    for url, data in _actions(data_request, make_request()).values():
        response = client.post(url, data)
        assert response.status_code == 302 and response["Location"].startswith(login), url
    assert _snapshot(data_request) == before


def test_a_non_staff_user_with_permissions_is_still_sent_to_login(client, data_request) -> None:
    user = staff_user(PRIVACY_OFFICER, username="not_staff")
    user.is_staff = False
    user.save()
    staff_login(client, user)
    url, data = _actions(data_request, make_request())["refuse"]
    assert client.post(url, data)["Location"].startswith(reverse("admin:login"))
    assert DataRequest.objects.get(id=data_request.id).status == RequestStatus.REVIEW
