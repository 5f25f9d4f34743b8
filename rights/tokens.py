"""The random values the rights models are made with (defaults the migrations name by their
``rights.models`` path, which re-exports them)."""

from __future__ import annotations

import base64
import secrets


def new_webhook_secret() -> str:
    # Standard Webhooks: "whsec_" + base64 of the key bytes (32 random bytes).
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_public_token() -> str:
    # 256 bits: the status link is the only key to a request, so it must not be guessable.
    return secrets.token_urlsafe(32)
