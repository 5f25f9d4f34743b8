"""The CNIL figures, each checked against a seeded history (tests.rights.staff_helpers.seed_history)."""

from __future__ import annotations

from datetime import date

import pytest
import time_machine
from django.db import transaction

from rights.models import DataRequest, RequestStatus
from rights.reporting.cnil import (
    ERASURE_FAILED,
    EXPIRED,
    EXTENDED,
    FOLLOWED_UP,
    HELD_ACCESS,
    HELD_OTHER,
    LATE,
    OVERDUE,
    REFUSED,
    REPEATED,
    SEARCH_NOT_WHOLE,
    MonthFigures,
    cnil_figures,
    overdue_requests,
    search_span_check,
)
from tests.rights.staff_helpers import (
    NOW,
    REFUSAL_REASON,
    SEEDED_TOTALS,
    local,
    make_request,
    seed_history,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded() -> dict[str, DataRequest]:
    return seed_history()


@pytest.fixture
def figures(seeded):
    with time_machine.travel(local(*NOW), tick=False):
        return cnil_figures()


def ids(seeded: dict[str, DataRequest], *names: str) -> list[int]:
    return [seeded[name].id for name in names]


def test_requests_are_counted_without_the_unconfirmed(seeded, figures) -> None:
    assert figures.requests == 10
    assert len(figures.request_ids) == 10
    assert seeded["unconfirmed_old"].id not in figures.request_ids
    assert figures.unconfirmed == 2
    assert figures.by_kind == {"access": 8, "erasure": 2, "objection": 0}
    assert figures.open == 4  # overdue, held, erasure_failed, search_incomplete


def test_answered_in_time_and_late(seeded, figures) -> None:
    # on_time, followed_up, refused, repeated, extended (in time thanks to its extension) + late
    assert figures.answered == 6
    assert figures.answered_in_time == 5
    assert figures.answered_late == ids(seeded, "late")


def test_an_extension_moves_the_deadline_used_for_lateness(seeded, figures) -> None:
    extended = seeded["extended"]
    assert extended.answered_at > extended.due_at  # late against the original due date...
    assert extended.id not in figures.answered_late  # ...but in time against the extended one
    assert figures.extended == ids(seeded, "extended")


def test_overdue_now_excludes_the_never_confirmed(seeded, figures) -> None:
    assert figures.overdue_now == ids(seeded, "overdue")
    assert seeded["unconfirmed_old"].id not in figures.overdue_now
    with time_machine.travel(local(*NOW), tick=False):
        assert list(overdue_requests().values_list("id", flat=True)) == ids(seeded, "overdue")


def test_overdue_grows_as_time_passes(seeded) -> None:
    # 1 July 2024 23:59:59 was the held request's due date; a minute later it is overdue too.
    with time_machine.travel(local(2024, 7, 1, 23, 59, 59), tick=False):
        assert cnil_figures().overdue_now == ids(seeded, "overdue", "search_incomplete")
    with time_machine.travel(local(2024, 7, 2, 0, 1), tick=False):
        assert cnil_figures().overdue_now == ids(seeded, "overdue", "search_incomplete", "held")


def test_answered_only_after_a_follow_up(seeded, figures) -> None:
    assert figures.answered_after_followup == ids(seeded, "followed_up")
    assert figures.followed_up_open == []


def test_access_answers_held_for_incompleteness(seeded, figures) -> None:
    assert figures.held_access == ids(seeded, "held")


def test_erasures_that_failed_verification(seeded, figures) -> None:
    assert figures.erasure_verification_failed == ids(seeded, "erasure_failed")


def test_a_verification_failure_still_counts_after_the_erasure_is_answered(seeded) -> None:
    DataRequest.objects.filter(id=seeded["erasure_failed"].id).update(
        status=RequestStatus.ANSWERED, answered_at=local(2024, 6, 10, 10)
    )
    with time_machine.travel(local(*NOW), tick=False):
        assert cnil_figures().erasure_verification_failed == ids(seeded, "erasure_failed")


def test_refusals_and_their_reasons(seeded, figures) -> None:
    [refusal] = figures.refusals
    assert (refusal.request_id, refusal.kind, refusal.reason) == (
        seeded["refused"].id,
        "access",
        REFUSAL_REASON,
    )
    assert refusal.refused_at == local(2024, 5, 10, 10)


def test_repeated_requests_and_how_they_were_answered(seeded, figures) -> None:
    [repeated] = figures.repeated
    assert repeated.request_id == seeded["repeated"].id
    assert repeated.earlier_ids == ids(seeded, "on_time")
    assert (repeated.status, repeated.answer_kinds, repeated.in_time) == ("answered", ["access_report"], True)


def test_every_search_span_is_checked_against_the_whole_collection(seeded, figures) -> None:
    by_request = {span.request_id: span for span in figures.searches}
    assert sorted(by_request) == ids(seeded, "on_time", "search_incomplete")
    complete = by_request[seeded["on_time"].id]
    assert complete.covers_whole and complete.problem == ""
    assert (complete.collection_from, complete.collection_to) == (local(2019, 6, 1), local(2023, 12, 31))
    incomplete = by_request[seeded["search_incomplete"].id]
    assert not incomplete.covers_whole
    assert "images collected from 2019-06-01 were not covered" in incomplete.problem
    assert figures.searches_not_whole == ids(seeded, "search_incomplete")
    # The whole collection today also holds an image ingested after both searches.
    assert (figures.collection_from, figures.collection_to) == (local(2019, 6, 1), local(2024, 5, 30))


def test_a_search_with_no_recorded_span_is_flagged(seeded) -> None:
    blind = make_request(received_at=local(2024, 6, 2, 10), searched_at=local(2024, 6, 3, 10))
    span = search_span_check(request=blind)
    assert not span.covers_whole
    assert span.problem == "the search recorded no span of collection dates"


def test_a_search_missing_the_newest_images_is_flagged(seeded) -> None:
    stale = make_request(
        received_at=local(2024, 6, 2, 10),
        searched_at=local(2024, 6, 3, 10),
        searched_collection_from=local(2019, 6, 1),
        searched_collection_to=local(2023, 12, 31),
    )
    span = search_span_check(request=stale)
    assert not span.covers_whole
    assert span.problem == "images collected up to 2024-05-30 were not covered (search ended at 2023-12-31)"


def test_answered_in_time_and_late_per_month(seeded, figures) -> None:
    assert figures.monthly == [
        MonthFigures(month=date(2024, 3, 1), in_time=1, late=0),  # on_time
        MonthFigures(month=date(2024, 4, 1), in_time=1, late=1),  # extended, late
        MonthFigures(month=date(2024, 5, 1), in_time=2, late=0),  # followed_up, refused
        MonthFigures(month=date(2024, 6, 1), in_time=1, late=0),  # repeated
    ]


def test_months_without_answers_are_shown_as_gaps(seeded) -> None:
    DataRequest.objects.filter(id=seeded["repeated"].id).update(answered_at=local(2024, 8, 2, 10))
    with time_machine.travel(local(2024, 9, 1), tick=False):
        monthly = cnil_figures().monthly
    assert [(m.month, m.in_time, m.late) for m in monthly[-3:]] == [
        (date(2024, 6, 1), 0, 0),
        (date(2024, 7, 1), 0, 0),
        (date(2024, 8, 1), 0, 1),  # answered on 2 August, due 20 June: late
    ]


def test_flags_per_request(seeded, figures) -> None:
    expected = {
        "on_time": [],
        "late": [LATE],
        "overdue": [OVERDUE],
        "followed_up": [FOLLOWED_UP],
        "held": [HELD_ACCESS],
        "refused": [REFUSED],
        "repeated": [REPEATED],
        "extended": [EXTENDED],
        "erasure_failed": [ERASURE_FAILED],
        "search_incomplete": [SEARCH_NOT_WHOLE],
    }
    for name, flags in expected.items():
        assert figures.flags.get(seeded[name].id, []) == flags, name


def test_totals(figures) -> None:
    assert figures.totals() == SEEDED_TOTALS


def test_a_period_counts_the_requests_received_in_it(seeded) -> None:
    with time_machine.travel(local(*NOW), tick=False):
        april_may = cnil_figures(received_from=date(2024, 4, 1), received_to=date(2024, 5, 31))
    assert april_may.requests == 5  # overdue, followed_up, refused, repeated, search_incomplete
    assert april_may.answered_late == []
    assert april_may.overdue_now == ids(seeded, "overdue")
    assert [r.request_id for r in april_may.refusals] == ids(seeded, "refused")


def test_period_bounds_are_whole_local_days(seeded) -> None:
    before = make_request(received_at=local(2024, 7, 31, 23, 59, 59))
    first = make_request(received_at=local(2024, 8, 1, 0, 0, 0))
    last = make_request(received_at=local(2024, 8, 31, 23, 59, 59))
    after = make_request(received_at=local(2024, 9, 1, 0, 0, 0))
    with time_machine.travel(local(2024, 9, 2), tick=False):
        august = cnil_figures(received_from=date(2024, 8, 1), received_to=date(2024, 8, 31))
    assert august.requests == 2
    assert august.request_ids == [first.id, last.id]
    assert before.id not in august.flags and after.id not in august.flags


def test_nothing_seeded_gives_zeroes() -> None:
    empty = cnil_figures()
    assert set(empty.totals().values()) == {0}
    assert empty.monthly == [] and empty.searches == []


def test_holds_are_counted_by_what_happened_not_by_the_status(settings) -> None:
    import inspect
    from datetime import timedelta

    from django.utils import timezone

    from rights.lifecycle.audit import audit_record
    from rights.pipeline import access as access_report
    from rights.pipeline import erasure
    from rights.pipeline.failures import fulfil_failed, request_hold, search_failed
    from rights.upkeep.recovery import request_requeue_if_stuck

    # The audit actions counted are the ones the pipeline writes.
    assert "action=AuditAction.ANSWER_HELD_INCOMPLETE" in inspect.getsource(access_report)
    assert "action=AuditAction.ERASURE_VERIFICATION_FAILED" in inspect.getsource(erasure)

    incomplete = make_request(status=RequestStatus.FULFILLING)
    request_hold(
        request_id=incomplete.id,
        from_statuses=[RequestStatus.FULFILLING],
        reason="The access answer failed its completeness check: image 3 has no source URL",
        action="answer_held_incomplete",
    )
    unverified = make_request(kind="erasure", status=RequestStatus.FULFILLING)
    with transaction.atomic():
        audit_record(actor="system", action="erasure_verification_failed", request_id=unverified.id)
    fulfil_failed(request_id=unverified.id, error=RuntimeError("1 image still found"), final=True)

    access_failed = make_request(status=RequestStatus.FULFILLING)
    fulfil_failed(request_id=access_failed.id, error=OSError("disk full"), final=True)
    erasure_search_failed = make_request(kind="erasure", status=RequestStatus.SEARCHING)
    search_failed(request_id=erasure_search_failed.id, error=OSError("index unreadable"), final=True)
    settings.STUCK_MAX_REQUEUES = 0
    dead_worker = make_request(kind="objection", status=RequestStatus.SEARCHING)
    DataRequest.objects.filter(id=dead_worker.id).update(status_changed_at=timezone.now() - timedelta(days=1))
    assert request_requeue_if_stuck(request_id=dead_worker.id, now=timezone.now()) == "held"

    assert set(DataRequest.objects.values_list("status", flat=True)) == {RequestStatus.HELD}
    figures = cnil_figures()
    # Before the fix: every held access request was "held for incompleteness" ([incomplete,
    # access_failed]) and every held erasure or objection "failed verification" (four of them).
    assert figures.held_access == [incomplete.id]
    assert figures.erasure_verification_failed == [unverified.id]
    assert figures.held_other == [access_failed.id, erasure_search_failed.id, dead_worker.id]
    assert figures.flags[dead_worker.id] == [HELD_OTHER]
    assert figures.totals()["held_other"] == 3


def test_a_search_whose_index_missed_faces_is_flagged(seeded) -> None:
    # Dates cover the whole collection, but the index searched held 2 faces of the collection's 3.
    partial = make_request(
        received_at=local(2024, 6, 2, 10),
        searched_at=local(2024, 6, 3, 10),
        searched_collection_from=local(2019, 6, 1),
        searched_collection_to=local(2024, 5, 30),
        searched_index_faces=2,
        searched_collection_faces=3,
    )
    whole = make_request(
        received_at=local(2024, 6, 2, 11),
        searched_at=local(2024, 6, 3, 11),
        searched_collection_from=local(2019, 6, 1),
        searched_collection_to=local(2024, 5, 30),
        searched_index_faces=3,
        searched_collection_faces=3,
    )
    span = search_span_check(request=partial)
    # Before the fix only the dates were checked: covers_whole was True and problem "".
    assert not span.covers_whole
    assert span.problem == "the index searched held 2 faces, the collection 3 at that moment"
    assert (span.index_faces, span.collection_faces) == (2, 3)
    assert search_span_check(request=whole).covers_whole
    with time_machine.travel(local(*NOW), tick=False):
        figures = cnil_figures()
    assert figures.searches_not_whole == [*ids(seeded, "search_incomplete"), partial.id]
    assert figures.flags[partial.id] == [SEARCH_NOT_WHOLE]


def test_never_confirmed_expired_requests_are_counted_on_their_own(seeded) -> None:
    from rights.admin.common import days_left_badge
    from rights.reporting.compliance import compliance_report_build, compliance_report_data
    from rights.upkeep.purge import request_expire_unconfirmed

    expired = make_request(received_at=local(2024, 1, 5, 10), status=RequestStatus.UNCONFIRMED)
    assert request_expire_unconfirmed(request_id=expired.id, now=local(2024, 3, 1, 10))
    expired.refresh_from_db()
    assert expired.status == RequestStatus.EXPIRED and expired.closed_at is not None
    with time_machine.travel(local(*NOW), tick=False):
        figures = cnil_figures()
        report = compliance_report_data(
            report=compliance_report_build(date_from=date(2024, 1, 1), date_to=date(2024, 12, 31))
        )
    # Without its own place an expired request counted as a confirmed request, of its kind, closed
    # but neither answered nor refused (and the queue showed it as "expired, late").
    assert figures.expired == [expired.id]
    assert figures.flags[expired.id] == [EXPIRED]
    assert expired.id not in figures.request_ids
    totals = figures.totals()
    assert totals == {**SEEDED_TOTALS, "expired": 1}  # every other figure unchanged
    assert figures.by_kind == {"access": 8, "erasure": 2, "objection": 0}
    [line] = [line for line in report["requests"] if line["request_id"] == expired.id]
    assert (line["status"], line["in_time"], line["days_taken"], line["flags"]) == (
        "expired",
        None,
        None,
        [EXPIRED],
    )
    assert report["lists"]["expired"] == [expired.id]
    assert "never confirmed, expired" in days_left_badge(expired)
