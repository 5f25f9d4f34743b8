"""rights.pipeline.erasure's certificate: what it may say to a requester nobody at staff approved.

No face models: the ledger rows and matches are written as the erasure writes them, and the
certificate service is called as ``erasure_carry_out`` calls it once nothing is left to delete.
"""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from rights.models import Match, Recipient, RequestKind, RequestStatus
from rights.pipeline.erasure import erasure_certificate_issue, erasure_ledger, erasure_sources_disclosed
from rights.recipients.notices import notices_create_for_erasure
from rights.recipients.recipients import CONTACT_UNKNOWN
from rights.staff.review import request_approve
from tests.rights.jobs_helpers import erase, make_image, make_request, release
from tests.rights.pipeline_helpers import reviewer_user

pytestmark = pytest.mark.django_db

SOURCES = ["https://photos.example.org/victim/beach.jpg", "https://social.example.net/victim/p/42"]


def _erased_request(*, status: str = RequestStatus.FULFILLING):
    request = make_request(kind=RequestKind.ERASURE, status=status)
    images = [
        make_image(f"img{n}", source_url=url, platform="instagram", account="victim.account")
        for n, url in enumerate(SOURCES)
    ]
    for image in images:
        Match.objects.create(
            request=request, image=image, image_sha256=image.sha256, band=Match.Band.MATCH, score=0.8
        )
        erase(request, image)
    return request, images


def _verification() -> dict:
    return {
        "searched_at": timezone.now().isoformat(),
        "selfies_used": 1,
        "identifiers_used": 0,
        "threshold": 0.3,
        "thresholds": {"match": 0.45, "review": 0.3, "faces_planned_for": 10, "selfies": 1, "why": "test"},
        "collection_size": 10,
        "remaining": [],
        "kept_as_not_you": 0,
    }


def _certificate(request):
    return erasure_certificate_issue(
        request=request, records=erasure_ledger(request=request), verification=_verification(), extra={}
    )


def _everything_shown(answer, client) -> str:
    """The payload, the downloadable certificate and the public answer page, as one text."""
    page = client.get(reverse("public:answer", kwargs={"token": answer.download_token}))
    assert page.status_code == 200
    return json.dumps(answer.payload) + answer.archive.read().decode() + page.content.decode()


def test_a_certificate_nobody_at_staff_approved_has_counts_hashes_and_dates_only(client, settings):
    settings.ACCESS_REQUIRES_APPROVAL = True
    request, images = _erased_request()  # approved by policy: every match was in the match band

    answer = _certificate(request)

    shown = _everything_shown(answer, client)
    # Before the fix each source URL was in all three.
    for url in SOURCES:
        assert url not in shown
    assert "instagram" not in shown and "victim.account" not in shown
    assert answer.payload["sources_withheld"] is True
    assert answer.payload["erased_count"] == 2
    assert all(set(row) == {"image_sha256", "removed_from", "erased_at"} for row in answer.payload["erased"])
    assert {row["image_sha256"] for row in answer.payload["erased"]} == {i.sha256 for i in images}
    assert all(image.sha256 in shown for image in images)


def test_after_a_staff_approval_the_certificate_lists_where_each_image_came_from(client, settings):
    settings.ACCESS_REQUIRES_APPROVAL = True
    request, _ = _erased_request(status=RequestStatus.REVIEW)
    request_approve(request_id=request.id, user=reviewer_user())
    assert erasure_sources_disclosed(request=request)

    answer = _certificate(request)

    shown = _everything_shown(answer, client)
    assert answer.payload["sources_withheld"] is False
    assert all(url in shown for url in SOURCES)


def test_where_access_answers_need_no_approval_the_certificate_is_not_cut_either(settings):
    settings.ACCESS_REQUIRES_APPROVAL = False
    request, _ = _erased_request()

    answer = _certificate(request)

    assert {row["source_url"] for row in answer.payload["erased"]} == set(SOURCES)


def test_the_certificate_counts_recipients_told_and_waiting_and_notices_are_unchanged(settings, mailoutbox):
    settings.ACCESS_REQUIRES_APPROVAL = True
    request, images = _erased_request()
    known = Recipient.objects.create(name="Known Partner", contact_email="dpo@known.example")
    unknown = Recipient.objects.create(name="Unknown Partner", contact_email=CONTACT_UNKNOWN)
    release(known, images[0])
    release(unknown, images[1])

    notices = notices_create_for_erasure(request_id=request.id)
    answer = _certificate(request)

    # No staff approval: counts only, nobody named.
    assert answer.payload["recipients"] == {"notified": 1, "waiting_for_contact": 1, "told": []}
    assert "1 told now, 1 waiting until we have a contact" in answer.archive.read().decode()
    # Recipients' notices still list the hashes they hold, whoever approved the request.
    assert {n.recipient_id: n.image_hashes for n in notices} == {
        known.id: [images[0].sha256],
        unknown.id: [images[1].sha256],
    }
    # The privacy officer is told which recipient has no contact (before the fix: nobody was).
    alerts = [m for m in mailoutbox if m.to == [settings.PRIVACY_OFFICER_EMAIL]]
    assert len(alerts) == 1 and "Unknown Partner" in alerts[0].body and "Known Partner" not in alerts[0].body
