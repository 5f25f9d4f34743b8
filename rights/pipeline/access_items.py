"""The Art. 15(1) items of an access answer: stored as data, written in words when they are shown.

The answer keeps, for each item, the facts it states (the controller's name and address, the
recipients' names, the retention period, what the search covered with its dates as ISO strings,
the bands' figures...), never a sentence. ``general_item_text`` writes one item in the active
language, with the same sentences (msgids) as the catalogues translate; every place that shows an
answer's items reads them through ``general_items_read``, under the reader's language: the answer
page at each visit, the report.html file of the ZIP once, in the requester's language.

Texts the settings give requesters (``PROCESSING_PURPOSES``, ``TRANSFER_SAFEGUARDS``,
``SUPERVISORY_AUTHORITY``: ``setting_text``) are facts of the answer too: they are kept as they
read in each language when the answer was built (one string when the same in all), and shown in
the reader's. The organisation's name and address are kept as the settings give them.

Each image's own items (how it was found, who it was handed to, how long it is kept...) are data
too, from version 3: rights.pipeline.access_image_items, which writes its dates, the retention
sentence and the deployment's texts with the helpers here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import formats, timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext

from rights.lifecycle.language import language_of, setting_text
from rights.models import DataRequest, Recipient
from rights.queries import search_thresholds, search_whole_collection

# The payload's shape. 3: each image's items are data too (rights.pipeline.access_image_items);
# 2: the Art. 15(1) items are data (this module), each image's were sentences; 1 (or none): both
# were stored as sentences, in the requester's language.
REPORT_VERSION = 3
GENERAL_AS_DATA = 2

GENERAL_KEYS = (
    "controller",
    "purposes",
    "categories",
    "recipients",
    "retention",
    "rights",
    "complaint",
    "source",
    "automated_decision_making",
    "transfers",
    "search_coverage",
    "search_bands",
)

# The facts each item cannot be written without.
GENERAL_FIELDS: dict[str, tuple[str, ...]] = {
    "controller": ("name", "address", "email"),
    "purposes": ("text",),
    "categories": ("held",),
    "recipients": ("names",),
    "retention": ("days",),
    "rights": ("articles",),
    "complaint": ("authority",),
    "source": ("collected_from",),
    "automated_decision_making": ("solely_automated_decisions",),
    "transfers": ("safeguards",),
    "search_coverage": ("kind",),
    "search_bands": ("recorded",),
}
COVERAGE_FIELDS = {
    "partial": ("index_faces", "collection_faces"),
    "whole": ("images", "first", "last"),
    "empty": (),
}
BANDS_FIELDS = (
    "match",
    "review",
    "match_expected_strangers",
    "review_expected_strangers",
    "faces_planned_for",
)

# What the fixed sentences state; an item whose data says otherwise has no sentence (and fails the check).
CATEGORIES_HELD = ("photographs", "face_templates", "source_page", "platform", "account", "collected_at")
RIGHTS_ARTICLES = (16, 17, 18, 21)
SOURCE_PUBLIC_WEB = "public_web"


# --- Dates and sentences shared with each image's items ----------------------------------------


def date_text(value: datetime | None) -> str:
    if not value:
        return ""
    # English keeps the record's own wording ("05 March 2020"); other languages write dates their way.
    if translation.get_language() in (None, "en"):
        return timezone.localtime(value).strftime("%d %B %Y")
    return date_format(timezone.localtime(value), "DATE_FORMAT")


def retention_words(*, days: int | None, until: datetime | None) -> str:
    """How long an image is kept: ``days`` after collection, until the day ``until`` (None: unknown)."""
    if days and days > 0:
        until_text = date_text(until) if until else gettext("an unknown date")
        return gettext(
            "Kept for %(days)s days after collection (until %(until)s), or until you ask us to erase it."
        ) % {"days": days, "until": until_text}
    return gettext(
        "Kept until it is erased: no fixed retention period applies. You can ask us to erase it at any time."
    )


def bands_text(*, thresholds: dict[str, Any] | None) -> str:
    """The bands the search used and why, in words (``searched_collection.thresholds``: the figures)."""
    if not thresholds:
        return gettext("The similarity thresholds this search used were not recorded.")
    figures = {k: formats.number_format(float(thresholds[k]), 3) for k in ("match", "review")}
    for key in ("match_expected_strangers", "review_expected_strangers"):  # two significant digits
        figures[key] = formats.number_format(float(f"{float(thresholds[key]):.2g}"))
    faces = formats.number_format(int(thresholds["faces_planned_for"]), 0, force_grouping=True)
    return gettext(
        "Faces were compared with two similarity thresholds, chosen for the %(faces)s faces searched: "
        "from %(match)s an image counted as yours (at most %(match_expected_strangers)s other people "
        "expected to score that high, per request); from %(review)s a member of our staff checked it "
        "(at most %(review_expected_strangers)s more). Why these: we measured how often two different "
        "people's faces look that alike; multiplied by the number of faces searched, this says how many "
        "strangers each threshold lets through, and we chose the lowest thresholds that keep it that small."
    ) % {"faces": faces, **figures}


# --- The items' data -----------------------------------------------------------------------------


def setting_texts(name: str) -> str | dict[str, str]:
    """A text the deployment sets, as it reads in each language now (one string when the same in all)."""
    texts = {}
    for code, _name in settings.LANGUAGES:
        with language_of(language=code):
            texts[code] = setting_text(name=name)
    return texts[settings.LANGUAGE_CODE] if len(set(texts.values())) == 1 else texts


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _coverage_data(*, request: DataRequest) -> dict[str, Any]:
    if not search_whole_collection(request=request):
        return {
            "kind": "partial",
            "index_faces": request.searched_index_faces,
            "collection_faces": request.searched_collection_faces,
        }
    if request.searched_collection_size:
        return {
            "kind": "whole",
            "images": request.searched_collection_size,
            "first": _iso(request.searched_collection_from),
            "last": _iso(request.searched_collection_to),
        }
    return {"kind": "empty"}


def _bands_data(*, request: DataRequest) -> dict[str, Any]:
    thresholds = search_thresholds(request=request)
    if not thresholds:
        return {"recorded": False}
    return {"recorded": True, **{key: thresholds.get(key) for key in BANDS_FIELDS}}


def general_items_data(*, request: DataRequest) -> dict[str, dict[str, Any]]:
    """The Art. 15(1) items for the whole processing, as the facts each states (what the answer stores)."""
    days = settings.COLLECTION_RETENTION_DAYS
    return {
        "controller": {
            "name": settings.ORGANISATION_NAME,
            "address": settings.ORGANISATION_ADDRESS,
            "email": settings.DEFAULT_FROM_EMAIL,
        },
        "purposes": {"text": setting_texts("PROCESSING_PURPOSES")},
        "categories": {"held": list(CATEGORIES_HELD)},
        "recipients": {"names": list(Recipient.objects.order_by("name").values_list("name", flat=True))},
        "retention": {"days": days if days and days > 0 else 0},
        "rights": {"articles": list(RIGHTS_ARTICLES)},
        "complaint": {"authority": setting_texts("SUPERVISORY_AUTHORITY")},
        "source": {"collected_from": SOURCE_PUBLIC_WEB},
        "automated_decision_making": {"solely_automated_decisions": False, "doubtful_checked_by_staff": True},
        "transfers": {"safeguards": setting_texts("TRANSFER_SAFEGUARDS")},
        "search_coverage": _coverage_data(request=request),
        "search_bands": _bands_data(request=request),
    }


def blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, dict):  # a deployment's text in each language
        return all(blank(text) for text in value.values())
    return False


def general_item_gaps(*, key: str, data: Any) -> list[str]:
    """The facts an item's data lacks (absent, null or blank); every one of them if it is no mapping."""
    needed = GENERAL_FIELDS.get(key, ())
    if not isinstance(data, dict) or not data:
        return list(needed) or ["data"]
    if key == "search_coverage":
        needed = needed + COVERAGE_FIELDS.get(data.get("kind"), ())
    elif key == "search_bands" and data.get("recorded"):
        needed = needed + BANDS_FIELDS
    return [field for field in needed if field not in data or blank(data[field])]


