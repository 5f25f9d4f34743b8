"""Recipients of copies of collection images, and what was released to them (Art. 17(2), Art. 19).

Releases are recorded through the ingest manifest's ``released_to`` column (see
``rights.signals``) or the admin. A release keeps the image's hash, so it outlives the image and
an erasure can still tell who must be notified.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from django.db import IntegrityError, transaction

from matching.models import Image
from rights.lifecycle import enqueue
from rights.lifecycle.audit import SYSTEM, audit_record
from rights.models import AuditAction, Recipient, RecipientNotice, Release

logger = logging.getLogger(__name__)

# A recipient first named in a manifest has no known contact yet: the reserved ``.invalid`` domain
# (RFC 2606) can never deliver, notices to it wait unsent, and the admin flags it for staff to fill in.
CONTACT_UNKNOWN = "contact-unknown@recipients.invalid"


def recipient_contact_missing(*, recipient: Recipient) -> bool:
    return not recipient.contact_email or recipient.contact_email == CONTACT_UNKNOWN


def recipient_names_parse(*, value: str) -> list[str]:
    """``"Acme Ltd; Foo Inc"`` -> ``["Acme Ltd", "Foo Inc"]``: trimmed, blanks and repeats dropped."""
    names: list[str] = []
    for part in (value or "").split(";"):
        name = " ".join(part.split())
        if name and name.casefold() not in {n.casefold() for n in names}:
            names.append(name)
    return names


def recipient_get_or_create(
    *, name: str, contact_email: str = "", webhook_url: str = "", actor: str = SYSTEM
) -> tuple[Recipient, bool]:
    """The recipient with this name (case-insensitive), created if unknown.

    A recipient created without a contact gets ``CONTACT_UNKNOWN``; an existing recipient's
    details are never overwritten here (the admin is where staff change them).
    """
    name = " ".join((name or "").split())
    if not name:
        raise ValueError("a recipient needs a name")
    if len(name) > Recipient._meta.get_field("name").max_length:
        raise ValueError("a recipient name is at most 200 characters")
    existing = Recipient.objects.filter(name__iexact=name).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            recipient = Recipient.objects.create(
                name=name, contact_email=contact_email or CONTACT_UNKNOWN, webhook_url=webhook_url
            )
            audit_record(
                actor=actor,
                action=AuditAction.RECIPIENT_CREATED,
                detail={
                    "recipient_id": recipient.id,
                    "recipient": recipient.name,
                    "contact_missing": recipient_contact_missing(recipient=recipient),
                },
            )
    except IntegrityError:
        # Another ingestion process created it a moment ago (two manifests naming a new recipient).
        return Recipient.objects.get(name__iexact=name), False
    logger.info("recipient created recipient=%s contact_missing=%s", recipient.id, not contact_email)
    return recipient, True


def recipient_update(*, recipient: Recipient, changed_fields: list[str], actor: str) -> Recipient:
    """Save staff's changes to a recipient (e.g. a contact filled in), audited in the same transaction."""
    with transaction.atomic():
        recipient.save()
        audit_record(
            actor=actor,
            action=AuditAction.RECIPIENT_CHANGED,
            detail={"recipient_id": recipient.pk, "recipient": recipient.name, "changed": changed_fields},
        )
        if "contact_email" in changed_fields:
            recipient_waiting_notices_send(recipient=recipient)
    return recipient


def recipient_waiting_notices_send(*, recipient: Recipient) -> list[int]:
    """Once a recipient has a contact, send at once the notices that waited for one (on commit)."""
    if recipient_contact_missing(recipient=recipient):
        return []
    waiting = list(
        RecipientNotice.objects.filter(
            recipient=recipient, sent_at__isnull=True, acknowledged_at__isnull=True
        ).values_list("id", flat=True)
    )
    for notice_id in waiting:
        enqueue.notice_send_enqueue(notice_id=notice_id)
    if waiting:
        logger.info("recipient %s: %s waiting notice(s) enqueued", recipient.pk, len(waiting))
    return waiting


def releases_record(
    *, recipient: Recipient, image_ids: Iterable[int], released_at: datetime, actor: str = SYSTEM
) -> list[Release]:
    """Record that these collection images were handed to ``recipient`` at ``released_at``.

    Idempotent: an image already released to this recipient keeps its first release. Returns the
    releases created by this call. Raises ValueError naming ids that are not in the collection.
    """
    wanted = sorted(set(image_ids))
    if not wanted:
        return []
    images = dict(Image.objects.filter(id__in=wanted).values_list("id", "sha256"))
    unknown = [image_id for image_id in wanted if image_id not in images]
    if unknown:
        raise ValueError(f"not in the collection: image ids {unknown}")
    with transaction.atomic():
        already = set(
            Release.objects.filter(recipient=recipient, image_sha256__in=images.values()).values_list(
                "image_sha256", flat=True
            )
        )
        created = [
            Release(recipient=recipient, image_id=image_id, image_sha256=sha256, released_at=released_at)
            for image_id, sha256 in images.items()
            if sha256 not in already
        ]
        if not created:
            return []
        # ignore_conflicts: a concurrent ingestion may record the same release at the same moment.
        Release.objects.bulk_create(created, ignore_conflicts=True)
        audit_record(
            actor=actor,
            action=AuditAction.RELEASES_RECORDED,
            detail={
                "recipient_id": recipient.id,
                "images": len(created),
                "image_ids": [release.image_id for release in created][:100],
                "released_at": released_at.isoformat(),
            },
        )
    logger.info("releases recorded recipient=%s images=%s", recipient.id, len(created))
    return created


def image_recipients(*, image_sha256s: Iterable[str]) -> dict[str, list[Recipient]]:
    """sha256 -> the recipients it was released to (for access answers, Art. 15(1)(c))."""
    by_hash: dict[str, list[Recipient]] = {}
    for release in (
        Release.objects.filter(image_sha256__in=list(image_sha256s))
        .select_related("recipient")
        .order_by("recipient__name")
    ):
        by_hash.setdefault(release.image_sha256, []).append(release.recipient)
    return by_hash


def releases_record_by_hash(
    *, recipient_name: str, image_sha256s: Iterable[str], released_at: datetime, actor: str = SYSTEM
) -> tuple[Recipient, list[Release]]:
    """As releases_record, naming the recipient (created if unknown) and the images by sha256 (the
    API's names: never a sequential id). Raises ValueError naming hashes not in the collection."""
    wanted = sorted(set(image_sha256s))
    ids = dict(Image.objects.filter(sha256__in=wanted).values_list("sha256", "id"))
    if unknown := [sha for sha in wanted if sha not in ids]:
        raise ValueError(f"not in the collection: images {', '.join(h[:12] for h in unknown[:20])}")
    recipient, _ = recipient_get_or_create(name=recipient_name, actor=actor)
    return recipient, releases_record(
        recipient=recipient, image_ids=ids.values(), released_at=released_at, actor=actor
    )
