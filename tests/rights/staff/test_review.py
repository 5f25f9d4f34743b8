"""rights.staff.review (match_confirm, match_reject, matches_decide, request_approve) and the
management commands that call them until the dashboard does."""

from __future__ import annotations

import hashlib

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command

from rights.models import AuditEvent, DataRequest, Match, RequestKind, RequestStatus
from rights.staff.review import (
    ReviewError,
    ReviewNotAllowed,
    match_confirm,
    match_reject,
    matches_decide,
    request_approve,
)
from tests.rights.pipeline_helpers import request_make

pytestmark = pytest.mark.django_db


def _match(request: DataRequest, label: str, band: str, score: float | None = 0.5) -> Match:
    return Match.objects.create(
        request=request, image_sha256=hashlib.sha256(label.encode()).hexdigest(), band=band, score=score
    )


@pytest.fixture
def reviewer() -> User:
    user = User.objects.create_user("rita", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="review_match"), Permission.objects.get(codename="approve_request")
    )
    return User.objects.get(pk=user.pk)  # fresh: permissions are cached on the instance


@pytest.fixture
def waiting() -> DataRequest:
    request = request_make(kind=RequestKind.ERASURE, status=RequestStatus.REVIEW)
    _match(request, "sure", Match.Band.MATCH, 0.7)
    _match(request, "maybe", Match.Band.REVIEW, 0.3)
    _match(request, "by-account", Match.Band.IDENTIFIER, None)
    return request


def test_confirm_and_reject_record_who_and_when_with_an_audit_row(waiting, reviewer):
    maybe = waiting.matches.get(band=Match.Band.REVIEW)
    confirmed = match_confirm(match_id=maybe.id, user=reviewer)
    assert confirmed.decision == Match.Decision.CONFIRMED
    assert confirmed.decided_by == reviewer and confirmed.decided_at is not None
    by_account = waiting.matches.get(band=Match.Band.IDENTIFIER)
    assert match_reject(match_id=by_account.id, user=reviewer).decision == Match.Decision.REJECTED
    events = AuditEvent.objects.filter(request_id=waiting.id).order_by("id")
    assert [e.action for e in events] == ["match_confirmed", "match_rejected"]
    assert events[0].actor == "staff:rita" and events[0].detail["match_id"] == maybe.id


def test_a_decision_can_be_changed_while_the_request_waits(waiting, reviewer):
    maybe = waiting.matches.get(band=Match.Band.REVIEW)
    match_reject(match_id=maybe.id, user=reviewer)
    match_confirm(match_id=maybe.id, user=reviewer)
    maybe.refresh_from_db()
    assert maybe.decision == Match.Decision.CONFIRMED
    last = AuditEvent.objects.filter(request_id=waiting.id).last()
    assert last.detail["previous_decision"] == Match.Decision.REJECTED


def test_decisions_refused_once_the_request_is_no_longer_waiting(waiting, reviewer):
    DataRequest.objects.filter(pk=waiting.pk).update(status=RequestStatus.FULFILLING)
    maybe = waiting.matches.get(band=Match.Band.REVIEW)
    with pytest.raises(ReviewError, match="only be decided while it waits"):
        match_confirm(match_id=maybe.id, user=reviewer)
    maybe.refresh_from_db()
    assert maybe.decision == Match.Decision.PENDING


def test_bulk_decision_is_all_or_nothing(waiting, reviewer):
    ids = list(waiting.matches.values_list("id", flat=True))
    with pytest.raises(ReviewError, match="No match with id 999999"):
        matches_decide(match_ids=[*ids, 999999], decision="rejected", user=reviewer)
    assert set(waiting.matches.values_list("decision", flat=True)) == {Match.Decision.PENDING}
    with pytest.raises(ReviewError, match="Unknown decision"):
        matches_decide(match_ids=ids, decision="maybe", user=reviewer)
    with pytest.raises(ReviewError, match="No match was given"):
        matches_decide(match_ids=[], decision="rejected", user=reviewer)
    decided = matches_decide(match_ids=ids, decision="rejected", user=reviewer)
    assert {m.decision for m in decided} == {Match.Decision.REJECTED}
    assert AuditEvent.objects.filter(request_id=waiting.id, action="match_rejected").count() == 3


