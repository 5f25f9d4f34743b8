"""The queue's reads for staff: partial search (email, identifier, URL, or a request number) and
the CSV export of the requests shown. Read-only; the CSV holds no email, selfie or identifier.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from django.db.models import Q, QuerySet
from django.utils import timezone

from rights.lifecycle import clock
from rights.models import DataRequest

CSV_COLUMNS = ["id", "kind", "status", "received", "due", "extended", "overdue", "followups", "answered"]
SEARCH_MAX = 200  # characters; a longer term is cut, never an error


def requests_search(*, queryset: QuerySet[DataRequest], term: str) -> QuerySet[DataRequest]:
    """Requests whose email, identifiers or any candidate image's source URL contain ``term``
    (case-insensitive), or whose number it is ("42" or "#42"). An empty term changes nothing."""
    term = term.strip()[:SEARCH_MAX]
    if not term:
        return queryset
    found = (
        Q(email__icontains=term)
        | Q(identifiers__icontains=term)
        | Q(matches__image__source_url__icontains=term)
        | Q(matches__image__account__icontains=term)
    )
    number = term.removeprefix("#")
    if number.isdigit() and len(number) < 18:
        found |= Q(id=int(number))
    return queryset.filter(found).distinct()


def requests_csv(*, requests: Iterable[DataRequest]) -> str:
    """The requests as CSV, one row each, with the due date in force and whether it is overdue."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    now = timezone.now()
    for request in requests:
        due = clock.request_due_in_force(request=request, now=now)
        writer.writerow(
            [
                request.id,
                request.kind,
                request.status,
                timezone.localtime(request.received_at).date().isoformat(),
                timezone.localtime(due).date().isoformat(),
                "yes" if request.extended_until else "no",
                "yes" if clock.request_overdue(request=request, now=now) else "no",
                request.followups,
                timezone.localtime(request.answered_at).date().isoformat() if request.answered_at else "",
            ]
        )
    return out.getvalue()
