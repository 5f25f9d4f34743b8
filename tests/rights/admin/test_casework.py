"""Casework on the request page (issue 13): assignment, internal notes and messages to the
requester, each audited; the status page shows messages, never notes."""

# ruff: noqa: F811 (fixtures imported from test_admin are used as arguments)
from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from rights.casework import Assignment, RequestNote
from rights.models import AuditEvent, RequestStatus
from tests.rights.admin.test_admin import users  # noqa: F401 (fixture)
from tests.rights.staff_helpers import (
    PRIVACY_OFFICER,
    REVIEWER,
    VIEWER,
    break_the_mail_server,
    make_request,
    staff_login,
)

pytestmark = pytest.mark.django_db


def post(client, name: str, data_request, data: dict) -> str:
    url = reverse(f"admin:rights_datarequest_{name}", args=[data_request.id])
    response = client.post(url, data, follow=True)
    assert response.status_code == 200
    return " ".join(str(m) for m in response.context["messages"])


def casework_events(data_request) -> list[dict]:
    return list(
        AuditEvent.objects.filter(request=data_request, action="casework_recorded")
        .order_by("id")
        .values_list("detail", flat=True)
    )


def test_the_officer_assigns_a_request_and_the_queue_shows_it(client, users) -> None:
    data_request = make_request(status=RequestStatus.REVIEW)
    staff_login(client, users[PRIVACY_OFFICER])
    reviewer = users[REVIEWER]
    assert "assigned to reviewer" in post(client, "assign", data_request, {"assignee": reviewer.id})
    assert data_request.__class__.objects.get(id=data_request.id).assignment.assignee == reviewer
    queue = client.get(reverse("admin:rights_datarequest_changelist")).content.decode()
    assert '<td class="field-assigned">reviewer</td>' in queue
    queue_url = reverse("admin:rights_datarequest_changelist")
    staff_login(client, reviewer)
    mine = client.get(queue_url, {"assigned": "me"}).context["cl"].result_list
    assert [r.id for r in mine] == [data_request.id]
    staff_login(client, users[PRIVACY_OFFICER])
    assert not client.get(queue_url, {"assigned": "me"}).context["cl"].result_list
    assert "assigned to no one" in post(client, "assign", data_request, {"assignee": ""})
    assert [r.id for r in client.get(queue_url, {"assigned": "nobody"}).context["cl"].result_list] == [
        data_request.id
    ]
    assert casework_events(data_request) == [
        {"what": "assigned", "assignee": "reviewer"},
        {"what": "assigned", "assignee": None},
    ]
    # Bad input: a clear refusal each, and nothing changes.
    gone = User.objects.create_user(username="gone", is_staff=True, is_active=False)
    for value, says in [
        ("x", "choose someone"),
        ("999999", "not active staff"),
        (str(gone.id), "not active staff"),
    ]:
        assert says in post(client, "assign", data_request, {"assignee": value}), value
    assert not Assignment.objects.filter(request=data_request).exists()
    assert len(casework_events(data_request)) == 2


def test_an_internal_note_is_for_staff_only(client, users) -> None:
    data_request = make_request(status=RequestStatus.REVIEW)
    staff_login(client, users[PRIVACY_OFFICER])
    assert "Internal note added" in post(
        client, "note", data_request, {"text": "Called the person; ID checked."}
    )
    page = client.get(reverse("admin:rights_datarequest_change", args=[data_request.id])).content.decode()
    assert "Called the person; ID checked." in page and "Internal note" in page
    status = client.get(reverse("public:status", args=[data_request.public_token])).content.decode()
    assert "Called the person" not in status
    [event] = casework_events(data_request)
    assert event == {"what": "note", "note_id": RequestNote.objects.get().id}  # the id, never the text
    assert "Write the note first" in post(client, "note", data_request, {"text": "   "})
    assert "at most 5000" in post(client, "note", data_request, {"text": "x" * 5001})
    assert RequestNote.objects.count() == 1


def test_a_message_is_emailed_and_shown_on_the_status_page(client, users, mailoutbox) -> None:
    data_request = make_request(status=RequestStatus.REVIEW, email="ana@example.org")
    staff_login(client, users[PRIVACY_OFFICER])
    text = "We found two photos that may be of you; we will answer by the due date."
    assert "Message sent" in post(client, "message", data_request, {"text": text})
    [mail] = mailoutbox
    assert mail.to == ["ana@example.org"] and text in mail.body and data_request.public_token in mail.body
    status = client.get(reverse("public:status", args=[data_request.public_token])).content.decode()
    assert 'id="messages"' in status and text in status
    assert casework_events(data_request)[0]["what"] == "message"
    assert RequestNote.objects.get().emailed_at is not None


def test_a_message_the_mail_server_refuses_is_kept_and_shown(client, users, settings, mailoutbox) -> None:
    data_request = make_request(status=RequestStatus.REVIEW)
    staff_login(client, users[PRIVACY_OFFICER])
    break_the_mail_server(settings)
    said = post(client, "message", data_request, {"text": "Please check your spam folder."})
    assert "the email could not be sent" in said
    note = RequestNote.objects.get()
    assert note.emailed_at is None
    status = client.get(reverse("public:status", args=[data_request.public_token])).content.decode()
    assert "Please check your spam folder." in status
    unconfirmed = make_request(status=RequestStatus.UNCONFIRMED)
    assert "not confirmed their email" in post(client, "message", unconfirmed, {"text": "Hello"})


def test_viewers_and_reviewers_get_no_casework_forms_and_cannot_post(client, users) -> None:
    data_request = make_request(status=RequestStatus.REVIEW)
    for role in (VIEWER, REVIEWER):
        staff_login(client, users[role])
        page = client.get(reverse("admin:rights_datarequest_change", args=[data_request.id])).content.decode()
        assert 'id="casework"' in page and 'name="assignee"' not in page
        assert "Not done" in post(client, "note", data_request, {"text": "sneaky"})
    assert not RequestNote.objects.exists() and not casework_events(data_request)
