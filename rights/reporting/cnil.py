"""The CNIL checks (SAN-2022-019), computed from the data: one function, one typed result.

The dashboard's summary page and the compliance report both show ``cnil_figures``; neither
computes a figure of its own. Each figure lists the request ids behind it, so that a regulator can
be shown the requests, not only a count.

What is counted:
- answered late: answered (or refused) after the effective due date (the extension's, if any);
- overdue now: confirmed, still open, past the due date in force (the extension's, if any, moved by
  the days spent waiting for the person when the clock pauses: rights.lifecycle.clock.due_in_force);
- answered only after a follow-up: the person asked again ("where is my answer?") before being
  answered (``followups`` only grows while a request is open);
- access answers held for incompleteness: access requests ever held by the completeness check
  (audit action ``answer_held_incomplete``, written by rights.pipeline.access);
- erasures that failed verification: a search after the erasure still found images (audit action
  ``erasure_verification_failed``, written by rights.pipeline.erasure), whether the retry then
  succeeded or the request was held;
- other holds: requests held now for any other reason (a worker that died on them too often, a
  search or fulfilment that failed after every retry): a fault to look at, not a partial answer,
  so counted on their own;
- refusals and their written reasons;
- repeated requests (linked to earlier ones) and how each was answered;
- for every search, the span of collection dates it covered against the span of the collection at
  that moment, and the faces in the index it searched against the faces in the collection then
  (both recorded by the search); a search that did not cover the whole collection is flagged.

Requests whose email was never confirmed are not requests staff can act on (the person may have
mistyped the address): they are counted apart, not as overdue; those still waiting for the
confirmation as ``unconfirmed``, those closed by the expiry job (EXPIRED) as ``expired`` ("never
confirmed, expired"): neither answered, nor late, nor open, nor in ``requests``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Max, Min, QuerySet
from django.utils import timezone

from matching.models import Image
from rights.lifecycle.clock import end_of_local_day, request_due_in_force, request_overdue, requests_overdue
from rights.models import (
    NEVER_CONFIRMED_STATUSES,
    AuditAction,
    AuditEvent,
    DataRequest,
    RequestKind,
    RequestStatus,
)
from rights.reporting.labels import answer_label, kind_label, search_problems, status_label

ERASURE_VERIFICATION_FAILED = AuditAction.ERASURE_VERIFICATION_FAILED
ACCESS_HELD_INCOMPLETE = AuditAction.ANSWER_HELD_INCOMPLETE
ERASURE_KINDS = [RequestKind.ERASURE, RequestKind.OBJECTION]

# The figures whose target is 0 (each one a CNIL finding that must not recur).
ZERO_TARGETS = [
    "answered_late",
    "overdue_now",
    "answered_after_followup",
    "followed_up_open",
    "held_access",
    "erasure_verification_failed",
    "held_other",
    "searches_not_whole_collection",
]

# Per-request flags (the compliance report shows them on each request's line).
LATE = "answered_late"
OVERDUE = "overdue"
FOLLOWED_UP = "answered_after_followup"
FOLLOWED_UP_OPEN = "followed_up_open"
HELD_ACCESS = "access_held_incomplete"
ERASURE_FAILED = "erasure_verification_failed"
HELD_OTHER = "held_other"
REFUSED = "refused"
REPEATED = "repeated"
EXTENDED = "extended"
SEARCH_NOT_WHOLE = "search_not_whole_collection"
UNCONFIRMED = "unconfirmed"
EXPIRED = "never_confirmed_expired"
# Never confirmed: counted apart from the requests (see the module's docstring).


@dataclass(frozen=True)
class Refusal:
    request_id: int
    kind: str
    reason: str
    refused_at: datetime | None

    @property
    def kind_label(self) -> str:
        return kind_label(self.kind)


@dataclass(frozen=True)
class RepeatedRequest:
    request_id: int
    kind: str
    status: str
    earlier_ids: list[int]
    answer_kinds: list[str]
    answered_at: datetime | None
    in_time: bool | None  # None while open

    @property
    def status_label(self) -> str:
        return status_label(self.status)

    @property
    def answer_labels(self) -> list[str]:
        return [answer_label(kind) for kind in self.answer_kinds]


@dataclass(frozen=True)
class SearchSpan:
    request_id: int
    kind: str
    searched_at: datetime
    searched_from: datetime | None
    searched_to: datetime | None
    searched_size: int | None
    index_faces: int | None  # vectors in the index searched (after its sync), recorded by the search
    collection_faces: int | None  # faces in the collection at that moment, recorded by the search
    collection_from: datetime | None  # the collection's span when the search ran
    collection_to: datetime | None
    covers_whole: bool
    problem: str  # in English: the exports' record (``problem_text``: the same in the reader's language)

    @property
    def kind_label(self) -> str:
        return kind_label(self.kind)

    @property
    def problem_text(self) -> str:
        return "; ".join(
            search_problems(
                collection_from=self.collection_from,
                collection_to=self.collection_to,
                searched_from=self.searched_from,
                searched_to=self.searched_to,
                index_faces=self.index_faces,
                collection_faces=self.collection_faces,
                translate=True,
            )
        )


@dataclass(frozen=True)
class MonthFigures:
    month: date  # the first day of the month
    in_time: int
    late: int


@dataclass(frozen=True)
class CnilFigures:
    generated_at: datetime
    received_from: date | None
    received_to: date | None
    requests: int  # confirmed requests received in the period
    request_ids: list[int]  # those requests, in order of receipt
    unconfirmed: int  # not confirmed yet
    expired: list[int]  # never confirmed, closed by the expiry job
    by_kind: dict[str, int]
    open: int
    answered: int
    answered_in_time: int
    answered_late: list[int]
    overdue_now: list[int]
    answered_after_followup: list[int]
    followed_up_open: list[int]
    held_access: list[int]
    erasure_verification_failed: list[int]
    held_other: list[int]  # held now for another reason than those two
    refusals: list[Refusal]
    repeated: list[RepeatedRequest]
    extended: list[int]
    searches: list[SearchSpan]
    searches_not_whole: list[int]
    collection_from: datetime | None  # the whole collection's span now
    collection_to: datetime | None
    monthly: list[MonthFigures]
    flags: dict[int, list[str]] = field(default_factory=dict)  # request id -> flags

    @property
    def answered_late_count(self) -> int:
        return len(self.answered_late)

    @property
    def overdue_count(self) -> int:
        return len(self.overdue_now)

    def totals(self) -> dict[str, int]:
        """The headline counts.

        Target 0: answered_late, overdue_now, answered_after_followup, followed_up_open, held_access,
        erasure_verification_failed, held_other, searches_not_whole_collection (ZERO_TARGETS). The
        others are volumes (requests, answered...) or lawful acts shown with their reasons (refused,
        repeated, extended).
        """
        return {
            "requests": self.requests,
            "unconfirmed": self.unconfirmed,
            "expired": len(self.expired),
            "open": self.open,
            "answered": self.answered,
            "answered_in_time": self.answered_in_time,
            "answered_late": len(self.answered_late),
            "overdue_now": len(self.overdue_now),
            "answered_after_followup": len(self.answered_after_followup),
            "followed_up_open": len(self.followed_up_open),
            "held_access": len(self.held_access),
            "erasure_verification_failed": len(self.erasure_verification_failed),
            "held_other": len(self.held_other),
            "refused": len(self.refusals),
            "repeated": len(self.repeated),
            "extended": len(self.extended),
            "searches": len(self.searches),
            "searches_not_whole_collection": len(self.searches_not_whole),
        }


def requests_received_between(
    *, received_from: date | None, received_to: date | None
) -> QuerySet[DataRequest]:
    """Requests received on or after ``received_from`` and on or before ``received_to`` (local days)."""
    queryset = DataRequest.objects.all()
    if received_from is not None:
        start = end_of_local_day(day=received_from - timedelta(days=1)) + timedelta(seconds=1)
        queryset = queryset.filter(received_at__gte=start)
    if received_to is not None:
        queryset = queryset.filter(received_at__lt=end_of_local_day(day=received_to) + timedelta(seconds=1))
    return queryset


def requests_for_figures(*, received_from: date | None, received_to: date | None) -> QuerySet[DataRequest]:
    """The requests received in the period, in order of receipt, with their earlier requests and answers."""
    return (
        requests_received_between(received_from=received_from, received_to=received_to)
        .prefetch_related("earlier_requests", "answers")
        .order_by("received_at", "id")
    )


def request_in_time(*, request: DataRequest) -> bool | None:
    """Answered by the effective due date; None while not answered."""
    if request.answered_at is None:
        return None
    return request.answered_at <= request_due_in_force(request=request, now=request.answered_at)


def request_earlier_ids(*, request: DataRequest) -> list[int]:
    """The ids of the earlier requests this one is linked to (prefetched), in order."""
    return sorted(r.id for r in request.earlier_requests.all())


def search_span_check(*, request: DataRequest) -> SearchSpan | None:
    """Whether a request's search covered the whole collection: dates and faces.

    The span of collection dates it covered is checked against the collection's at that time (every
    image ingested by then; images erased since can only narrow it, so they never make a complete
    search look incomplete). The faces the index held when it was searched are checked against
    the faces the collection held at that moment: an index missing faces searched only part of the
    collection, whatever the dates say. Searches from before those counts were recorded have none.
    """
    if request.searched_at is None:
        return None
    collection = Image.objects.filter(ingested_at__lte=request.searched_at).aggregate(
        first=Min("collected_at"), last=Max("collected_at")
    )
    first, last = collection["first"], collection["last"]
    index_faces, collection_faces = request.searched_index_faces, request.searched_collection_faces
    problems = search_problems(
        collection_from=first,
        collection_to=last,
        searched_from=request.searched_collection_from,
        searched_to=request.searched_collection_to,
        index_faces=index_faces,
        collection_faces=collection_faces,
        translate=False,
    )
    return SearchSpan(
        request_id=request.id,
        kind=request.kind,
        searched_at=request.searched_at,
        searched_from=request.searched_collection_from,
        searched_to=request.searched_collection_to,
        searched_size=request.searched_collection_size,
        index_faces=index_faces,
        collection_faces=collection_faces,
        collection_from=first,
        collection_to=last,
        covers_whole=not problems,
        problem="; ".join(problems),
    )


def cnil_figures(
    *, received_from: date | None = None, received_to: date | None = None, now: datetime | None = None
) -> CnilFigures:
    """Every CNIL figure over the requests received in the period (all requests when no period)."""
    now = now or timezone.now()
    requests = list(requests_for_figures(received_from=received_from, received_to=received_to))
    ids = [r.id for r in requests]
    verification_failed_ids = set(
        AuditEvent.objects.filter(request_id__in=ids, action=ERASURE_VERIFICATION_FAILED).values_list(
            "request_id", flat=True
        )
    )
    held_incomplete_ids = set(
        AuditEvent.objects.filter(request_id__in=ids, action=ACCESS_HELD_INCOMPLETE).values_list(
            "request_id", flat=True
        )
    )

    flags: dict[int, list[str]] = defaultdict(list)
    by_kind = {kind: 0 for kind in RequestKind.values}
    answered_late: list[int] = []
    overdue_now: list[int] = []
    after_followup: list[int] = []
    followed_up_open: list[int] = []
    held_access: list[int] = []
    erasure_failed: list[int] = []
    held_other: list[int] = []
    expired: list[int] = []
    refusals: list[Refusal] = []
    repeated: list[RepeatedRequest] = []
    extended: list[int] = []
    searches: list[SearchSpan] = []
    monthly: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    unconfirmed = answered = in_time = open_count = 0

    for request in requests:
        if request.status == RequestStatus.UNCONFIRMED:
            unconfirmed += 1
            flags[request.id].append(UNCONFIRMED)
            continue
        if request.status == RequestStatus.EXPIRED:
            expired.append(request.id)
            flags[request.id].append(EXPIRED)
            continue
        by_kind[request.kind] = by_kind.get(request.kind, 0) + 1
        due = request_due_in_force(request=request, now=request.answered_at or now)
        if request.answered_at is not None:
            answered += 1
            late = request.answered_at > due
            month = timezone.localtime(request.answered_at).date().replace(day=1)
            monthly[month][1 if late else 0] += 1
            if late:
                answered_late.append(request.id)
                flags[request.id].append(LATE)
            else:
                in_time += 1
            if request.followups > 0:
                after_followup.append(request.id)
                flags[request.id].append(FOLLOWED_UP)
        elif not request.is_closed:
            open_count += 1
            if request_overdue(request=request, now=now):
                overdue_now.append(request.id)
                flags[request.id].append(OVERDUE)
            if request.followups > 0:
                followed_up_open.append(request.id)
                flags[request.id].append(FOLLOWED_UP_OPEN)
        # By what the audit trail says happened, not by the status: a request held because a worker
        # died on it or a step failed after every retry is not an incomplete or unverified answer.
        counted_hold = False
        if request.kind == RequestKind.ACCESS and request.id in held_incomplete_ids:
            held_access.append(request.id)
            flags[request.id].append(HELD_ACCESS)
            counted_hold = True
        if request.kind in ERASURE_KINDS and request.id in verification_failed_ids:
            erasure_failed.append(request.id)
            flags[request.id].append(ERASURE_FAILED)
            counted_hold = True
        if request.status == RequestStatus.HELD and not counted_hold:
            held_other.append(request.id)
            flags[request.id].append(HELD_OTHER)
        if request.status == RequestStatus.REFUSED:
            refusals.append(
                Refusal(
                    request_id=request.id,
                    kind=request.kind,
                    reason=request.refusal_reason,
                    refused_at=request.answered_at or request.closed_at,
                )
            )
            flags[request.id].append(REFUSED)
        earlier_ids = request_earlier_ids(request=request)
        if earlier_ids:
            repeated.append(
                RepeatedRequest(
                    request_id=request.id,
                    kind=request.kind,
                    status=request.status,
                    earlier_ids=earlier_ids,
                    answer_kinds=sorted({a.kind for a in request.answers.all()}),
                    answered_at=request.answered_at,
                    in_time=request_in_time(request=request),
                )
            )
            flags[request.id].append(REPEATED)
        if request.extended_until is not None:
            extended.append(request.id)
            flags[request.id].append(EXTENDED)
        span = search_span_check(request=request)
        if span is not None:
            searches.append(span)
            if not span.covers_whole:
                flags[request.id].append(SEARCH_NOT_WHOLE)

    whole = Image.objects.aggregate(first=Min("collected_at"), last=Max("collected_at"))
    return CnilFigures(
        generated_at=now,
        received_from=received_from,
        received_to=received_to,
        requests=len(requests) - unconfirmed - len(expired),
        request_ids=[r.id for r in requests if r.status not in NEVER_CONFIRMED_STATUSES],
        unconfirmed=unconfirmed,
        expired=expired,
        by_kind=by_kind,
        open=open_count,
        answered=answered,
        answered_in_time=in_time,
        answered_late=answered_late,
        overdue_now=overdue_now,
        answered_after_followup=after_followup,
        followed_up_open=followed_up_open,
        held_access=held_access,
        erasure_verification_failed=erasure_failed,
        held_other=held_other,
        refusals=refusals,
        repeated=repeated,
        extended=extended,
        searches=searches,
        searches_not_whole=[s.request_id for s in searches if not s.covers_whole],
        collection_from=whole["first"],
        collection_to=whole["last"],
        monthly=_months_filled(monthly),
        flags={request_id: values for request_id, values in flags.items()},
    )


def _months_filled(counts: dict[date, list[int]]) -> list[MonthFigures]:
    """Every month from the first to the last answer, so that a month with none shows as a gap."""
    if not counts:
        return []
    months = []
    month, last = min(counts), max(counts)
    while month <= last:
        in_time, late = counts.get(month, (0, 0))
        months.append(MonthFigures(month=month, in_time=in_time, late=late))
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def overdue_requests(*, now: datetime | None = None) -> QuerySet[DataRequest]:
    """Confirmed open requests past their due date in force now (for the dashboard's filter)."""
    return requests_overdue(now=now or timezone.now())
