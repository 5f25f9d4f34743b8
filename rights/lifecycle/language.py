"""The requester's language: which of settings.LANGUAGES a request is answered in.

It is chosen once, at submission (the page's language: the switcher's choice, else the browser's),
stored on the request, and every later email, letter and answer file is written in it, whoever
sends it: a web page in another language, a Celery worker, a staff member using the admin in theirs.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from django.conf import settings
from django.utils import translation


def language_supported(*, code: str | None) -> str:
    """The portal language nearest ``code`` ("fr-CA" -> "fr", "zh-TW" -> "zh-hant"), else the default."""
    try:
        return translation.get_supported_language_variant((code or "").strip().lower())
    except LookupError:
        return translation.get_supported_language_variant(settings.LANGUAGE_CODE)


def language_of(*, language: str | None) -> AbstractContextManager:
    """Everything rendered inside is in this language (a request's stored one; None: the default)."""
    return translation.override(language_supported(code=language or settings.LANGUAGE_CODE))
