"""The words the summary page and the compliance report show for the figures' codes, in the language
active when a page or an HTML report is rendered (the staff member's, in the dashboard).

The codes themselves (kinds, statuses, flags, the English ``problem`` of a search) stay what the
JSON and CSV exports carry: other tools read those, so they never change with the reader's language.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext, gettext_noop, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from rights.models import Answer, RequestKind, RequestStatus

# Short names: the charts' legend has 100 px for each (the choices' labels are the public form's).
KIND_LABELS = {
    RequestKind.ACCESS: pgettext_lazy("the right of access", "Access"),
    RequestKind.ERASURE: pgettext_lazy("the right to erasure", "Erasure"),
    RequestKind.OBJECTION: pgettext_lazy("the right to object", "Objection"),
}

# The per-request flags of rights.reporting.cnil, as the report's "Flags" column names them.
FLAG_LABELS = {
    "answered_late": _("answered late"),
    "overdue": _("overdue"),
    "answered_after_followup": _("answered after a follow-up"),
    "followed_up_open": _("open, asked again"),
    "access_held_incomplete": _("access answer held (incomplete)"),
    "erasure_verification_failed": _("erasure failed verification"),
    "held_other": _("held for another reason"),
    "refused": _("refused"),
    "repeated": _("repeated request"),
    "extended": _("extended"),
    "search_not_whole_collection": _("search did not cover the whole collection"),
    "unconfirmed": _("email not confirmed"),
    "never_confirmed_expired": _("never confirmed, expired"),
}

# Why a search did not cover the whole collection. The English text is the exports' ``problem``
# (stable for the tools that read it); pages render the same sentence in the reader's language.
NO_SPAN = gettext_noop("the search recorded no span of collection dates")
FROM_NOT_COVERED = gettext_noop(
    "images collected from %(first)s were not covered (search started at %(start)s)"
)
TO_NOT_COVERED = gettext_noop("images collected up to %(last)s were not covered (search ended at %(end)s)")
FACES_MISSING = gettext_noop(
    "the index searched held %(index_faces)s faces, the collection %(collection_faces)s at that moment"
)


def kind_label(kind: str) -> str:
    return str(KIND_LABELS.get(kind, kind))


def status_label(status: str) -> str:
    return str(RequestStatus(status).label) if status in RequestStatus.values else status


def answer_label(kind: str) -> str:
    return str(Answer.Kind(kind).label) if kind in Answer.Kind.values else kind


def flag_label(flag: str) -> str:
    return str(FLAG_LABELS.get(flag, flag))


def _day(moment: datetime) -> str:
    return timezone.localtime(moment).date().isoformat()


def search_problems(
    *,
    collection_from: datetime | None,
    collection_to: datetime | None,
    searched_from: datetime | None,
    searched_to: datetime | None,
    index_faces: int | None,
    collection_faces: int | None,
    translate: bool,
) -> list[str]:
    """Why a search did not cover the whole collection (empty: it did), in English for the record
    (``translate`` False) or in the active language for a page."""
    words: Callable[[str], str] = gettext if translate else str
    problems = []
    if collection_from is not None and collection_to is not None:
        if searched_from is None or searched_to is None:
            problems.append(words(NO_SPAN))
        else:
            if searched_from > collection_from:
                problems.append(
                    words(FROM_NOT_COVERED) % {"first": _day(collection_from), "start": _day(searched_from)}
                )
            if searched_to < collection_to:
                problems.append(
                    words(TO_NOT_COVERED) % {"last": _day(collection_to), "end": _day(searched_to)}
                )
    if index_faces is not None and collection_faces is not None and index_faces != collection_faces:
        problems.append(
            words(FACES_MISSING) % {"index_faces": index_faces, "collection_faces": collection_faces}
        )
    return problems
