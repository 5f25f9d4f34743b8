"""The staff dashboard through the Django test client, logged in as each role.

Candidate and selfie images are real faces from ../shared (read, never copied into the repo).
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from matching.models import Image
from rights.models import (
    AuditEvent,
    DataRequest,
    Match,
    Recipient,
    RecipientNotice,
    Release,
    RequestStatus,
    Selfie,
)
from tests.conftest import LFW_DIR
from tests.rights.staff_helpers import (
    NOW,
    PRIVACY_OFFICER,
    REFUSAL_REASON,
    REVIEWER,
    VIEWER,
    local,
    make_request,
    seed_history,
    staff_login,
    staff_user,
)

pytestmark = pytest.mark.django_db

QUEUE = reverse("admin:rights_datarequest_changelist")
SUMMARY = reverse("admin:rights_summary")
FACES = [
    LFW_DIR / "Rafael_Ramirez" / "Rafael_Ramirez_0001.jpg",
    LFW_DIR / "Rafael_Ramirez" / "Rafael_Ramirez_0002.jpg",
    LFW_DIR / "AJ_Cook" / sorted(p.name for p in (LFW_DIR / "AJ_Cook").glob("*.jpg"))[0],
]


@pytest.fixture
def users():
    return {role: staff_user(role) for role in (PRIVACY_OFFICER, REVIEWER, VIEWER)}


def client_for(client, user):
    staff_login(client, user)
    return client


def change_url(data_request: DataRequest) -> str:
    return reverse("admin:rights_datarequest_change", args=[data_request.id])


def _image(path, collected_year: int = 2022, *, copy: str = "") -> Image:
    """A collection image; ``copy`` tells apart two rows made from the same file."""
    data = path.read_bytes()
    return Image.objects.create(
        file=ContentFile(data, name="face.jpg"),
        sha256=hashlib.sha256(data + copy.encode()).hexdigest(),
        collected_at=local(collected_year, 1, 1),
        width=250,
        height=250,
    )


@pytest.fixture
def under_review() -> DataRequest:
    """A request waiting for review: one selfie, three candidates (one sure match, two to review)."""
    data_request = make_request(status=RequestStatus.REVIEW)
    selfie_bytes = FACES[0].read_bytes()
    Selfie.objects.create(
        request=data_request,
        file=ContentFile(selfie_bytes, name="selfie.jpg"),
        sha256=hashlib.sha256(selfie_bytes).hexdigest(),
        status=Selfie.Status.USABLE,
        face_bbox=[70, 70, 180, 180],
    )
    for path, score, band in [
        (FACES[1], 0.62, "match"),
        (FACES[2], 0.31, "review"),
        (FACES[0], 0.28, "review"),
    ]:
        image = _image(path) if path != FACES[0] else _image(path, 2015)
        Match.objects.create(
            request=data_request,
            image=image,
            image_sha256=image.sha256,
            face_bbox=[60, 60, 190, 190],
            score=score,
            band=band,
        )
    return data_request


def _pending(data_request: DataRequest) -> list[Match]:
    return list(data_request.matches.filter(band="review").order_by("-score"))


# --- The queue ----------------------------------------------------------------------------------


def test_queue_is_ordered_by_effective_due_date_with_days_left(client, users) -> None:
    with time_machine.travel(local(2024, 6, 15, 12), tick=False):
        late = make_request(received_at=local(2024, 5, 1, 9))  # due 1 June: overdue
        soon = make_request(received_at=local(2024, 5, 18, 9))  # due 18 June: 3 days left
        later = make_request(received_at=local(2024, 6, 10, 9))  # due 10 July
        extended = make_request(
            received_at=local(2024, 5, 2, 9), extended_until=local(2024, 8, 2, 23, 59, 59)
        )
        make_request(
            received_at=local(2024, 5, 3, 9), status=RequestStatus.ANSWERED, answered_at=local(2024, 5, 9)
        )
        response = client_for(client, users[VIEWER]).get(QUEUE)
    assert response.status_code == 200
    shown = [r.id for r in response.context["cl"].result_list]
    assert shown == [late.id, soon.id, later.id, extended.id]  # open only, by due date (extended: 2 Aug)
    html = response.content.decode()
    assert re.search(r'class="days-left overdue"[^>]*>14 days overdue<', html)
    assert re.search(r'class="days-left due-soon"[^>]*>3 days left<', html)
    assert '<span class="days-left">25 days left</span>' in html


def _filtered(client, user, query: str) -> list[int]:
    with time_machine.travel(local(*NOW), tick=False):
        response = client_for(client, user).get(f"{QUEUE}?{query}")
    assert response.status_code == 200, query
    return sorted(r.id for r in response.context["cl"].result_list)


def test_queue_filters(client, users) -> None:
    seeded = seed_history()
    soon = make_request(received_at=local(2024, 5, 20, 9), status=RequestStatus.QUEUED)  # due 20 June
    viewer = users[VIEWER]

    def ids(*names: str) -> list[int]:
        return sorted(seeded[name].id for name in names)

    assert _filtered(client, viewer, "overdue=yes") == ids("overdue")
    assert _filtered(client, viewer, "due_this_week=yes") == [soon.id]
    assert _filtered(client, viewer, "needs_review=yes") == ids("overdue", "search_incomplete")
    assert _filtered(client, viewer, "held=yes") == ids("held", "erasure_failed")
    assert _filtered(client, viewer, "kind__exact=erasure") == ids("erasure_failed")  # the open one
    assert _filtered(client, viewer, "kind__exact=erasure&queue=all") == ids("late", "erasure_failed")
    assert _filtered(client, viewer, "status__exact=refused") == ids("refused")  # a state beats "open"
    assert _filtered(client, viewer, "queue=closed") == ids(
        "on_time", "late", "followed_up", "refused", "repeated", "extended"
    )


def test_queue_finds_a_request_by_number(client, users) -> None:
    wanted, _ = make_request(), make_request()
    response = client_for(client, users[VIEWER]).get(f"{QUEUE}?q={wanted.id}")
    assert [r.id for r in response.context["cl"].result_list] == [wanted.id]


# --- The request page and the review screen -----------------------------------------------------


def test_request_page_shows_clock_review_and_timeline(client, users, under_review) -> None:
    from django.db import transaction

    from rights.lifecycle.audit import audit_record

    with transaction.atomic():
        audit_record(
            actor="system", action="search_started", request_id=under_review.id, to_status="searching"
        )
    response = client_for(client, users[REVIEWER]).get(change_url(under_review))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="statutory-clock"' in html and "Due (one month, Art. 12(3))" in html
    assert 'id="timeline"' in html and "search_started" in html
    for match in under_review.matches.all():
        assert reverse("admin:rights_match_image", args=[match.id]) in html
    selfie = under_review.selfies.get()
    assert reverse("admin:rights_selfie_image", args=[selfie.id]) in html
    assert "0.310" in html and "Needs review" in html
    # The match rule in force and the strangers it is expected to bring (issue 10).
    assert 'id="match-rule"' in html and "strangers expected per request" in html
    assert "This request has not been searched yet." in html  # made directly, no search recorded
    # A reviewer gets the review buttons, not approve/extend/refuse.
    assert 'name="single"' in html and 'name="decision" value="confirmed"' in html
    assert 'name="approve"' not in html and 'name="extend"' not in html and 'name="refuse"' not in html


def test_images_are_served_through_the_permission_checked_view(client, users, under_review) -> None:
    match = under_review.matches.get(score=0.31)
    selfie = under_review.selfies.get()
    reviewer = client_for(client, users[REVIEWER])
    full = reviewer.get(reverse("admin:rights_match_image", args=[match.id]))
    assert full.status_code == 200
    assert full["Content-Type"] == "image/jpeg"
    assert {"private", "no-store"} <= {part.strip() for part in full["Cache-Control"].split(",")}
    assert b"".join(full.streaming_content) == FACES[2].read_bytes()
    crop = reviewer.get(reverse("admin:rights_selfie_image", args=[selfie.id]) + "?crop=face")
    assert crop.status_code == 200 and crop["Content-Type"] == "image/jpeg"
    assert b"".join(crop.streaming_content)[:2] == b"\xff\xd8"
    # The media URL itself serves nothing.
    assert client.get(f"/media-not-served/{match.image.file.name}").status_code == 404


def test_staff_viewing_faces_is_audited_once_per_review_screen_view(client, users, under_review) -> None:
    def viewed() -> list[AuditEvent]:
        return list(AuditEvent.objects.filter(action="review_screen_viewed").order_by("id"))

    reviewer_user = users[REVIEWER]
    reviewer = client_for(client, reviewer_user)
    html = reviewer.get(change_url(under_review)).content.decode()
    [event] = viewed()
    assert (event.actor, event.request_id) == (f"staff:{reviewer_user.username}", under_review.id)
    selfie = under_review.selfies.get()
    images = sorted(under_review.matches.values_list("image_id", flat=True))
    assert event.detail == {"selfies": [selfie.id], "images": images}  # ids only, never the images
    # The thumbnails the page loads do not add rows (one row per page view, not per image).
    thumbnails = re.findall(r'<img[^>]* src="([^"]+/(?:selfie|match)/\d+/image/[^"]*)"', html)
    assert len(thumbnails) >= 4
    for url in thumbnails:
        assert reviewer.get(url.replace("&amp;", "&")).status_code == 200
    assert len(viewed()) == 1
    reviewer.get(change_url(under_review))
    assert len(viewed()) == 2
    # A viewer is not shown faces: nothing to record.
    client_for(client, users[VIEWER]).get(change_url(under_review))
    assert len(viewed()) == 2


def test_a_review_screen_without_faces_is_not_recorded_as_a_biometric_view(
    client, users, under_review
) -> None:
    Match.objects.filter(request=under_review).update(image=None)
    Selfie.objects.filter(request=under_review).update(purged_at=timezone.now())
    response = client_for(client, users[REVIEWER]).get(change_url(under_review))
    assert response.status_code == 200 and not re.search(r"<img[^>]+/image/", response.content.decode())
    assert not AuditEvent.objects.filter(action="review_screen_viewed").exists()


def test_images_of_erased_or_purged_data_are_gone(client, users, under_review) -> None:
    match = under_review.matches.get(score=0.31)
    Match.objects.filter(id=match.id).update(image=None)
    Selfie.objects.filter(request=under_review).update(purged_at=timezone.now())
    reviewer = client_for(client, users[REVIEWER])
    assert reviewer.get(reverse("admin:rights_match_image", args=[match.id])).status_code == 404
    selfie = under_review.selfies.get()
    assert reviewer.get(reverse("admin:rights_selfie_image", args=[selfie.id])).status_code == 404


def _decide(client, data_request: DataRequest, data: dict) -> str:
    url = reverse("admin:rights_datarequest_matches_decide", args=[data_request.id])
    response = client.post(url, data, follow=True)
    assert response.status_code == 200
    return " ".join(str(m) for m in response.context["messages"])


def test_reviewer_confirms_and_rejects_one_by_one(client, users, under_review) -> None:
    first, second = _pending(under_review)
    reviewer = client_for(client, users[REVIEWER])
    assert "confirmed" in _decide(reviewer, under_review, {"single": f"{first.id}:confirmed"})
    assert "rejected" in _decide(reviewer, under_review, {"single": f"{second.id}:rejected"})
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.decision, first.decided_by) == ("confirmed", users[REVIEWER])
    assert (second.decision, second.decided_by) == ("rejected", users[REVIEWER])
    actions = list(AuditEvent.objects.filter(request=under_review).values_list("actor", "action"))
    # Each decision redirects back to the review screen, whose faces are viewed again (and recorded).
    viewed = ("staff:reviewer", "review_screen_viewed")
    assert actions == [
        ("staff:reviewer", "match_confirmed"),
        viewed,
        ("staff:reviewer", "match_rejected"),
        viewed,
    ]


def test_reviewer_decides_in_bulk(client, users, under_review) -> None:
    pending = _pending(under_review)
    reviewer = client_for(client, users[REVIEWER])
    message = _decide(reviewer, under_review, {"match_ids": [m.id for m in pending], "decision": "rejected"})
    assert "2 candidate images rejected" in message
    assert {m.decision for m in _pending(under_review)} == {"rejected"}
    assert AuditEvent.objects.filter(request=under_review, action="match_rejected").count() == 2


def test_bulk_decision_refuses_matches_of_another_request(client, users, under_review) -> None:
    other = make_request(status=RequestStatus.REVIEW)
    image = _image(FACES[1], 2010, copy="another")
    foreign = Match.objects.create(
        request=other, image=image, image_sha256="f" * 64, score=0.3, band="review"
    )
    reviewer = client_for(client, users[REVIEWER])
    message = _decide(
        reviewer,
        under_review,
        {"match_ids": [_pending(under_review)[0].id, foreign.id], "decision": "confirmed"},
    )
    assert "Not done" in message
    assert Match.objects.filter(decision="pending").count() == 4  # nothing was decided


def test_officer_approves_after_review(client, users, under_review) -> None:
    officer = client_for(client, users[PRIVACY_OFFICER])
    url = reverse("admin:rights_datarequest_approve", args=[under_review.id])
    # With candidates still pending, approval is refused and nothing changes.
    response = officer.post(url, follow=True)
    assert "Not done" in " ".join(str(m) for m in response.context["messages"])
    assert DataRequest.objects.get(id=under_review.id).status == RequestStatus.REVIEW

    _decide(
        officer, under_review, {"match_ids": [m.id for m in _pending(under_review)], "decision": "confirmed"}
    )
    response = officer.post(url, follow=True)
    assert "approved" in " ".join(str(m) for m in response.context["messages"])
    assert DataRequest.objects.get(id=under_review.id).status == RequestStatus.APPROVED
    event = AuditEvent.objects.get(request=under_review, action="request_approved")
    assert (event.actor, event.to_status) == ("staff:privacy_officer", RequestStatus.APPROVED)


def test_actions_are_post_only(client, users, under_review) -> None:
    officer = client_for(client, users[PRIVACY_OFFICER])
    for name in ("approve", "extend", "refuse", "link", "matches_decide"):
        url = reverse(f"admin:rights_datarequest_{name}", args=[under_review.id])
        assert officer.get(url).status_code == 405, name


def test_officer_extends_refuses_and_links_from_the_request_page(client, users, mailoutbox) -> None:
    officer = client_for(client, users[PRIVACY_OFFICER])
    with time_machine.travel(local(2024, 2, 5, 10), tick=False):
        first = make_request(received_at=local(2024, 1, 2, 10), status=RequestStatus.ANSWERED)
        second = make_request(received_at=local(2024, 1, 31, 10), status=RequestStatus.REVIEW)
        page = officer.get(change_url(second)).content.decode()
        assert 'name="extend"' in page and 'name="refuse"' in page and 'name="link"' in page

        # An extension without a reason is refused with its reason shown; with one, it is made.
        response = officer.post(
            reverse("admin:rights_datarequest_extend", args=[second.id]),
            {"months": "2", "reason": ""},
            follow=True,
        )
        assert "An extension needs a reason" in " ".join(str(m) for m in response.context["messages"])
        response = officer.post(
            reverse("admin:rights_datarequest_extend", args=[second.id]),
            {"months": "2", "reason": "Thousands of requests this month."},
            follow=True,
        )
        assert "Extended to 29 April 2024" in " ".join(str(m) for m in response.context["messages"])

        officer.post(reverse("admin:rights_datarequest_link", args=[second.id]), {"earlier_id": first.id})
        response = officer.post(
            reverse("admin:rights_datarequest_refuse", args=[second.id]),
            {"reason": REFUSAL_REASON},
            follow=True,
        )
        assert "refused" in " ".join(str(m) for m in response.context["messages"])
    second.refresh_from_db()
    assert second.extension_reason == "Thousands of requests this month."
    assert second.status == RequestStatus.REFUSED and second.refusal_reason == REFUSAL_REASON
    assert list(second.earlier_requests.values_list("id", flat=True)) == [first.id]
    subjects = [m.subject for m in mailoutbox]
    assert len(subjects) == 2
    assert "more time is needed to answer your access request of" in subjects[0]
    assert "our answer to your access request of" in subjects[1]
    # Letters to the person never carry the sequential request id.
    assert not any(f"#{second.id}" in subject for subject in subjects)
    actions = list(AuditEvent.objects.filter(request=second).values_list("actor", "action"))
    assert actions == [
        ("staff:privacy_officer", "extended"),
        ("staff:privacy_officer", "requests_linked"),
        ("staff:privacy_officer", "refused"),
    ]


# --- The summary page and the compliance download -------------------------------------------------


@pytest.mark.parametrize("role", [PRIVACY_OFFICER, REVIEWER, VIEWER])
def test_summary_page_renders_figures_and_svg_chart(client, users, role) -> None:
    seeded = seed_history()
    with time_machine.travel(local(*NOW), tick=False):
        response = client_for(client, users[role]).get(SUMMARY)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="answered-chart"' in html
    assert '<g class="month" data-month="2024-04" data-in-time="1" data-late="1">' in html
    assert re.search(r'<tr data-figure="answered_late" class="flag">.*?<td class="count">1</td>', html, re.S)
    assert re.search(r'<tr data-figure="overdue_now" class="flag">.*?<td class="count">1</td>', html, re.S)
    assert change_url(seeded["late"]) in html
    assert REFUSAL_REASON in html
    # Only the privacy officer may download the compliance report.
    assert ('id="compliance-download"' in html) is (role == PRIVACY_OFFICER)


def test_compliance_report_download(client, users) -> None:
    seed_history()
    url = reverse("admin:rights_compliance_report")
    officer = client_for(client, users[PRIVACY_OFFICER])
    with time_machine.travel(local(*NOW), tick=False):
        response = officer.get(url, {"from": "2024-01-01", "to": "2024-12-31", "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        response["Content-Disposition"]
        == 'attachment; filename="compliance-report_2024-01-01_2024-12-31.csv"'
    )
    assert "answered_late,1," in response.content.decode()
    assert AuditEvent.objects.get(action="compliance_report_exported").actor == "staff:privacy_officer"
    bad = officer.get(url, {"from": "2024-12-31", "to": "2024-01-01", "format": "json"}, follow=True)
    assert "after it ends" in " ".join(str(m) for m in bad.context["messages"])


# --- Audit trail, recipients, notices ------------------------------------------------------------


def test_audit_trail_is_read_only_even_for_a_superuser(client, users, under_review) -> None:
    from django.contrib.auth.models import User
    from django.db import transaction

    from rights.lifecycle.audit import audit_record

    with transaction.atomic():
        event = audit_record(actor="system", action="search_started", request_id=under_review.id)
    root = User.objects.create_superuser("root", "root@example.org", "a long test password 1")
    for user in (users[PRIVACY_OFFICER], root):
        browser = client_for(client, user)
        assert browser.get(reverse("admin:rights_auditevent_changelist")).status_code == 200
        assert browser.get(reverse("admin:rights_auditevent_add")).status_code == 403
        change = reverse("admin:rights_auditevent_change", args=[event.id])
        assert browser.get(change).status_code == 200  # viewable
        assert browser.post(change, {"reason": "edited"}).status_code == 403
        assert browser.post(reverse("admin:rights_auditevent_delete", args=[event.id])).status_code == 403
    event.refresh_from_db()
    assert event.reason == ""


def test_a_ledger_rows_page_opens_with_its_request(client, users, under_review) -> None:
    """An erasure record's and a purge record's pages show their request: the request's foreign key
    lists requests in the queue's order, which once named an annotation those pages lack (a 500)."""
    from django.utils import timezone

    from rights.models import ErasureRecord, PurgeRecord

    now = timezone.now()
    erasure = ErasureRecord.objects.create(
        request=under_review, image_id=1, image_sha256="a" * 64, removed_from=["index"], erased_at=now
    )
    purge = PurgeRecord.objects.create(request=under_review, what={"selfie_files": 1}, purged_at=now)
    officer = client_for(client, users[PRIVACY_OFFICER])
    for url in (
        reverse("admin:rights_erasurerecord_change", args=[erasure.id]),
        reverse("admin:rights_purgerecord_change", args=[purge.id]),
    ):
        response = officer.get(url)
        assert response.status_code == 200
        assert str(under_review) in response.content.decode()  # "Access request #1", its link


