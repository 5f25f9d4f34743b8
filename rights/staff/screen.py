"""What the review screen shows: each candidate with its provenance, those needing a decision first,
in pages, in groups staff can decide at once, and the words that name them as the screen does.

Read-only: decisions go through rights.staff.review. Groups: the face group the search recorded
(faces matching each other, ``Match.group``); a row searched before groups has the selfie that found it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Case, Count, F, IntegerField, Max, QuerySet, Value, When
from django.utils.translation import gettext, gettext_lazy, ngettext_lazy

from rights.lifecycle.audit import REVIEW_SCREEN_VIEWED, actor_for, audit_record
from rights.models import DataRequest, Match

REVIEW_PAGE_SIZE = 20
SHOW_PENDING = "pending"
SHOW_ALL = "all"


def matches_needing_decision(*, request_id: int) -> QuerySet[Match]:
    """The candidates a person must confirm or reject before approval (match-band ones need none)."""
    return (
        Match.objects.filter(request_id=request_id, decision=Match.Decision.PENDING)
        .exclude(band=Match.Band.MATCH)
        .order_by("-score", "id")
    )


def match_needs_decision(*, match: Match) -> bool:
    return match.decision == Match.Decision.PENDING and match.band != Match.Band.MATCH


def match_group_key(*, match: Match) -> int:
    """The group a candidate is decided with: its face group (positive), else minus the selfie that
    found it (a row searched before groups), else 0 (found by identifier)."""
    if match.group:
        return match.group
    return -match.selfie_id if match.selfie_id else 0


def _group_key_expression() -> Case:
    # The same key as ``match_group_key``, computed in the database to count and number groups.
    return Case(
        When(group__gt=0, then=F("group")),
        When(selfie__isnull=False, then=-F("selfie_id")),
        default=Value(0),
        output_field=IntegerField(),
    )


def match_label(*, match: Match) -> str:
    """How the screen names a candidate: by its image, as its row shows it."""
    if match.image_id:
        return gettext("candidate image %(image)s") % {"image": match.image_id}
    return gettext("erased candidate (sha256 %(sha)s)") % {"sha": match.image_sha256[:12]}


# Whole sentences per decision: word order and agreement differ by language (the active one: the
# staff member's in the dashboard). "" (no decision) names the candidates only.
_ONE = {
    Match.Decision.CONFIRMED: gettext_lazy("Candidate image %(image)s confirmed."),
    Match.Decision.REJECTED: gettext_lazy("Candidate image %(image)s rejected."),
    "": gettext_lazy("Candidate image %(image)s."),
}
_ONE_ERASED = {
    Match.Decision.CONFIRMED: gettext_lazy("Erased candidate (sha256 %(sha)s) confirmed."),
    Match.Decision.REJECTED: gettext_lazy("Erased candidate (sha256 %(sha)s) rejected."),
    "": gettext_lazy("Erased candidate (sha256 %(sha)s)."),
}
# ngettext_lazy picks the plural form from the "count" given when the sentence is filled in.
_SEVERAL = {
    Match.Decision.CONFIRMED: ngettext_lazy(
        "%(count)s candidate image confirmed: image %(images)s.",
        "%(count)s candidate images confirmed: images %(images)s.",
        "count",
    ),
    Match.Decision.REJECTED: ngettext_lazy(
        "%(count)s candidate image rejected: image %(images)s.",
        "%(count)s candidate images rejected: images %(images)s.",
        "count",
    ),
    "": ngettext_lazy(
        "%(count)s candidate image: image %(images)s.",
        "%(count)s candidate images: images %(images)s.",
        "count",
    ),
}


def matches_describe(*, matches: list[Match], decision: str = "") -> str:
    """'Candidate image 4 rejected.' or '3 candidate images rejected: images 4, 9 and 12.'

    ``decision``: "confirmed", "rejected" or "" (the candidates named, no decision)."""
    if decision not in _ONE:
        raise ValueError(f"Unknown decision {decision!r}: use 'confirmed', 'rejected' or ''.")
    if len(matches) == 1:
        match = matches[0]
        if match.image_id:
            return str(_ONE[decision]) % {"image": match.image_id}
        return str(_ONE_ERASED[decision]) % {"sha": match.image_sha256[:12]}
    labels = [str(m.image_id) if m.image_id else f"sha256 {m.image_sha256[:12]}" for m in matches]
    listed = gettext("%(names)s and %(last)s") % {"names": ", ".join(labels[:-1]), "last": labels[-1]}
    return _SEVERAL[decision] % {"count": len(matches), "images": listed}


@dataclass(frozen=True)
class ReviewRow:
    match: Match
    group: int
    needs_decision: bool
    label: str
    source_url: str
    platform: str
    account: str
    collected_at: datetime | None


@dataclass(frozen=True)
class ReviewGroup:
    key: int
    number: int  # 1, 2, ... in the order the screen shows them
    selfie_id: int | None  # the selfie that found a group searched before face groups
    faces: bool  # a face group: candidate faces that match each other
    pending: int  # candidates of the group still needing a decision, on every page


@dataclass(frozen=True)
class ReviewPage:
    rows: list[ReviewRow]
    groups: list[ReviewGroup]
    number: int
    pages: int
    shown: str
    total: int  # every candidate of the request
    pending: int  # the candidates still needing a decision

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def _ordered(queryset: QuerySet[Match]) -> QuerySet[Match]:
    # Needing a decision first, then match-band candidates not yet decided, then the decided ones.
    rank = Case(
        When(
            decision=Match.Decision.PENDING,
            band__in=[Match.Band.REVIEW, Match.Band.IDENTIFIER],
            then=Value(0),
        ),
        When(decision=Match.Decision.PENDING, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return queryset.annotate(review_rank=rank).order_by("review_rank", "-score", "id")


def review_page_build(*, request: DataRequest, page: str | int | None, shown: str | None) -> ReviewPage:
    """One page of a request's candidates; an unknown page number gives the nearest page."""
    shown = SHOW_PENDING if shown == SHOW_PENDING else SHOW_ALL
    every = Match.objects.filter(request=request)
    needing = matches_needing_decision(request_id=request.id)
    queryset = needing if shown == SHOW_PENDING else every
    paginator = Paginator(
        _ordered(queryset.select_related("image", "selfie", "decided_by")), REVIEW_PAGE_SIZE
    )
    current = paginator.get_page(page)
    # Counted and numbered in the database: the cost is one page's, whatever the candidates' number.
    pending_by_group = {
        row["key"]: row["n"]
        for row in needing.order_by()
        .annotate(key=_group_key_expression())
        .values("key")
        .annotate(n=Count("id"))
    }
    # Groups are numbered over the whole request, best candidate first, not per page.
    best = (
        every.order_by()
        .annotate(key=_group_key_expression())
        .values("key")
        .annotate(best=Max("score"))
        .order_by(F("best").desc(nulls_last=True), "key")
    )
    numbers = {row["key"]: number for number, row in enumerate(best, start=1)}
    rows, groups = [], []
    for match in current.object_list:
        key = match_group_key(match=match)
        image = match.image
        rows.append(
            ReviewRow(
                match=match,
                group=numbers[key],
                needs_decision=match_needs_decision(match=match),
                label=match_label(match=match),
                source_url=image.source_url if image else "",
                platform=image.platform if image else "",
                account=image.account if image else "",
                collected_at=image.collected_at if image else None,
            )
        )
        if all(g.key != key for g in groups):
            groups.append(
                ReviewGroup(
                    key=key,
                    number=numbers[key],
                    selfie_id=match.selfie_id if key < 0 else None,
                    faces=key > 0,
                    pending=pending_by_group.get(key, 0),
                )
            )
    return ReviewPage(
        rows=rows,
        groups=sorted(groups, key=lambda g: g.number),
        number=current.number,
        pages=paginator.num_pages,
        shown=shown,
        total=every.count(),
        pending=needing.count(),
    )


def group_needing_decision(*, request_id: int, key: int) -> list[Match]:
    """The candidates of one group that still need a decision (a bulk decision by group)."""
    needing = matches_needing_decision(request_id=request_id)
    return list(needing.annotate(key=_group_key_expression()).filter(key=key))


def collection_image_view_record(*, image_id: int, user: AbstractBaseUser) -> None:
    """Record that a member of staff opened a collection image (faces boxed) in the collection
    browser: the same record as the review screen's, with no request and the screen named."""
    with transaction.atomic():
        audit_record(
            actor=actor_for(user),
            action=REVIEW_SCREEN_VIEWED,
            request_id=None,
            detail={"selfies": [], "images": [image_id], "screen": "collection"},
        )
