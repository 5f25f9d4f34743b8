"""The record of erased images: their hashes, so that the same bytes are never collected again.

Written by the delete service (step 0 of a deletion), read by ingestion before it decodes
anything and again inside the insert's transaction. ``matching`` never imports ``rights``: a
record names its request only by the reference the caller passed.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from matching.models import ErasedImage


def erased_image_record(
    *, sha256: str, reference: str = "", erased_at: datetime | None = None
) -> ErasedImage:
    """Remember that these bytes were erased (by ``reference``): ingestion refuses them ever after.

    Idempotent: a hash already recorded keeps its first date and reference. Also the entry point for
    a backfill from the erasure ledger (the rights side passes each ledger row)."""
    values = {"erased_at": erased_at or timezone.now(), "reference": reference[:100]}
    try:
        with transaction.atomic():
            record, _ = ErasedImage.objects.get_or_create(sha256=sha256, defaults=values)
    except IntegrityError:  # recorded by a concurrent deletion of the same bytes
        record = ErasedImage.objects.get(sha256=sha256)
    return record


def erased_images_find(*, hashes: list[str]) -> dict[str, ErasedImage]:
    return {record.sha256: record for record in ErasedImage.objects.filter(sha256__in=hashes)}


def erased_image_refuse(*, record: ErasedImage) -> str:
    """Count one refusal of these bytes; the reason to give ("erased on DATE by request REF").

    A reference that is not a request's id names the rule that erased them ("erased on DATE
    (retention period ended)")."""
    ErasedImage.objects.filter(pk=record.pk).update(
        refusals=F("refusals") + 1, last_refused_at=timezone.now()
    )
    reference = record.reference
    by = f" by request {reference}" if reference.isdigit() else f" ({reference})" if reference else ""
    return f"erased on {timezone.localdate(record.erased_at).isoformat()}{by}: never collected again"