def test_officer_adds_a_recipient_with_a_release(client, users) -> None:
    image = _image(FACES[1])
    officer = client_for(client, users[PRIVACY_OFFICER])
    response = officer.post(
        reverse("admin:rights_recipient_add"),
        {
            "name": "Acme Faces Ltd",
            "contact_email": "privacy@acme.example",
            "webhook_url": "",
            "releases-TOTAL_FORMS": "1",
            "releases-INITIAL_FORMS": "0",
            "releases-MIN_NUM_FORMS": "0",
            "releases-MAX_NUM_FORMS": "1000",
            "releases-0-image": str(image.id),
            "releases-0-released_at_0": "2023-05-01",
            "releases-0-released_at_1": "10:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    recipient = Recipient.objects.get(name="Acme Faces Ltd")
    release = Release.objects.get(recipient=recipient)
    assert (release.image_id, release.image_sha256) == (image.id, image.sha256)
    assert release.released_at == local(2023, 5, 1, 10)
    actions = list(AuditEvent.objects.values_list("actor", "action"))
    assert actions == [
        ("staff:privacy_officer", "recipient_created"),
        ("staff:privacy_officer", "releases_recorded"),
    ]


def test_officer_fills_in_a_missing_contact_and_the_list_counts_releases_and_waiting_notices(
    client, users
) -> None:
    recipient = Recipient.objects.create(name="Acme Faces Ltd", contact_email="unknown@contact.invalid")
    image = _image(FACES[1])
    Release.objects.create(
        recipient=recipient, image=image, image_sha256=image.sha256, released_at=timezone.now()
    )
    data_request = make_request(status=RequestStatus.ANSWERED)
    RecipientNotice.objects.create(request=data_request, recipient=recipient, image_hashes=[image.sha256])
    officer = client_for(client, users[PRIVACY_OFFICER])

    listing = officer.get(reverse("admin:rights_recipient_changelist")).content.decode()
    row = re.search(r"Acme Faces Ltd.*?</tr>", listing, re.S).group(0)
    assert re.findall(r'<td class="field-(?:releases_count|notices_waiting)">(\d+)</td>', row) == ["1", "1"]

    response = officer.post(
        reverse("admin:rights_recipient_change", args=[recipient.id]),
        {
            "name": "Acme Faces Ltd",
            "contact_email": "privacy@acme.example",
            "webhook_url": "",
            "releases-TOTAL_FORMS": "0",
            "releases-INITIAL_FORMS": "0",
            "releases-MIN_NUM_FORMS": "0",
            "releases-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    recipient.refresh_from_db()
    assert recipient.contact_email == "privacy@acme.example"
    event = AuditEvent.objects.get(action="recipient_changed")
    assert event.actor == "staff:privacy_officer"
    assert event.detail == {
        "recipient_id": recipient.id,
        "recipient": "Acme Faces Ltd",
        "changed": ["contact_email"],
    }


def test_notices_list_shows_acknowledged_and_chased_state(client, users) -> None:
    recipient = Recipient.objects.create(name="Acme", contact_email="privacy@acme.example")
    other = Recipient.objects.create(name="Foo", contact_email="privacy@foo.example")
    data_request = make_request(status=RequestStatus.ANSWERED)
    sent = timezone.now() - timedelta(days=10)
    RecipientNotice.objects.create(
        request=data_request, recipient=recipient, image_hashes=["a" * 64], sent_at=sent, chase_count=2
    )
    RecipientNotice.objects.create(
        request=data_request,
        recipient=other,
        image_hashes=["a" * 64],
        sent_at=sent,
        acknowledged_at=timezone.now(),
    )
    viewer = client_for(client, users[VIEWER])
    html = viewer.get(reverse("admin:rights_recipientnotice_changelist")).content.decode()
    assert "awaiting acknowledgement since" in html and "chased 2 times" in html
    assert 'class="notice acknowledged"' in html
    waiting = viewer.get(reverse("admin:rights_recipientnotice_changelist") + "?acknowledged=no")
    assert [n.recipient.name for n in waiting.context["cl"].result_list] == ["Acme"]
    assert (
        "ack_token"
        not in viewer.get(
            reverse("admin:rights_recipientnotice_change", args=[waiting.context["cl"].result_list[0].id])
        ).content.decode()
    )


def test_queue_with_the_pause_on_uses_the_due_date_in_force(client, users, settings) -> None:
    settings.CLOCK_PAUSES_WHILE_WAITING = True
    # Due 1 June (stored); waiting for a new photo since 25 May: on 15 June, 21 days waited -> due 22 June.
    waiting = make_request(
        received_at=local(2024, 5, 1, 9),
        status=RequestStatus.NEEDS_SELFIE,
        waiting_since=local(2024, 5, 25, 9),
    )
    viewer = users[VIEWER]
    # Before the fix: listed as overdue (stored 1 June), not as due this week, and "14 days overdue".
    assert _filtered(client, viewer, "overdue=yes") == []
    assert _filtered(client, viewer, "due_this_week=yes") == [waiting.id]
    with time_machine.travel(local(*NOW), tick=False):
        html = client_for(client, viewer).get(QUEUE).content.decode()
    assert re.search(r'class="days-left due-soon"[^>]*>7 days left<', html)
    assert "2024-06-22" in html


def test_summary_says_which_figures_have_a_target_of_zero(client, users) -> None:
    from rights.reporting.cnil import ZERO_TARGETS

    seed_history()
    with time_machine.travel(local(*NOW), tick=False):
        html = client_for(client, users[VIEWER]).get(SUMMARY).content.decode()
    # Before the fix: "Every figure but the first two should be 0", refusals and repeated included.
    assert "Every figure but the first two should be 0" not in html
    targets = dict(
        re.findall(
            r'<tr data-figure="(\w+)"[^>]*><td>[^<]*</td><td class="count">\d+</td><td>([^<]*)</td>', html
        )
    )
    assert sorted(key for key, target in targets.items() if target == "0") == sorted(ZERO_TARGETS)
    assert (targets["refused"], targets["repeated"], targets["extended"]) == ("justified", "", "")
    zero_targets = re.search(r'<p id="zero-targets">(.*?)</p>', html, re.S).group(1)
    assert "Refusals, repeated requests and extensions are lawful and have no target" in zero_targets


def test_never_confirmed_requests_are_neither_overdue_nor_due_this_week(client, users) -> None:
    # Received 20 May, due 20 June: due within 7 days of 15 June; received 1 May: overdue.
    confirmed_soon = make_request(received_at=local(2024, 5, 20, 9), status=RequestStatus.QUEUED)
    make_request(received_at=local(2024, 5, 20, 9), status=RequestStatus.UNCONFIRMED)
    make_request(received_at=local(2024, 5, 1, 9), status=RequestStatus.UNCONFIRMED)
    viewer = users[VIEWER]
    # Before the fix the due-this-week filter listed the unconfirmed one too (the overdue one did not).
    assert _filtered(client, viewer, "due_this_week=yes") == [confirmed_soon.id]
    assert _filtered(client, viewer, "overdue=yes") == []


# --- Staff accounts and roles through the admin: audited ----------------------------------------


@pytest.fixture
def superuser():
    from django.contrib.auth.models import User

    return User.objects.create_superuser(username="root", password="a long test password 1")


def _user_change_data(user, **overrides) -> dict:
    data = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": "",
        "is_active": "on",
        "groups": [g.id for g in user.groups.all()],
        "user_permissions": [],
        "date_joined_0": timezone.localtime(user.date_joined).strftime("%Y-%m-%d"),
        "date_joined_1": timezone.localtime(user.date_joined).strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
    }
    if user.is_staff:
        data["is_staff"] = "on"
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_granting_and_removing_roles_in_the_admin_is_audited(client, superuser) -> None:
    from django.contrib.auth.models import Group, Permission, User

    from rights.lifecycle.audit import audit_chain_verify

    admin_client = client_for(client, superuser)
    reviewer = Group.objects.get(name=REVIEWER)
    # Before the fix none of these wrote an audit row: the trail did not say who made whom a reviewer.
    response = admin_client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "newcomer",
            "password1": "a long test password 2",
            "password2": "a long test password 2",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    newcomer = User.objects.get(username="newcomer")
    added = AuditEvent.objects.get(action="staff_user_added")
    assert (added.actor, added.detail["user_id"], added.detail["username"]) == (
        "staff:root",
        newcomer.id,
        "newcomer",
    )

    change = reverse("admin:auth_user_change", args=[newcomer.id])
    response = admin_client.post(change, _user_change_data(newcomer, is_staff="on", groups=[reviewer.id]))
    assert response.status_code == 302, response.content.decode()[:2000]
    granted = AuditEvent.objects.filter(action="staff_user_changed").latest("id")
    assert granted.actor == "staff:root"
    assert granted.detail["username"] == "newcomer"
    assert granted.detail["groups_added"] == [REVIEWER]
    assert granted.detail["is_staff"] == {"from": False, "to": True}

    newcomer.refresh_from_db()
    response = admin_client.post(change, _user_change_data(newcomer, groups=[]))
    assert response.status_code == 302
    removed = AuditEvent.objects.filter(action="staff_user_changed").latest("id")
    assert removed.detail["groups_removed"] == [REVIEWER]
    assert "groups_added" not in removed.detail

    refuse = Permission.objects.get(codename="refuse_request")
    response = admin_client.post(
        reverse("admin:auth_group_change", args=[reviewer.id]),
        {"name": REVIEWER, "permissions": [*reviewer.permissions.values_list("id", flat=True), refuse.id]},
    )
    assert response.status_code == 302
    role = AuditEvent.objects.get(action="staff_role_changed")
    assert (role.actor, role.detail["group"], role.detail["permissions_added"]) == (
        "staff:root",
        REVIEWER,
        ["rights.refuse_request"],
    )

    response = admin_client.post(
        reverse("admin:auth_user_password_change", args=[newcomer.id]),
        {
            "password1": "another long password 3",
            "password2": "another long password 3",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    password = AuditEvent.objects.filter(action="staff_user_changed").latest("id")
    assert password.id > removed.id and password.detail["fields"] == ["password"]

    response = admin_client.post(reverse("admin:auth_user_delete", args=[newcomer.id]), {"post": "yes"})
    assert response.status_code == 302
    deleted = AuditEvent.objects.get(action="staff_user_deleted")
    assert (deleted.detail["username"], deleted.detail["groups"]) == ("newcomer", [])
    assert not User.objects.filter(username="newcomer").exists()
    assert audit_chain_verify() is None  # appended to the same chain as every other staff action
