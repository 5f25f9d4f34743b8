"""Reading settings from the environment: the typed readers portal/settings.py uses for every value.

An unset or empty variable gives the default, so `.env.example`'s blank lines change nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from urllib.parse import SplitResult, urlsplit


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def proxy_header_parse(value: list[str]) -> tuple[str, str] | None:
    """SECURE_PROXY_SSL_HEADER from 'HEADER,value' (empty: no proxy header trusted)."""
    from django.core.exceptions import ImproperlyConfigured

    if not value:
        return None
    if len(value) != 2:
        raise ImproperlyConfigured(
            "SECURE_PROXY_SSL_HEADER must be 'HEADER,value', e.g. HTTP_X_FORWARDED_PROTO,https"
        )
    return value[0], value[1]


def cache_config(*, url: str, folder: str) -> dict[str, object]:
    """The default cache: Redis at ``url`` when set, else files in ``folder`` (one machine)."""
    from django.core.exceptions import ImproperlyConfigured

    if not url:
        # Culling drops counters at random: keep it far above a flood's distinct keys.
        options = {"MAX_ENTRIES": 100_000}
        return {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": folder,
            "OPTIONS": options,
        }
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"CACHE_URL must be a redis:// URL, got {url.split(':')[0]}://...")
    return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}


def private_dirs_make(*folders: Path) -> None:
    """Folders only the portal's user may enter: what a portal writes there is personal data."""
    for folder in folders:
        with contextlib.suppress(OSError):  # a mount the process cannot change keeps its own modes
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            folder.chmod(0o700)


def development_key_read(*, var_dir: Path) -> str:
    """A per-checkout development SECRET_KEY, kept out of the repository: made once under VAR_DIR."""
    key_file = var_dir / "secret_key"
    if not key_file.exists():
        var_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Created 0600 from the start: never readable by others, not even for a moment.
        with os.fdopen(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


def public_url_parse(url: str) -> SplitResult:
    """PUBLIC_BASE_URL, which every emailed link starts with: an http(s) URL with a host."""
    from django.core.exceptions import ImproperlyConfigured

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImproperlyConfigured(f"PUBLIC_BASE_URL must be an http(s) URL, got {url!r}")
    return parts


def _language_key(code: str) -> str:
    """ "zh_Hans", "ZH-HANS" -> "zh-hans": the spelling of settings.LANGUAGES."""
    return code.strip().lower().replace("_", "-")


def env_language(name: str, default: str, *, languages: list[str]) -> str:
    """One of the portal's languages (``languages``: the codes of settings.LANGUAGES)."""
    from django.core.exceptions import ImproperlyConfigured

    code = _language_key(os.environ.get(name) or default)
    if code not in languages:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(languages)}, got {code!r}")
    return code


def env_texts(name: str, *, languages: list[str], default_language: str) -> str | dict[str, str]:
    """A text requesters read (rights.lifecycle.language.setting_text shows it in their language).

    Unset: the default of portal/texts.py (marked for translation, translated when shown). One
    string: that text in every language. A JSON object: a text per language ({"en": "...", "fr":
    "..."}), which must give ``default_language``'s text, shown in any language it leaves out."""
    from django.core.exceptions import ImproperlyConfigured

    from portal.texts import TEXT_DEFAULTS

    raw = os.environ.get(name) or ""
    if not raw.strip():
        return TEXT_DEFAULTS[name]
    if not raw.lstrip().startswith("{"):
        return raw
    example = f'{{"{default_language}": "...", "fr": "..."}}'
    try:
        given = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(
            f"{name} starts with '{{' but is not valid JSON ({exc.msg}, character {exc.pos}): "
            f"give one text for every language, or a JSON object of texts by language, e.g. {example}"
        ) from None
    if not isinstance(given, dict):
        raise ImproperlyConfigured(f"{name} must be one text or a JSON object of texts by language")
    texts: dict[str, str] = {}
    for key, text in given.items():
        code = _language_key(str(key))
        if code not in languages:
            raise ImproperlyConfigured(f"{name}: {key!r} is not one of the languages {', '.join(languages)}")
        if not isinstance(text, str) or not text.strip():
            raise ImproperlyConfigured(f"{name}: the {code} text must be a non-empty string")
        texts[code] = text
    if default_language not in texts:
        raise ImproperlyConfigured(
            f"{name} must give the {default_language} text, shown in the languages it leaves out: {example}"
        )
    return texts
