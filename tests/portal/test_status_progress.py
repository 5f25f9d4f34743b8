"""Erasure progress (issue 13): the chunks done, from the audit trail, on the public status page and
on the staff request page; an erasure waiting for the same person's access answer says so."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from rights.models import ErasureRecord, RequestKind, RequestStatus
from rights.pipeline.erasure import erasure_chunk_done
from tests.rights.staff_helpers import VIEWER, make_request, staff_login, staff_user

pytestmark = pytest.mark.django_db


def status_page(client, data_request) -> str:
    response = client.get(reverse("public:status", args=[data_request.public_token]))
    assert response.status_code == 200
    return response.content.decode()


def staff_page(client, data_request) -> str:
    staff_login(client, User.objects.filter(username="viewer").first() or staff_user(VIEWER))
    response = client.get(reverse("admin:rights_datarequest_change", args=[data_request.id]))
    assert response.status_code == 200
    return response.content.decode()


def test_chunks_done_show_on_the_status_page_and_the_request_page(client) -> None:
    erasure = make_request(kind=RequestKind.ERASURE, status=RequestStatus.FULFILLING)
    for n in range(3):
        ErasureRecord.objects.create(
            request=erasure,
            image_id=n + 1,
            image_sha256=f"{n:064x}",
            removed_from=["file"],
            erased_at=timezone.now(),
        )
    # The real chunk service writes the audit row both pages read (its next chunk is only enqueued
    # on commit, which never comes in this test's transaction).
    assert erasure_chunk_done(request_id=erasure.id, remaining=7)
    erasure.refresh_from_db()
    assert "3 erased so far, 7 still to go" in status_page(client, erasure)
    html = staff_page(client, erasure)
    assert 'id="erasure-progress"' in html and "1 chunk done: 3 images erased, 7 still to erase" in html


def test_before_any_chunk_no_progress_is_claimed(client) -> None:
    erasure = make_request(kind=RequestKind.ERASURE, status=RequestStatus.FULFILLING)
    assert "We are preparing your answer." in status_page(client, erasure)
    assert 'id="erasure-progress"' not in staff_page(client, erasure)


def test_an_erasure_waiting_for_the_same_persons_access_answer_says_so(client) -> None:
    make_request(kind=RequestKind.ACCESS, status=RequestStatus.REVIEW, email="same@example.org")
    erasure = make_request(kind=RequestKind.ERASURE, status=RequestStatus.APPROVED, email="same@example.org")
    html = status_page(client, erasure)
    assert "Your erasure waits until we have answered your access request" in html
    assert "Waiting for the same person's open access request" in staff_page(client, erasure)
    # Another person's open access request does not hold it.
    other = make_request(kind=RequestKind.ERASURE, status=RequestStatus.APPROVED, email="other@example.org")
    assert "Your erasure waits" not in status_page(client, other)
