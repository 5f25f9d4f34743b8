"""rights.lifecycle.linking: repeated requests are linked (by email, by face), never refused or delayed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from rights.lifecycle.linking import (
    access_requests_open_for,
    requests_link_by_face,
    requests_link_earlier,
    requests_same_person,
)
from rights.models import AuditEvent, RequestKind, RequestStatus
from rights.pipeline.search import selfie_check
from tests.rights.pipeline_helpers import request_make, selfie_bytes

pytestmark = pytest.mark.django_db


def _at(days_ago: int):
    return timezone.now() - timedelta(days=days_ago)


def test_same_email_links_every_earlier_request_once():
    first = request_make(email="Ada@Example.org", received_at=_at(40), status=RequestStatus.ANSWERED)
    second = request_make(email="ada@example.org", received_at=_at(10), status=RequestStatus.REFUSED)
    other = request_make(email="bob@example.org", received_at=_at(20))
    new = request_make(email=" ADA@example.org", received_at=_at(0))

    linked = requests_link_earlier(request=new)

    assert {r.id for r in linked} == {first.id, second.id}
    assert set(new.earlier_requests.values_list("id", flat=True)) == {first.id, second.id}
    assert other not in new.earlier_requests.all()
    assert requests_link_earlier(request=new) == []  # again: nothing new, no second audit row
    (event,) = AuditEvent.objects.filter(request_id=new.id, action="requests_linked")
    assert event.detail == {"earlier_request_ids": sorted([first.id, second.id]), "by": "email"}
    # Only earlier requests: the first one is not linked to the later ones.
    assert requests_link_earlier(request=first) == []


def test_linking_never_refuses_or_delays():
    earlier = request_make(email="ada@example.org", received_at=_at(3), status=RequestStatus.ANSWERED)
    new = request_make(email="ada@example.org", status=RequestStatus.QUEUED)
    due = new.due_at
    requests_link_earlier(request=new)
    new.refresh_from_db()
    assert new.status == RequestStatus.QUEUED and new.due_at == due and new.refusal_reason == ""
    assert list(new.earlier_requests.all()) == [earlier]


@pytest.mark.models
def test_same_face_links_across_email_addresses(lfw_identities):
    who = lfw_identities["Clay_Aiken"]
    earlier = request_make(email="a@example.org", received_at=_at(30), selfies=[selfie_bytes(who[0])])
    stranger = request_make(
        email="b@example.org", received_at=_at(20), selfies=[selfie_bytes(lfw_identities["Al_Sharpton"][0])]
    )
    purged = request_make(email="c@example.org", received_at=_at(10), selfies=[selfie_bytes(who[1])])
    new = request_make(email="d@example.org", selfies=[selfie_bytes(who[-1])])
    for request in (earlier, stranger, purged, new):
        selfie_check(selfie=request.selfies.get())
    purged.selfies.update(embedding=None, purged_at=timezone.now())  # verification data deleted

    linked = requests_link_by_face(request=new)

    assert [r.id for r in linked] == [earlier.id]
    assert AuditEvent.objects.get(request_id=new.id, action="requests_linked").detail["by"] == "face"
    assert requests_link_by_face(request=new) == []


def test_same_person_and_open_access_requests():
    unconfirmed = request_make(
        kind=RequestKind.ACCESS, email="ada@example.org", status=RequestStatus.UNCONFIRMED
    )
    answered = request_make(kind=RequestKind.ACCESS, email="ada@example.org", status=RequestStatus.ANSWERED)
    open_access = request_make(
        kind=RequestKind.ACCESS, email="other@example.org", status=RequestStatus.REVIEW
    )
    erasure = request_make(kind=RequestKind.ERASURE, email="ADA@example.org", status=RequestStatus.APPROVED)
    erasure.earlier_requests.add(open_access)  # linked by face, another address

    assert set(requests_same_person(request=erasure)) == {unconfirmed, answered, open_access}
    # An unconfirmed request could name anyone's address: it does not hold up an erasure.
    assert access_requests_open_for(request=erasure) == [open_access.id]
    assert erasure in requests_same_person(request=open_access)