# --- The items in words --------------------------------------------------------------------------


def text_localised(value: Any) -> str:
    """A deployment's text as kept in the answer: in the active language, else the default, else any."""
    if not isinstance(value, dict):
        return "" if value is None else str(value)
    for code in (translation.get_language(), settings.LANGUAGE_CODE):
        if not blank(value.get(code)):
            return str(value[code])
    return next((str(text) for text in value.values() if not blank(text)), "")


def _day(value: str) -> str:
    return date_text(datetime.fromisoformat(value)) if value else ""


def _controller(data: dict[str, Any]) -> str:
    return gettext("%(name)s, %(address)s. Contact: %(email)s.") % {
        "name": text_localised(data["name"]),
        "address": text_localised(data["address"]),
        "email": data["email"],
    }


def _categories(data: dict[str, Any]) -> str:
    if sorted(data["held"]) != sorted(CATEGORIES_HELD):
        return ""
    return gettext(
        "Photographs showing your face; the face template (a list of numbers computed from "
        "each face, used to compare faces); for each photograph, the address of the page it was "
        "collected from, the platform and account name that published it, and the date we "
        "collected it."
    )


def _recipients(data: dict[str, Any]) -> str:
    names = [str(name) for name in data["names"]]
    if not names:
        return gettext("We have not handed copies of images to any other organisation.")
    return gettext(
        "Organisations we have handed copies of images to: %(names)s. With each of your "
        "images we say whether it was handed to any of them."
    ) % {"names": ", ".join(names)}


