"""Template helpers of the public pages: accessible form fields and plain rendering of answer data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.forms import BoundField
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy, ngettext, pgettext, pgettext_lazy

register = template.Library()


def hint_id(field: BoundField) -> str:
    return f"{field.auto_id}-hint"


def error_id(field: BoundField) -> str:
    return f"{field.auto_id}-error"


@register.filter
def described_by(field: BoundField) -> str:
    """The ids of a field's hint and errors, for aria-describedby."""
    ids = []
    if field.help_text:
        ids.append(hint_id(field))
    if field.errors:
        ids.append(error_id(field))
    return " ".join(ids)


@register.simple_tag
def widget(field: BoundField, **extra: Any) -> SafeString:
    """The field's widget with its hint and errors linked (aria-describedby) and marked invalid."""
    attrs: dict[str, Any] = {key.replace("_", "-"): value for key, value in extra.items()}
    ids = described_by(field)
    if ids:
        attrs["aria-describedby"] = ids
    if field.errors:
        attrs["aria-invalid"] = "true"
    return field.as_widget(attrs=attrs)


@register.inclusion_tag("public/_value.html")
def show_value(value: Any) -> dict[str, Any]:
    """Any JSON value of an answer's payload, as nested lists a person can read."""
    if isinstance(value, dict):
        shape = "dict"
        items = [(str(key).replace("_", " ").capitalize(), item) for key, item in value.items()]
    elif isinstance(value, list | tuple):
        shape = "list"
        items = list(value)
    else:
        shape = "scalar"
        items = []
    is_url = isinstance(value, str) and value.startswith(("http://", "https://"))
    return {"shape": shape, "items": items, "value": value, "is_url": is_url}


# The Art. 15(1) items of an access answer, named as the report names them.
GENERAL_LABELS = {
    "controller": gettext_lazy("Who we are"),
    "purposes": gettext_lazy("Purposes"),
    "categories": gettext_lazy("Data we hold"),
    "recipients": gettext_lazy("Recipients"),
    "retention": gettext_lazy("How long"),
    "rights": gettext_lazy("Your rights"),
    "complaint": gettext_lazy("Complaints"),
    "source": gettext_lazy("Source"),
    "automated_decision_making": gettext_lazy("Automated decisions"),
    "transfers": gettext_lazy("Transfers outside the EU"),
    "search_coverage": gettext_lazy("What we searched"),
    "search_bands": gettext_lazy("How faces were compared"),
}


@register.filter
def label(key: str) -> str:
    """An answer's key as a heading in the reader's language (any other key: its words)."""
    return str(GENERAL_LABELS.get(key) or str(key).replace("_", " ").capitalize())


# Where an erased image was removed from (matching's deletion report, rights' ledger), by its word.
REMOVED_PARTS = {
    "file": pgettext_lazy("removed from", "file"),
    "faces": pgettext_lazy("removed from", "faces"),
    "embeddings": pgettext_lazy("removed from", "embeddings"),
    "image": pgettext_lazy("removed from", "image"),
    "index": pgettext_lazy("removed from", "index"),
    "already erased before this request": pgettext_lazy("removed from", "already erased before this request"),
}


@register.filter
def removed_parts(parts: list[str] | None) -> str:
    """The places an image was erased from, in the reader's language ("file, faces, index")."""
    separator = pgettext("list separator", ", ")
    return separator.join(str(REMOVED_PARTS.get(part, part)) for part in parts or [])


# Sentences of an answer written from its data when the page is shown, in the reader's language;
# an answer stored without that data shows the sentence it was stored with.


@register.simple_tag
def summary_text(payload: dict[str, Any]) -> str:
    count = payload.get("image_count")
    if not isinstance(count, int):
        return str(payload.get("summary") or "")
    if count == 0:
        return gettext("We hold no images of you: the search of the whole collection found none.")
    return gettext("We hold %(count)s image(s) of you.") % {"count": count}


@register.simple_tag
def verification_text(verification: dict[str, Any]) -> str:
    if verification.get("images_found_after") == 0:
        return gettext("No image of you remains in the collection.")
    return str(verification.get("result") or "")


@register.simple_tag
def suppression_text(suppression: dict[str, Any]) -> str:
    if suppression.get("consent") is True and isinstance(suppression.get("templates"), int):
        return ngettext(
            "With your consent, we keep %(count)s face template computed from your photos and from the "
            "images our staff confirmed as you, only to recognise and skip your face when we collect new "
            "images, so that you are not collected again. It is used for nothing else. You can withdraw "
            "this consent at any time by writing to us.",
            "With your consent, we keep %(count)s face templates computed from your photos and from the "
            "images our staff confirmed as you, only to recognise and skip your face when we collect new "
            "images, so that you are not collected again. They are used for nothing else. You can withdraw "
            "this consent at any time by writing to us.",
            suppression["templates"],
        ) % {"count": suppression["templates"]}
    if suppression.get("consent") is False:
        return gettext(
            "You did not consent to us keeping a face template to stop re-collection, so we keep none: "
            "we cannot automatically prevent images of you from being collected again."
        )
    return str(suppression.get("text") or "")


@register.filter
def when(value: Any) -> str:
    """An ISO date-time from an answer's payload, as a person reads it (the active language's format,
    the portal's time zone)."""
    if not isinstance(value, str) or not value:
        return value or ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if timezone.is_naive(moment):
        return date_format(moment, "DATE_FORMAT")
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


@register.filter
def day(value: Any) -> str:
    """The day of an ISO date or date-time from an answer's payload, in the active language's format."""
    if not isinstance(value, str) or not value:
        return value or ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return date_format(timezone.localtime(moment) if timezone.is_aware(moment) else moment, "DATE_FORMAT")


# BCP 47 spelling of the language codes Django uses (lang attributes, screen readers, fonts for CJK).
HTML_LANG = {"en": "en-GB", "zh-hans": "zh-Hans", "zh-hant": "zh-Hant"}


@register.filter
def html_lang(code: str) -> str:
    """The lang attribute of a page in this language: the English written here is British."""
    return HTML_LANG.get(code, code)