def test_approval_refused_while_a_candidate_waits_for_review(waiting, reviewer):
    with pytest.raises(ReviewError, match="2 candidate match\\(es\\) waiting for review"):
        request_approve(request_id=waiting.id, user=reviewer)
    waiting.refresh_from_db()
    assert waiting.status == RequestStatus.REVIEW
    # The `match` band does not need a decision: confirmed by the approval itself.
    match_confirm(match_id=waiting.matches.get(band=Match.Band.REVIEW).id, user=reviewer)
    with pytest.raises(ReviewError, match="1 candidate"):
        request_approve(request_id=waiting.id, user=reviewer)


def test_approval_moves_to_approved_and_enqueues_fulfilment(
    waiting, reviewer, django_capture_on_commit_callbacks
):
    matches_decide(
        match_ids=waiting.matches.exclude(band=Match.Band.MATCH).values_list("id", flat=True),
        decision="confirmed",
        user=reviewer,
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        approved = request_approve(request_id=waiting.id, user=reviewer)
    assert approved.status == RequestStatus.APPROVED
    assert len(callbacks) == 1
    event = AuditEvent.objects.filter(request_id=waiting.id, action="request_approved").get()
    assert event.actor == "staff:rita" and event.from_status == "review" and event.to_status == "approved"
    assert event.detail == {"match_band": 1, "confirmed": 2, "rejected": 0}


def test_held_request_can_be_approved_again_and_its_hold_reason_cleared(reviewer):
    request = request_make(status=RequestStatus.HELD)
    DataRequest.objects.filter(pk=request.pk).update(hold_reason="a file was missing")
    assert request_approve(request_id=request.id, user=reviewer).hold_reason == ""


@pytest.mark.parametrize(
    "status",
    [RequestStatus.QUEUED, RequestStatus.APPROVED, RequestStatus.ANSWERED, RequestStatus.UNCONFIRMED],
)
def test_approval_refused_outside_review(status, reviewer):
    request = request_make(status=status)
    with pytest.raises(ReviewError, match="only a request waiting for staff review"):
        request_approve(request_id=request.id, user=reviewer)
    request.refresh_from_db()
    assert request.status == status


def test_approval_of_a_missing_request_says_so(reviewer):
    with pytest.raises(ReviewError, match="No request with id 424242"):
        request_approve(request_id=424242, user=reviewer)


# --- Commands ---------------------------------------------------------------------------------


def test_commands_decide_and_approve(waiting, reviewer, capsys, django_capture_on_commit_callbacks):
    maybe = waiting.matches.get(band=Match.Band.REVIEW)
    by_account = waiting.matches.get(band=Match.Band.IDENTIFIER)
    call_command("match_confirm", str(maybe.id), "--user", "rita")
    call_command("match_reject", str(by_account.id), "--user", "rita")
    with django_capture_on_commit_callbacks(execute=False):
        call_command("request_approve", str(waiting.id), "--user", "rita")
    out = capsys.readouterr().out
    assert f"match {maybe.id} of request {waiting.id}: confirmed" in out
    assert f"match {by_account.id} of request {waiting.id}: rejected" in out
    assert f"request {waiting.id}: approved" in out
    waiting.refresh_from_db()
    assert waiting.status == RequestStatus.APPROVED


def test_commands_refuse_unknown_users_and_missing_permissions(waiting):
    maybe = waiting.matches.get(band=Match.Band.REVIEW)
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("match_confirm", str(maybe.id), "--user", "nobody")
    User.objects.create_user("viewer", is_staff=True)
    with pytest.raises(CommandError, match=r"does not have the permission 'rights\.review_match'"):
        call_command("match_confirm", str(maybe.id), "--user", "viewer")
    User.objects.create_user("outsider")
    with pytest.raises(CommandError, match="not an active member of staff"):
        call_command("request_approve", str(waiting.id), "--user", "outsider")
    maybe.refresh_from_db()
    assert maybe.decision == Match.Decision.PENDING


def test_approve_command_reports_the_pending_matches(waiting, reviewer, capsys):
    with pytest.raises(CommandError, match="1 request\\(s\\) not approved"):
        call_command("request_approve", str(waiting.id), "--user", "rita")
    assert "waiting for review" in capsys.readouterr().err


def test_the_services_themselves_refuse_users_without_the_permission():
    """Before the fix only the callers checked: any user (or none) could decide and approve."""
    request = request_make(status=RequestStatus.REVIEW)
    maybe = _match(request, "maybe", Match.Band.REVIEW)
    viewer = User.objects.create_user("vera", is_staff=True)
    only_reviews = User.objects.create_user("rob", is_staff=True)
    only_reviews.user_permissions.add(Permission.objects.get(codename="review_match"))
    only_reviews = User.objects.get(pk=only_reviews.pk)

    for user in (None, viewer):
        with pytest.raises(ReviewNotAllowed, match="confirm or reject matches"):
            match_confirm(match_id=maybe.id, user=user)
        with pytest.raises(ReviewNotAllowed, match="approve requests"):
            request_approve(request_id=request.id, user=user)
    with pytest.raises(ReviewNotAllowed, match=r"'rights\.review_match'"):
        matches_decide(match_ids=[maybe.id], decision="rejected", user=viewer)
    maybe.refresh_from_db()
    assert maybe.decision == Match.Decision.PENDING  # nothing changed, nothing recorded
    assert not AuditEvent.objects.filter(request=request).exists()

    match_reject(match_id=maybe.id, user=only_reviews)  # a reviewer may decide...
    with pytest.raises(ReviewNotAllowed, match=r"'rights\.approve_request'"):
        request_approve(request_id=request.id, user=only_reviews)  # ...but not approve
    request.refresh_from_db()
    assert request.status == RequestStatus.REVIEW


def test_the_review_screen_shows_the_selfie_that_matched_beside_each_candidate(client):
    """Before the fix every candidate was shown beside selfies.0, here a rejected photo."""
    from django.core.files.base import ContentFile
    from django.urls import reverse

    from rights.models import Selfie

    request = request_make(status=RequestStatus.REVIEW)
    selfies = [
        Selfie.objects.create(
            request=request, file=ContentFile(b"x", name=f"s{n}.jpg"), sha256=f"{n}" * 64, status=status
        )
        for n, status in enumerate(["rejected", "usable", "usable"])
    ]
    rejected, first_usable, second_usable = selfies
    by_face = _match(request, "face", Match.Band.REVIEW)
    Match.objects.filter(pk=by_face.pk).update(selfie=second_usable)
    by_identifier = _match(request, "identifier", Match.Band.IDENTIFIER, score=None)

    from tests.rights.staff_helpers import REVIEWER, staff_login, staff_user

    staff_login(client, staff_user(REVIEWER))
    html = client.get(reverse("admin:rights_datarequest_change", args=[request.id])).content.decode()

    def row(match: Match) -> str:
        start = html.index(f'data-match="{match.pk}"')
        return html[start : html.index("</tr>", start)]

    assert f'data-selfie="{second_usable.pk}"' in row(by_face)  # the selfie that matched
    assert f'data-selfie="{first_usable.pk}"' in row(by_identifier)  # none: the first usable one
    for match in (by_face, by_identifier):
        assert f'data-selfie="{rejected.pk}"' not in row(match)
        assert row(match).count("data-selfie=") == 1
