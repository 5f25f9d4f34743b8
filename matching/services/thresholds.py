"""The match rule: the two bands' thresholds for the number of faces a search compares with.

A false-match rate is paid once per face searched, so a request brings FMR(threshold) x faces
strangers. From the committed calibration (FMR by threshold, its impostor tail fitted: see
``matching.services.calibration``), the match threshold is the lowest whose 95% upper bound of
expected strangers is at most MATCH_EXPECTED_STRANGERS, the review threshold the lowest at most
REVIEW_EXPECTED_STRANGERS. MATCH_THRESHOLD and REVIEW_THRESHOLD are floors: a small collection
never gets laxer bands than those.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.utils import formats
from django.utils.translation import gettext, gettext_noop

MAX_FUSED = 3  # a request carries up to three selfies; the calibration has curves for 1, 2 and 3


class CalibrationUnavailable(Exception):
    """The calibration file is missing or unreadable: no band can be chosen for a size."""


@dataclass(frozen=True)
class Thresholds:
    match: float
    review: float
    faces_planned_for: int
    selfies: int  # photos fused into the query the bands were chosen for
    match_expected_strangers: float  # FMR(match) x faces: strangers per request in the match band (95% bound)
    review_expected_strangers: float  # the same in the review band alone
    match_fmr: float
    review_fmr: float
    extrapolated: bool  # the match band's FMR lies below what the calibration pairs measure
    why: str  # one sentence for the search record and the access report

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@functools.lru_cache(maxsize=8)
def _curve(path: str, selfies: int) -> tuple[tuple[float, float, str], ...]:
    """(threshold, FMR 95% upper bound, source) rows of a calibration file, by rising threshold.

    One photo's curve, or the curve of a query fusing ``selfies`` photos (their tail is heavier).
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        curve = document["fmr_curve"] if selfies <= 1 else document["fused"][str(selfies)]["fmr_curve"]
        rows = [(float(r["threshold"]), float(r["fmr_upper"]), str(r["source"])) for r in curve]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CalibrationUnavailable(f"Cannot read the calibration file {path}: {exc!r}") from exc
    if not rows:
        raise CalibrationUnavailable(f"The calibration file {path} holds no FMR curve.")
    return tuple(sorted(rows))


def _lowest_within(
    rows: tuple[tuple[float, float, str], ...], *, faces: int, strangers: float
) -> tuple[float, float, str]:
    """The lowest threshold whose expected strangers (FMR upper bound x faces) is at most ``strangers``."""
    for row in rows:
        if row[1] * faces <= strangers:
            return row
    return rows[-1]  # beyond the curve: its strictest threshold


def thresholds_for(*, faces: int, selfies: int = 1) -> Thresholds:
    """The bands for a search over ``faces`` faces (one rule: every band anywhere comes from here).

    ``selfies``: photos of the person fused into the one query (1 to 3; see ``query_fuse``).
    """
    faces = max(1, int(faces))
    selfies = min(max(1, int(selfies)), MAX_FUSED)
    rows = _curve(str(settings.THRESHOLDS_CALIBRATION_FILE), selfies)
    fmr_at = dict((t, f) for t, f, _ in rows)
    match_row = _lowest_within(rows, faces=faces, strangers=settings.MATCH_EXPECTED_STRANGERS)
    review_row = _lowest_within(rows, faces=faces, strangers=settings.REVIEW_EXPECTED_STRANGERS)
    match = max(match_row[0], float(settings.MATCH_THRESHOLD))
    review = min(max(review_row[0], float(settings.REVIEW_THRESHOLD)), match)
    match_fmr = _fmr_at_or_below(fmr_at, match)
    review_fmr = _fmr_at_or_below(fmr_at, review)
    match_strangers = match_fmr * faces
    review_strangers = max(0.0, review_fmr - match_fmr) * faces
    extrapolated = match_row[2] == "extrapolated" and match == match_row[0]
    why = thresholds_why(
        faces=faces,
        match=match,
        review=review,
        match_strangers=match_strangers,
        review_strangers=review_strangers,
        extrapolated=extrapolated,
        translate=False,
    )
    return Thresholds(
        match=match,
        review=review,
        faces_planned_for=faces,
        selfies=selfies,
        match_expected_strangers=match_strangers,
        review_expected_strangers=review_strangers,
        match_fmr=match_fmr,
        review_fmr=review_fmr,
        extrapolated=extrapolated,
        why=why,
    )


