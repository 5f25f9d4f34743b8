# ruff: noqa: F811 (the fixtures imported from test_admin are used as arguments)
"""The review screen (issue 13): provenance, the full image with the face boxed (audited), those
needing a decision first, pages, decisions by group, JSON answers for the script, and messages that
name candidates as the screen shows them. Through the Django test client, logged in as each role.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from django.urls import reverse
from PIL import Image as PILImage

import rights
from matching.models import Face, Image
from rights.models import AuditEvent, DataRequest, Match, RequestStatus
from rights.staff.screen import REVIEW_PAGE_SIZE
from tests.rights.admin.test_admin import FACES, under_review, users  # noqa: F401 (fixtures)
from tests.rights.staff_helpers import PRIVACY_OFFICER, REVIEWER, VIEWER, local, make_request, staff_login

pytestmark = pytest.mark.django_db


def page_of(client, data_request: DataRequest, query: str = "") -> str:
    response = client.get(reverse("admin:rights_datarequest_change", args=[data_request.id]) + query)
    assert response.status_code == 200
    return response.content.decode()


def decide(client, data_request: DataRequest, data: dict, **headers):
    url = reverse("admin:rights_datarequest_matches_decide", args=[data_request.id])
    return client.post(url, data, **headers)


def rows_in(html: str) -> list[int]:
    return [int(m) for m in re.findall(r'<tr class="review-row[^"]*" data-match="(\d+)"', html)]


@pytest.fixture
def many() -> DataRequest:
    """25 candidates: 5 match-band, 15 to review, 5 already rejected, scores never tied."""
    data_request = make_request(status=RequestStatus.REVIEW)
    for n in range(25):
        band = "match" if n < 5 else "review"
        image = Image.objects.create(
            sha256=f"{n + 1:064x}",
            collected_at=local(2020, 1, 1 + n),
            width=10,
            height=10,
            file="",
            source_url=f"https://photos.example.net/p/{n}",
            platform="Flickr",
            account=f"account{n}",
        )
        Match.objects.create(
            request=data_request,
            image=image,
            image_sha256=image.sha256,
            score=0.9 - n * 0.01,
            band=band,
            decision="rejected" if n >= 20 else "pending",
        )
    return data_request


def test_each_candidate_shows_its_provenance_and_a_link_to_the_boxed_full_image(client, users, many) -> None:
    staff_login(client, users[REVIEWER])
    html = page_of(client, many)
    first = many.matches.order_by("-score").first()
    assert "https://photos.example.net/p/5" in html  # the best candidate needing a decision
    assert "Flickr, account account5" in html and "collected 6 January 2020" in html
    assert reverse("admin:rights_match_image", args=[first.id]) + "?boxed=1" in html
    # An image without any provenance says so rather than leaving blanks.
    Image.objects.filter(id=first.image_id).update(source_url="", platform="", account="")
    html = page_of(client, many, "?review=all")
    assert "no source URL" in html and "platform unknown" in html


def test_needing_a_decision_comes_first_and_the_screen_is_paged(client, users, many) -> None:
    staff_login(client, users[REVIEWER])
    needing = list(many.matches.filter(band="review", decision="pending").order_by("-score"))
    html = page_of(client, many)
    rows = rows_in(html)
    assert len(rows) == REVIEW_PAGE_SIZE
    assert rows[: len(needing)] == [m.id for m in needing]  # then match-band, then decided
    assert "Page 1 of 2" in html and "25 candidates" in html
    second = rows_in(page_of(client, many, "?review_page=2"))
    assert len(second) == 25 - REVIEW_PAGE_SIZE and not set(rows) & set(second)
    assert set(second) <= set(many.matches.filter(decision="rejected").values_list("id", flat=True))
    # Only those needing a decision: the 15 review-band candidates, one page.
    only = rows_in(page_of(client, many, "?review=pending"))
    assert only == [m.id for m in needing]
    # A page number that is not one gives the nearest page, never an error.
    assert rows_in(page_of(client, many, "?review_page=999")) == second
    assert rows_in(page_of(client, many, "?review_page=abc")) == rows


def test_the_pending_count_counts_only_candidates_needing_a_decision(client, users, under_review) -> None:
    staff_login(client, users[PRIVACY_OFFICER])
    html = page_of(client, under_review)  # one match-band candidate and two to review
    assert "decide the 2 candidates needing a decision first" in html
    assert '<span class="review-pending-count">2</span> needing a decision' in html


def test_approval_refused_names_the_candidates_by_image(client, users, under_review) -> None:
    staff_login(client, users[PRIVACY_OFFICER])
    url = reverse("admin:rights_datarequest_approve", args=[under_review.id])
    text = " ".join(str(m) for m in client.post(url, follow=True).context["messages"])
    images = sorted(under_review.matches.filter(band="review").values_list("image_id", flat=True))
    assert text.startswith("Not done: 2 candidates still need a decision")
    assert all(str(i) in text for i in images) and "match id" not in text
    assert DataRequest.objects.get(id=under_review.id).status == RequestStatus.REVIEW


def test_a_face_group_is_decided_at_once_and_the_other_group_is_left(client, users, under_review) -> None:
    """Groups are the face groups the search recorded, whatever selfie found them."""
    selfie = under_review.selfies.get()
    sure, first, second = under_review.matches.order_by("-score")
    under_review.matches.update(selfie=selfie)
    under_review.matches.filter(id__in=[sure.id, second.id]).update(group=1)
    under_review.matches.filter(id=first.id).update(group=2)
    staff_login(client, users[REVIEWER])
    html = page_of(client, under_review)
    assert "Group 1 (faces that match each other): 1 needing" in html
    assert "Group 2 (faces that match each other): 1 needing" in html and "found by selfie" not in html
    response = decide(client, under_review, {"group": 1, "decision": "rejected", "review_page": "1"})
    assert response.status_code == 302
    decisions = dict(under_review.matches.values_list("id", "decision"))
    assert decisions == {sure.id: "pending", first.id: "pending", second.id: "rejected"}


def test_a_group_is_decided_at_once_and_the_match_band_is_left(client, users, under_review) -> None:
    """Rows searched before face groups: grouped by the selfie that found them (key minus its id)."""
    selfie = under_review.selfies.get()
    under_review.matches.update(selfie=selfie)
    staff_login(client, users[REVIEWER])
    html = page_of(client, under_review)
    assert "Group 1 (found by selfie" in html and "Reject the group's 2" in html
    assert f'name="group" value="{-selfie.id}"' in html
    response = decide(client, under_review, {"group": -selfie.id, "decision": "rejected", "review_page": "1"})
    assert response.status_code == 302 and response["Location"].endswith("?review_page=1#review")
    decisions = dict(under_review.matches.values_list("band", "decision").distinct())
    assert decisions == {"review": "rejected", "match": "pending"}
    # Again: nothing left in the group, a clear refusal, nothing changes.
    response = decide(client, under_review, {"group": -selfie.id, "decision": "confirmed"}, follow=True)
    assert "Not done: Nothing in that group needs a decision" in str(list(response.context["messages"])[-1])
    assert not under_review.matches.filter(decision="confirmed").exists()


def test_the_script_gets_json_and_bad_input_changes_nothing(client, users, under_review) -> None:
    staff_login(client, users[REVIEWER])
    first, second = under_review.matches.filter(band="review").order_by("-score")
    as_json = {"HTTP_ACCEPT": "application/json"}
    response = decide(client, under_review, {"single": f"{first.id}:confirmed"}, **as_json)
    body = json.loads(response.content)
    assert response.status_code == 200 and body["ok"] is True
    assert body["message"] == f"Candidate image {first.image_id} confirmed."
    assert body["matches"] == [
        {"id": first.id, "decision": "confirmed", "label": "Confirmed", "by": "reviewer"}
    ]
    assert body["pending"] == 1
    # Each bad input: a 400 with a message naming what the screen shows, and nothing decided.
    for data, says in [
        ({"single": f"{second.id}:maybe"}, "Choose confirm or reject"),
        ({"single": "999999:rejected"}, "That candidate is not one of this request's"),
        ({"single": "x:rejected"}, "the form was not understood"),
        ({"decision": "rejected"}, "Tick the candidates to decide first"),
        ({"match_ids": [second.id, 999999], "decision": "rejected"}, "not this request's"),
        ({"group": "x", "decision": "rejected"}, "the form was not understood"),
    ]:
        response = decide(client, under_review, data, **as_json)
        body = json.loads(response.content)
        assert response.status_code == 400 and body["ok"] is False and says in body["message"], data
        assert Match.objects.get(id=second.id).decision == "pending", data


def test_the_boxed_full_image_is_audited_and_only_for_reviewers(client, users, under_review) -> None:
    match = under_review.matches.get(score=0.31)
    Face.objects.create(image=match.image, x1=60, y1=60, x2=190, y2=190, det_score=0.9, embedding=b"")
    url = reverse("admin:rights_match_image", args=[match.id]) + "?boxed=1"
    staff_login(client, users[VIEWER])
    assert client.get(url).status_code == 403
    assert not AuditEvent.objects.filter(action="review_screen_viewed").exists()
    staff_login(client, users[REVIEWER])
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert "no-store" in response["Cache-Control"]
    boxed = PILImage.open(io.BytesIO(b"".join(response.streaming_content))).convert("RGB")
    # The frame is drawn on the matched face's edge: that pixel is the bright frame colour.
    red, green, blue = PILImage.open(FACES[2]).convert("RGB").getpixel((60, 120))
    assert not (red > 200 and green < 80 and blue > 150)  # that colour is not in the photo there
    red, green, blue = boxed.getpixel((60, 120))
    assert red > 200 and green < 80 and blue > 150
    [event] = AuditEvent.objects.filter(action="review_screen_viewed")
    assert event.request_id == under_review.id and event.detail == {"selfies": [], "images": [match.image_id]}
    Match.objects.filter(id=match.id).update(image=None)
    assert client.get(url).status_code == 404  # erased: nothing to show


def test_a_held_requests_reason_is_at_the_top(client, users) -> None:
    held = make_request(
        status=RequestStatus.HELD, hold_reason="The access answer misses image 12's source URL"
    )
    staff_login(client, users[VIEWER])
    html = page_of(client, held)
    assert 'id="held-reason"' in html and "misses image 12&#x27;s source URL" in html
    assert html.index('id="held-reason"') < html.index('id="statutory-clock"')
    assert 'id="held-reason"' not in page_of(client, make_request(status=RequestStatus.REVIEW))


def test_the_review_styles_take_colours_only_from_the_admin_palette() -> None:
    template = Path(rights.__file__).parent / "templates/admin/rights/datarequest/change_form.html"
    style = template.read_text().split("<style", 1)[1].split("</style>", 1)[0]
    review_rules = [
        line for line in style.splitlines() if "review" in line or "decision" in line or "band" in line
    ]
    assert review_rules and not [line for line in review_rules if re.search(r"#[0-9a-fA-F]{3,6}\b", line)]
