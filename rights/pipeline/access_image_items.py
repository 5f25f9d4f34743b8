"""Each image's items in an access answer: stored as data, written in words when they are shown.

From payload version 3 an image of the answer keeps the facts of its items, never a sentence: its
source, platform and account as the collection recorded them (null: not recorded), when it was
collected (ISO), the deployment's purposes as they read in each language, the recipients it was
handed to with the day (ISO), the retention period in days with the day it ends (ISO), and how
the match was decided (band, score, decision). ``image_item_text`` writes one item in the active
language with the msgids the catalogues translate; ``image_items_read`` gives every image of an
answer with its items in words, under the reader's language (the answer page, the API), or once
in the requester's (the report.html of the ZIP). Answers stored before (version 1 and 2) kept each
image's sentences in the requester's language: they are shown as they were stored.

``image_items_problems`` is the completeness check of one image: every item present with its
facts, and its words (in the report's language) in that image's section of the HTML report.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import formats, timezone, translation
from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.translation import gettext, gettext_noop

from matching.models import Image
from rights.lifecycle.language import language_of
from rights.models import Match, Release
from rights.pipeline.access_items import (
    blank,
    date_text,
    item_render,
    retention_words,
    setting_texts,
    text_localised,
)

# The first payload version whose images keep data (rights.pipeline.access_items.REPORT_VERSION).
IMAGES_AS_DATA = 3

# Each image's items, as the answer stores them.
IMAGE_KEYS = (
    "file",
    "image_sha256",
    "source_url",
    "platform",
    "account",
    "collected_at",
    "purposes",
    "recipients",
    "retention",
    "how_found",
)
# The name each item's words are shown under when it is not the item's own (the stored name of
# old answers' sentences, which the pages and the API have always shown).
SHOWN_AS = {"collected_at": "collected_on", "recipients": "recipients_text"}
IMAGE_SHOWN = tuple(SHOWN_AS.get(key, key) for key in IMAGE_KEYS)

# The facts each item cannot be written without; None: the item is one value. An item in
# NULLABLE may be null, which says "not recorded" (the collection did not keep it).
IMAGE_FIELDS: dict[str, tuple[str, ...] | None] = {
    "file": None,
    "image_sha256": None,
    "source_url": None,
    "platform": None,
    "account": None,
    "collected_at": None,
    "purposes": ("text",),
    "recipients": ("name", "released_on"),
    "retention": ("days",),
    "how_found": ("band", "decision"),
}
NULLABLE = frozenset({"source_url", "platform", "account"})

NOT_RECORDED = gettext_noop("Not recorded: we did not keep this when the image was collected.")


# --- The items' data -----------------------------------------------------------------------------


def image_releases_listed(*, image: Image) -> list[dict[str, str]]:
    """Who the image was handed to, and the day, as the manifest or staff gave it."""
    # The day in the zone the dates were given in (TIME_ZONE): a date-only 30 November is stored as
    # midnight there, which is 29 November in UTC (and in any zone west of it).
    return [
        {
            "name": name,
            "released_at": released_at.isoformat(),
            "released_on": timezone.localdate(released_at, timezone.get_default_timezone()).isoformat(),
        }
        for name, released_at in Release.objects.filter(image_sha256=image.sha256)
        .order_by("released_at")
        .values_list("recipient__name", "released_at")
    ]


def image_items_data(
    *, image: Image, match: Match, file: str, your_face: list[float] | None, other_faces_blurred: int
) -> dict[str, Any]:
    """One image of the answer: its items as the facts each states (what the answer stores)."""
    days = settings.COLLECTION_RETENTION_DAYS
    days = days if days and days > 0 else 0
    return {
        "file": file,
        "image_sha256": image.sha256,
        "source_url": image.source_url or None,
        "platform": image.platform or None,
        "account": image.account or None,
        "collected_at": image.collected_at.isoformat(),
        "purposes": {"text": setting_texts("PROCESSING_PURPOSES")},
        "recipients": image_releases_listed(image=image),
        "retention": {
            "days": days,
            "until": (image.collected_at + timedelta(days=days)).isoformat() if days else None,
        },
        "how_found": {"band": match.band, "score": match.score, "decision": match.decision},
        "your_face": your_face,
        "other_faces_blurred": other_faces_blurred,
    }


def image_item_gaps(*, key: str, data: Any) -> list[str]:
    """The facts an item's data lacks: ``[key]`` for a one-value item that is blank (or null where
    null says nothing), else the fields absent, null or blank (every one if it has the wrong shape)."""
    fields = IMAGE_FIELDS.get(key)
    if fields is None:
        if data is None and key in NULLABLE:
            return []
        return [key] if not isinstance(data, str) or blank(data) else []
    if key == "recipients":
        if not isinstance(data, list) or not all(isinstance(entry, dict) for entry in data):
            return list(fields)
        return [field for field in fields if any(blank(entry.get(field)) for entry in data)]
    if not isinstance(data, dict) or not data:
        return list(fields)
    if key == "retention" and data.get("days"):
        fields = (*fields, "until")
    elif key == "how_found" and data.get("band") != Match.Band.IDENTIFIER:
        fields = (*fields, "score")
    return [field for field in fields if field not in data or blank(data[field])]


# --- The items in words --------------------------------------------------------------------------


def _as_recorded(value: str | None) -> str:
    return value if value else gettext(NOT_RECORDED)


def _day(value: str) -> str:
    """An ISO date (a release's day: no time, no zone) the reader's way."""
    day = date.fromisoformat(value)
    if translation.get_language() in (None, "en"):  # as date_text writes English dates
        return day.strftime("%d %B %Y")
    return date_format(day, "DATE_FORMAT")


def _recipients(data: list[dict[str, Any]]) -> str:
    if not data:
        return gettext("Not handed to anyone.")
    names = ", ".join(f"{entry['name']} ({_day(str(entry['released_on']))})" for entry in data)
    return gettext("Handed to: %(list)s") % {"list": names}


def _retention(data: dict[str, Any]) -> str:
    until = datetime.fromisoformat(data["until"]) if data["days"] else None
    return retention_words(days=int(data["days"]), until=until)


def _how_found(data: dict[str, Any]) -> str:
    band, decision = data["band"], data["decision"]
    if band == Match.Band.IDENTIFIER:
        if decision != Match.Decision.CONFIRMED:
            return ""
        return gettext(
            "Found by one of the identifiers you gave (address or account name), checked by our staff."
        )
    score = formats.number_format(float(data["score"]), 2)
    if decision == Match.Decision.CONFIRMED:
        return gettext("Found by comparing faces (similarity %(score)s), confirmed by our staff.") % {
            "score": score
        }
    if band == Match.Band.MATCH and decision == Match.Decision.PENDING:  # the match band, as searched
        return gettext("Found by comparing faces (similarity %(score)s).") % {"score": score}
    return ""  # a decision the answer never includes (a rejected match, an unreviewed doubtful one)


RENDERERS = {
    "file": str,
    "image_sha256": str,
    "source_url": _as_recorded,
    "platform": _as_recorded,
    "account": _as_recorded,
    "collected_at": lambda data: date_text(datetime.fromisoformat(data)),
    "purposes": lambda data: text_localised(data["text"]),
    "recipients": _recipients,
    "retention": _retention,
    "how_found": _how_found,
}


def image_item_text(*, key: str, data: Any) -> str:
    """One item of an image written from its data in the active language; empty when its data
    cannot say it."""
    return item_render(renderers=RENDERERS, gaps=image_item_gaps(key=key, data=data), key=key, data=data)


def image_items_read(*, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """An access answer's images, each as stored with its items in words (in the active language)
    under the names in IMAGE_SHOWN.

    Both shapes stored: from version 3 each image keeps its items' data, written now; before
    (version 1 or 2, or no version) it kept sentences in the requester's language, shown as stored.
    """
    images = payload.get("images") if isinstance(payload, dict) else None
    if not isinstance(images, list):
        return []
    version = payload.get("version")
    as_data = isinstance(version, int) and version >= IMAGES_AS_DATA
    shown = []
    for item in images:
        if not isinstance(item, dict):
            continue
        if as_data:
            texts = {
                SHOWN_AS.get(key, key): image_item_text(key=key, data=item[key]) if key in item else ""
                for key in IMAGE_KEYS
            }
        else:
            texts = {name: str(item.get(name) or "") for name in IMAGE_SHOWN}
        shown.append({**item, **texts})
    return shown


# --- The completeness check of one image ---------------------------------------------------------


def image_section(*, html: str, sha256: str) -> str:
    """The part of the HTML report that shows the image with this hash (its <section>), else ''."""
    at = html.find(sha256) if sha256 else -1
    start = html.rfind("<section", 0, at) if at >= 0 else -1
    if start < 0 or html.find("</section>", start, at) >= 0:
        return ""
    end = html.find("</section>", at)
    return html[start:end] if end >= 0 else ""


def image_items_problems(*, item: dict[str, Any], html: str, language: str | None) -> list[str]:
    """Every item of one image present with its facts, and its words (in the report's language) in
    that image's section of the HTML report. Empty when complete."""
    sha = str(item.get("image_sha256") or "")
    name = f"image {sha[:12]}" if sha else f"image {item.get('file')}"
    problems: list[str] = []
    texts: dict[str, str] = {}
    with language_of(language=language):
        for key in IMAGE_KEYS:
            if key not in item:
                problems.append(f"{name}: '{key}' is missing")
                continue
            gaps = image_item_gaps(key=key, data=item[key])
            if gaps:
                lacking = "" if IMAGE_FIELDS[key] is None else f" (no {', '.join(gaps)})"
                problems.append(f"{name}: '{key}' is empty{lacking}")
                continue
            texts[key] = image_item_text(key=key, data=item[key]).strip()
            if not texts[key]:
                problems.append(f"{name}: '{key}' has data no sentence says")
    section = image_section(html=html, sha256=sha)
    if not section:
        return [*problems, f"{name}: not shown in the HTML report"]
    for key, text in texts.items():
        if text and escape(text) not in section:
            problems.append(f"{name}: '{key}' is not in the HTML report")
    return problems