def _rights(data: dict[str, Any]) -> str:
    if sorted(data["articles"]) != list(RIGHTS_ARTICLES):
        return ""
    return gettext(
        "You may ask us to correct inaccurate data about you (rectification, Art. 16), to erase "
        "it (Art. 17), to restrict its processing (Art. 18) and you may object to its processing "
        "(Art. 21). You can make each of these requests through the same portal, free of charge, "
        "as often as you wish."
    )


def _complaint(data: dict[str, Any]) -> str:
    return gettext(
        "You have the right to lodge a complaint with a supervisory authority, in particular in "
        "the country where you live or work. Ours is: %(authority)s."
    ) % {"authority": text_localised(data["authority"])}


def _source(data: dict[str, Any]) -> str:
    if data["collected_from"] != SOURCE_PUBLIC_WEB:
        return ""
    return gettext(
        "We did not collect these images from you: they were collected from publicly accessible "
        "web pages and platforms. The source of each image is given with that image."
    )


def _automated_decision_making(data: dict[str, Any]) -> str:
    if data["solely_automated_decisions"] is not False:
        return ""
    return gettext(
        "We take no decision about you based solely on automated processing that produces legal "
        "effects or similarly affects you (Art. 22). Faces are compared automatically to find "
        "images in the collection; doubtful results were checked by a member of our staff before "
        "this answer was sent."
    )


def _transfers(data: dict[str, Any]) -> str:
    return gettext("Safeguards for transfers to countries outside the EU (Art. 15(2)): %(safeguards)s") % {
        "safeguards": text_localised(data["safeguards"])
    }


def _search_coverage(data: dict[str, Any]) -> str:
    if data["kind"] == "partial":
        return gettext(
            "Our search did not cover the whole collection: the index searched held "
            "%(index_faces)s faces of the collection's %(collection_faces)s."
        ) % {"index_faces": data["index_faces"], "collection_faces": data["collection_faces"]}
    if data["kind"] == "whole":
        return gettext(
            "We searched the whole collection, whatever the date an image was collected: "
            "all %(size)s images, collected between %(first)s and %(last)s. "
            "No image was left out because of its age or its source."
        ) % {"size": data["images"], "first": _day(data["first"]), "last": _day(data["last"])}
    if data["kind"] == "empty":
        return gettext("We searched the whole collection, whatever the collection date; it held no images.")
    return ""


def _search_bands(data: dict[str, Any]) -> str:
    return bands_text(thresholds=data if data["recorded"] else None)


RENDERERS = {
    "controller": _controller,
    "purposes": lambda data: text_localised(data["text"]),
    "categories": _categories,
    "recipients": _recipients,
    "retention": lambda data: retention_words(days=data["days"], until=None),
    "rights": _rights,
    "complaint": _complaint,
    "source": _source,
    "automated_decision_making": _automated_decision_making,
    "transfers": _transfers,
    "search_coverage": _search_coverage,
    "search_bands": _search_bands,
}


def general_item_text(*, key: str, data: Any) -> str:
    """One item written from its data in the active language; empty when its data cannot say it."""
    return item_render(renderers=RENDERERS, gaps=general_item_gaps(key=key, data=data), key=key, data=data)


def item_render(*, renderers: dict[str, Callable[[Any], str]], gaps: list[str], key: str, data: Any) -> str:
    """An answer item in words by its renderer; empty when it has none, its data has gaps, or its
    facts are of the wrong type (a date that is no date...)."""
    render = renderers.get(key)
    if render is None or gaps:
        return ""
    try:
        return render(data)
    except (KeyError, TypeError, ValueError):
        return ""


def general_items_read(*, payload: dict[str, Any]) -> dict[str, str]:
    """An access answer's Art. 15(1) items, each in words in the active language, in the report's order.

    Both shapes stored: from version 2 the answer keeps each item's data, written now; the OLD shape
    (version 1, or an answer without a version) kept sentences already written in the requester's
    language, shown as they were stored.
    """
    general = payload.get("general") if isinstance(payload, dict) else None
    if not isinstance(general, dict):
        return {}
    version = payload.get("version")
    if not isinstance(version, int) or version < GENERAL_AS_DATA:
        return {str(key): str(value) for key, value in general.items() if value}
    return {key: general_item_text(key=key, data=general[key]) for key in GENERAL_KEYS if key in general}


def general_items(*, request: DataRequest) -> dict[str, str]:
    """The request's Art. 15(1) items as they read now, in the active language."""
    data = general_items_data(request=request)
    return {key: general_item_text(key=key, data=value) for key, value in data.items()}
