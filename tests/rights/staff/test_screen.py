"""rights.staff.screen: candidates are grouped by the face group the search recorded (Match.group),
rows searched before groups by the selfie that found them, identifier finds apart."""

from __future__ import annotations

import hashlib

import pytest

from rights.models import DataRequest, Match, RequestStatus, Selfie
from rights.staff.screen import group_needing_decision, match_group_key, review_page_build
from tests.rights.staff_helpers import make_request

pytestmark = pytest.mark.django_db


def _selfie(data_request: DataRequest) -> Selfie:
    return Selfie.objects.create(
        request=data_request,
        file="",
        sha256=hashlib.sha256(str(data_request.id).encode()).hexdigest(),
        status=Selfie.Status.USABLE,
    )


def _match(
    data_request: DataRequest, n: int, *, score: float | None, band: str = "review", **fields
) -> Match:
    return Match.objects.create(
        request=data_request, image_sha256=f"{n:064x}", score=score, band=band, **fields
    )


@pytest.fixture
def grouped() -> tuple[DataRequest, dict[str, list[Match]]]:
    """Two face groups found by one selfie, a row searched before groups, an identifier find."""
    data_request = make_request(status=RequestStatus.REVIEW)
    selfie = _selfie(data_request)
    rows = {
        "first": [
            _match(data_request, 1, score=0.61, band="match", group=1, face_id=11, selfie=selfie),
            _match(data_request, 2, score=0.33, group=1, face_id=12, selfie=selfie),
            _match(data_request, 3, score=0.29, group=1, face_id=13, selfie=selfie),
        ],
        "second": [_match(data_request, 4, score=0.31, group=2, face_id=14, selfie=selfie)],
        "before": [_match(data_request, 5, score=0.27, face_id=15, selfie=selfie)],
        "identifier": [_match(data_request, 6, score=None, band="identifier")],
    }
    return data_request, rows


def test_the_key_is_the_face_group_else_minus_the_selfie_else_zero(grouped) -> None:
    _, rows = grouped
    selfie_id = rows["before"][0].selfie_id
    assert {match_group_key(match=m) for m in rows["first"]} == {1}
    assert match_group_key(match=rows["second"][0]) == 2  # same selfie, another face group
    assert match_group_key(match=rows["before"][0]) == -selfie_id
    assert match_group_key(match=rows["identifier"][0]) == 0


def test_the_screen_numbers_face_groups_best_first_and_counts_their_pending(grouped) -> None:
    data_request, rows = grouped
    page = review_page_build(request=data_request, page=1, shown="all")
    by_key = {g.key: g for g in page.groups}
    assert set(by_key) == {1, 2, -rows["before"][0].selfie_id, 0}
    assert [by_key[k].number for k in (1, 2)] == [1, 2]  # best score 0.61 before 0.31
    assert by_key[0].number == 4  # no score: the identifier group comes last
    assert (by_key[1].pending, by_key[2].pending) == (2, 1)  # the match-band row needs no decision
    assert by_key[1].faces and not by_key[1].selfie_id  # a face group is not named by a selfie
    before = by_key[-rows["before"][0].selfie_id]
    assert not before.faces and before.selfie_id == rows["before"][0].selfie_id
    numbers = {row.match.id: row.group for row in page.rows}
    assert {numbers[m.id] for m in rows["first"]} == {1}
    assert numbers[rows["second"][0].id] == 2


def test_a_bulk_decision_takes_only_its_face_groups_pending_candidates(grouped) -> None:
    data_request, rows = grouped
    assert {m.id for m in group_needing_decision(request_id=data_request.id, key=1)} == {
        m.id for m in rows["first"][1:]
    }
    assert [m.id for m in group_needing_decision(request_id=data_request.id, key=2)] == [rows["second"][0].id]
    before = rows["before"][0]
    assert [m.id for m in group_needing_decision(request_id=data_request.id, key=-before.selfie_id)] == [
        before.id
    ]
    assert [m.id for m in group_needing_decision(request_id=data_request.id, key=0)] == [
        rows["identifier"][0].id
    ]
    # A key no group has gets nothing (the admin then says nothing in that group needs a decision).
    assert group_needing_decision(request_id=data_request.id, key=99) == []
