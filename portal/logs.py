"""Logs and error reports carry ids, never emails or bearer tokens (DESIGN.md, "How we build").

One redaction rule (``text_redact``) serves the logging filter every handler uses, gunicorn's
access log (portal/gunicorn.conf.py) and Sentry's ``before_send`` (portal/settings.py).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

REDACTED = "[redacted]"
# The path segment after these prefixes is the only key to a request, an answer or a notice.
_TOKEN_PATH = re.compile(r"/(confirm|status|answer|notices/ack)/[^/?#\s\"'<>]+")
_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")
# Sent by a browser or an API client: never worth an error report.
_SECRET_HEADERS = {"authorization", "cookie", "set-cookie", "x-csrftoken", "proxy-authorization"}


def text_redact(*, text: str) -> str:
    """The text with every token-bearing path segment and every email address replaced."""
    return _EMAIL.sub("[email]", _TOKEN_PATH.sub(rf"/\1/{REDACTED}", text))


def _value_redact(value: Any) -> Any:
    if isinstance(value, str):
        return text_redact(text=value)
    if isinstance(value, dict):
        return {
            key: REDACTED if str(key).lower() in _SECRET_HEADERS else _value_redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_value_redact(item) for item in value]
    return value


class RedactFilter(logging.Filter):
    """Rewrites each record's message (arguments merged in) with ``text_redact``; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = text_redact(text=message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = text_redact(text=record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (LOG_FORMAT=json): time, level, logger, message, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def sentry_event_scrub(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Sentry's before_send: every string of the event redacted, secret headers and the user dropped."""
    event.pop("user", None)
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("cookies", None)
        request.pop("data", None)  # form posts hold emails and photos
    return _value_redact(event)


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """The LOGGING setting: every record through the redaction filter, as plain text or JSON lines."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "portal.logs.RedactFilter"}},
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "json": {"()": "portal.logs.JsonFormatter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["redact"]}
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # faiss announces at INFO which CPU build it loaded, in every process.
            "faiss.loader": {"level": "WARNING"},
            # Django's own handlers (runserver's request lines, DEBUG's console, mail_admins) skip
            # the filter: their loggers write through ours instead.
            "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }


def sentry_init(*, dsn: str, environment: str, traces_sample_rate: float) -> None:
    """Error reporting to Sentry with no personal data: no PII, frame variables or request bodies."""
    import sentry_sdk

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        send_default_pii=False,
        # Frame variables and request bodies hold emails, photos and embeddings: never sent.
        include_local_variables=False,
        max_request_body_size="never",
        before_send=sentry_event_scrub,
        before_send_transaction=sentry_event_scrub,
        traces_sample_rate=traces_sample_rate,
    )
