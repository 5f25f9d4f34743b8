"""Receivers of other apps' signals (connected in ``RightsConfig.ready``).

``matching`` never imports ``rights``: it announces each newly ingested image with
``matching.signals.image_ingested`` (``sender``, ``image_id``, ``extra``: the manifest row's
further columns), and rights records what it needs from it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from rights.recipients.recipients import (
    recipient_contact_missing,
    recipient_get_or_create,
    recipient_names_parse,
    releases_record,
)

logger = logging.getLogger(__name__)


class ReleasesNotRecorded(Exception):
    """The manifest named recipients for an image, and its releases could not be recorded."""


def _released_at(value: str) -> datetime:
    """The manifest's ``released_at`` (a date or datetime); ingestion time when absent or unreadable."""
    value = (value or "").strip()
    parsed: datetime | None = None
    if value:
        try:
            parsed = parse_datetime(value)
            if parsed is None and (day := parse_date(value)) is not None:
                parsed = datetime(day.year, day.month, day.day)
        except ValueError:
            parsed = None
    if parsed is None:
        return timezone.now()
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


def releases_from_manifest(
    sender: Any, *, image_id: int, extra: dict[str, Any] | None = None, **_: Any
) -> None:
    """Record a Release per recipient named in the manifest's ``released_to`` column (``;``-separated).

    A name not seen before creates the recipient with an unknown contact: the release must not be
    lost (it is what an erasure notice will be sent from), and the admin flags it for staff.

    Raises ReleasesNotRecorded, having recorded none of the image's releases, when any cannot be
    recorded (e.g. a name over 200 characters). The image is committed by then; ingestion sends
    this signal with send_robust and reports the error as a warning of the file, so that a release
    is never lost silently. Staff record it in the admin (re-ingesting the same file adds nothing,
    so it does not send the signal again).
    """
    try:
        with transaction.atomic():
            _releases_record(image_id=image_id, extra=extra or {})
    except Exception as exc:
        logger.error("image %s: recording its releases from the manifest failed", image_id)
        raise ReleasesNotRecorded(
            f"image {image_id}: the releases named in released_to were not recorded: {exc}"
        ) from exc


def _releases_record(*, image_id: int, extra: dict[str, Any]) -> None:
    names = recipient_names_parse(value=str(extra.get("released_to") or ""))
    if not names:
        return
    released_at = _released_at(str(extra.get("released_at") or ""))
    for name in names:
        recipient, created = recipient_get_or_create(name=name)
        if created or recipient_contact_missing(recipient=recipient):
            logger.warning(
                "image %s released to recipient %s, whose contact is unknown: fill it in the admin",
                image_id,
                recipient.id,
            )
        releases_record(recipient=recipient, image_ids=[image_id], released_at=released_at)