# The recorded sentence is English (the search's audit row, facesearch --json); a staff page
# renders the same sentence from the recorded figures in the reader's language (thresholds_why_shown).
WHY = gettext_noop(
    "thresholds for %(faces)s faces searched: match at %(match)s (at most %(match_strangers)s strangers "
    "expected per request), review at %(review)s (at most %(review_strangers)s), from FMR x faces with "
    "the calibrated false-match rate"
)
WHY_EXTRAPOLATED = gettext_noop(
    "thresholds for %(faces)s faces searched: match at %(match)s (at most %(match_strangers)s strangers "
    "expected per request), review at %(review)s (at most %(review_strangers)s), from FMR x faces with "
    "the calibrated false-match rate (extrapolated beyond the labelled pairs by the fitted tail)"
)


def thresholds_why(
    *,
    faces: int,
    match: float,
    review: float,
    match_strangers: float,
    review_strangers: float,
    extrapolated: bool,
    translate: bool,
) -> str:
    """Why these bands, in one sentence: English for the record, or (``translate``) in the active
    language with its number formats."""
    sentence = WHY_EXTRAPOLATED if extrapolated else WHY
    if not translate:
        return sentence % {
            "faces": f"{faces:,}",
            "match": f"{match:.3f}",
            "review": f"{review:.3f}",
            "match_strangers": f"{match_strangers:.3g}",
            "review_strangers": f"{review_strangers:.3g}",
        }
    decimal = str(formats.get_format("DECIMAL_SEPARATOR"))
    return gettext(sentence) % {
        "faces": formats.number_format(faces, 0, force_grouping=True),
        "match": formats.number_format(match, 3),
        "review": formats.number_format(review, 3),
        "match_strangers": f"{match_strangers:.3g}".replace(".", decimal),
        "review_strangers": f"{review_strangers:.3g}".replace(".", decimal),
    }


def thresholds_why_shown(*, record: dict[str, object]) -> str:
    """A search's recorded bands (rights.pipeline.search.bands_record) explained in the active
    language; the recorded English sentence when the record lacks the figures (older searches)."""
    try:
        return thresholds_why(
            faces=int(record["faces_planned_for"]),  # type: ignore[call-overload]
            match=float(record["match"]),  # type: ignore[arg-type]
            review=float(record["review"]),  # type: ignore[arg-type]
            match_strangers=float(record["match_expected_strangers"]),  # type: ignore[arg-type]
            review_strangers=float(record["review_expected_strangers"]),  # type: ignore[arg-type]
            # Records from before "extrapolated" was kept say so in their English sentence only.
            extrapolated=bool(record.get("extrapolated", "extrapolated" in str(record.get("why", "")))),
            translate=True,
        )
    except (KeyError, TypeError, ValueError):
        return str(record.get("why", ""))


def _fmr_at_or_below(fmr_at: dict[float, float], threshold: float) -> float:
    """FMR bound at the grid point at or below ``threshold`` (a floor may fall between points)."""
    below = [t for t in fmr_at if t <= threshold + 1e-9]
    return fmr_at[max(below)] if below else 1.0


def thresholds_current(*, indexed_faces: int | None = None, selfies: int = 1) -> Thresholds:
    """The bands in force: for THRESHOLDS_FOR_FACES when set, else for the faces the index holds."""
    planned = int(settings.THRESHOLDS_FOR_FACES or 0)
    if planned > 0:
        return thresholds_for(faces=planned, selfies=selfies)
    if indexed_faces is None:
        # The manifest's count: a page showing the bands costs the same at 10M faces as at 10.
        from matching.services.index import index_face_count

        indexed_faces = index_face_count()
    return thresholds_for(faces=indexed_faces, selfies=selfies)


def thresholds_cache_clear() -> None:
    """Forget the calibration read (tests; a process whose calibration file was replaced)."""
    _curve.cache_clear()
