"""Standard Webhooks signing (standardwebhooks.com): every webhook this portal POSTs carries
``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256 of
id.timestamp.body>`` keyed by the receiver's ``whsec_`` secret, so a receiver can check it came
from us, unchanged, and recently (and drop a message id it has already seen)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"


def webhook_key(*, secret: str) -> bytes:
    """The key bytes of a ``whsec_<base64>`` secret. Raises ValueError for anything else."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def webhook_signature(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(webhook_key(secret=secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(
    *, secret: str, msg_id: str, body: bytes, timestamp: int | None = None, also_signed_by: Sequence[str] = ()
) -> dict[str, str]:
    """The three Standard Webhooks headers for one delivery of ``body``. ``also_signed_by``: secrets
    that sign it too (a rotated secret still in its overlap), their signatures listed after the
    first, space-separated, as the format allows: a receiver accepts the delivery if one matches."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signatures = " ".join(
        webhook_signature(secret=key, msg_id=msg_id, timestamp=timestamp, body=body)
        for key in (secret, *also_signed_by)
    )
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signatures}


def webhook_verify(*, secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300) -> bool:
    """What a receiver does: the signature matches one listed and the timestamp is recent."""
    try:
        timestamp = int(headers["webhook-timestamp"])
        expected = webhook_signature(
            secret=secret, msg_id=headers["webhook-id"], timestamp=timestamp, body=body
        )
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    offered = headers.get("webhook-signature", "").split(" ")
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)
