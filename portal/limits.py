"""Abuse limits: slow a flood, never refuse a person's request for good.

The CNIL fined a cap on the requests a person may make; a limit here only says "try again in N
minutes" (HTTP 429 with Retry-After) and nothing is written. Each limit counts hits per key in
fixed windows (``settings.LIMITS``: scope -> rates such as ``"5/h,20/d"``) in a Django cache shared
by every process (``settings.LIMITS_CACHE``: Redis when CACHE_URL is set, else files under
VAR_DIR). Keys are HMACs: no email or address is stored in the cache.

Every limited place calls this module: the public views (``limited``), the API (the DRF
throttles below) and the staff login lockout's client address (``client_address``).
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import ipaddress
import math
import re
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.throttling import BaseThrottle

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int


class LimitExceeded(Exception):
    """Too many hits for one key: ``retry_after`` seconds until the window that refused it ends."""

    def __init__(self, *, scope: str, retry_after: int) -> None:
        super().__init__(f"limit {scope} reached; retry after {retry_after} s")
        self.scope = scope
        self.retry_after = retry_after


def rates_parse(*, spec: str) -> list[Rate]:
    """``"5/h,20/d"`` -> two rates; ``"10/15m"``: 10 per 15 minutes. Raises ValueError when malformed."""
    rates = []
    for part in spec.split(","):
        found = _RATE.match(part)
        if not found or int(found.group(1)) < 1:
            raise ValueError(f"a limit is COUNT/PERIOD such as 5/h, 10/15m or 20/d; got {part.strip()!r}")
        rates.append(Rate(int(found.group(1)), int(found.group(2) or 1) * _UNIT_SECONDS[found.group(3)]))
    return rates


def client_address(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or the one the trusted proxies put in X-Forwarded-For.

    With TRUSTED_PROXY_COUNT proxies in front, the address is that many entries from the right of
    X-Forwarded-For (the entries further left are whatever the client sent, so never trusted).
    Always a valid IP or "" (none known: a test request), as the lockout's database column needs.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = [
        part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()
    ]
    if proxies and len(forwarded) >= proxies and _is_ip(forwarded[-proxies]):
        return forwarded[-proxies]
    remote = request.META.get("REMOTE_ADDR", "")
    return remote if _is_ip(remote) else ""


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def email_key(*, email: str) -> str:
    """One key per mailbox: case, "+tag" suffixes and Gmail's dots do not make a new address."""
    local, _, domain = email.strip().lower().rpartition("@")
    if not local:
        return email.strip().lower()
    local = local.split("+", 1)[0]
    if domain in ("gmail.com", "googlemail.com"):
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def _hashed(scope: str, key: str) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"{scope}\0{key}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


@contextmanager
def _counter_lock():
    """Serialise read-increment-write between processes when the cache has no atomic increment."""
    path = Path(settings.LIMITS_LOCK_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _count(cache_key: str, timeout: int, *, add: bool) -> int:
    cache = caches[settings.LIMITS_CACHE]
    if not add:
        return cache.get(cache_key) or 0
    if isinstance(cache, RedisCache):
        # Redis INCR is atomic and keeps the TTL that add() set.
        if cache.add(cache_key, 1, timeout):
            return 1
        try:
            return cache.incr(cache_key)
        except ValueError:  # expired between add() and incr()
            cache.add(cache_key, 1, timeout)
            return 1
    with _counter_lock():
        count = (cache.get(cache_key) or 0) + 1
        cache.set(cache_key, count, timeout)
        return count


def _windows(*, scope: str, key: str, now: float | None, add: bool, allowed: int = 0) -> int:
    """Seconds until the latest refusing window of the scope ends (0: none refuses)."""
    spec = settings.LIMITS.get(scope)
    if not spec:
        return 0  # scopes missing or empty in settings.LIMITS are unlimited
    now = time.time() if now is None else now
    hashed = _hashed(scope, key)
    retry_after = 0
    for rate in rates_parse(spec=spec):
        window = int(now // rate.seconds)
        count = _count(f"limit:{scope}:{rate.seconds}:{window}:{hashed}", rate.seconds + 60, add=add)
        if count > rate.count - allowed:
            retry_after = max(retry_after, math.ceil((window + 1) * rate.seconds - now))
    return retry_after


def limit_take(*, scope: str, key: str, now: float | None = None) -> None:
    """Count one hit of ``key`` under ``scope``; raise LimitExceeded once a window's count is passed.

    Every window of the scope's rates counts the hit (a refused one too, so that a flood does not
    get a fresh allowance the moment it is refused).
    """
    if retry_after := _windows(scope=scope, key=key, now=now, add=True):
        raise LimitExceeded(scope=scope, retry_after=retry_after)


def limit_check(*, scope: str, key: str, now: float | None = None) -> None:
    """Raise LimitExceeded if one more hit would pass a window's count; counts nothing.

    For what is counted only once it happened (``limit_note``): a confirmation email is counted
    when it is sent, not when a post is refused for a bad photo.
    """
    if retry_after := _windows(scope=scope, key=key, now=now, add=False, allowed=1):
        raise LimitExceeded(scope=scope, retry_after=retry_after)


def limit_note(*, scope: str, key: str, now: float | None = None) -> None:
    """Count one hit that has happened (never refuses: it is done)."""
    _windows(scope=scope, key=key, now=now, add=True)


def too_many_response(*, request: HttpRequest, exc: LimitExceeded) -> HttpResponse:
    """The "try again in N minutes" page: HTTP 429 with Retry-After; nothing was written."""
    response = render(
        request,
        "public/too_many.html",
        {"minutes": max(1, math.ceil(exc.retry_after / 60))},
        status=429,
    )
    response["Retry-After"] = str(exc.retry_after)
    return response


def limited(*scopes: str, methods: tuple[str, ...] = ("GET", "POST")) -> Callable:
    """Count a view's hits per client address under each scope; LimitExceeded anywhere in the
    view (also from a ``limit_take`` call inside it) becomes the 429 page."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                if request.method in methods:
                    for scope in scopes:
                        limit_take(scope=scope, key=client_address(request))
                return view(request, *args, **kwargs)
            except LimitExceeded as exc:
                return too_many_response(request=request, exc=exc)

        return wrapper

    return decorator


class ApiThrottle(BaseThrottle):
    """The API's limit (DRF DEFAULT_THROTTLE_CLASSES): LIMITS["api_user"] per staff account.

    DRF checks permissions before throttles and every endpoint is staff-only, so an anonymous call
    is refused before it gets here; wrong passwords are django-axes' lockout.
    """

    def __init__(self) -> None:
        self.retry_after: int | None = None

    def allow_request(self, request: Any, view: Any) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return True
        try:
            limit_take(scope="api_user", key=f"user:{user.pk}")
        except LimitExceeded as exc:
            self.retry_after = exc.retry_after
            return False
        return True

    def get_ident(self, request: Any) -> str:
        return client_address(request)

    def wait(self) -> float | None:
        return self.retry_after
