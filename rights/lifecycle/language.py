"""The requester's language: which of settings.LANGUAGES a request is answered in.

It is chosen once, at submission (the page's language: the switcher's choice, else the browser's),
stored on the request, and every later email, letter and answer file is written in it, whoever
sends it: a web page in another language, a Celery worker, a staff member using the admin in theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext


def language_supported(*, code: str | None) -> str:
    """The portal language nearest ``code`` ("fr-CA" -> "fr", "zh-TW" -> "zh-hant"), else the default."""
    try:
        return translation.get_supported_language_variant((code or "").strip().lower())
    except LookupError:
        return translation.get_supported_language_variant(settings.LANGUAGE_CODE)


def language_of(*, language: str | None) -> AbstractContextManager:
    """Everything rendered inside is in this language (a request's stored one; None: the default)."""
    return translation.override(language_supported(code=language or settings.LANGUAGE_CODE))


def setting_text(*, name: str) -> str:
    """A text the settings give requesters (SUPERVISORY_AUTHORITY, TRANSFER_SAFEGUARDS,
    PROCESSING_PURPOSES), in the active language. Every page, email, letter and file that shows one
    calls this.

    A deployment's texts by language give the active language's, else the default language's; one
    text is the same in every language; the default (portal/texts.py) is translated."""
    value = getattr(settings, name)
    if isinstance(value, Mapping):
        language = language_supported(code=translation.get_language())
        return value.get(language) or value[settings.LANGUAGE_CODE]
    # gettext leaves a deployment's own text as it is (it is in no catalogue); gettext("") would
    # give the catalogue's header.
    return gettext(value) if value else ""
