"""Objection (GDPR Art. 21): erasure, plus -- only with the person's explicit consent -- their face
template on matching's suppression list, which ingestion checks so they are not collected again.

The templates go on the list before anything is erased, so an ingestion running meanwhile cannot
bring the person back between the erasure and the suppression.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from matching.models import SuppressedFace
from matching.services.suppression import suppression_add
from rights.lifecycle.audit import SYSTEM, audit_record
from rights.models import Answer, DataRequest, RequestStatus, Selfie
from rights.pipeline.erasure import erasure_carry_out

logger = logging.getLogger(__name__)


def suppression_reference(*, request_id: int) -> str:
    return f"request:{request_id}"


def objection_suppress(*, request: DataRequest) -> int:
    """Put each usable selfie's template on the suppression list, once; returns how many are kept.

    Without consent nothing is kept. The templates are stored under ``request:<id>`` so that they
    can be found (and removed) by request.
    """
    reference = suppression_reference(request_id=request.id)
    if not request.suppression_consent:
        return 0
    existing = SuppressedFace.objects.filter(reference=reference).count()
    if existing:
        return existing  # a retry: already on the list
    vectors = [s.vector for s in request.selfies.filter(status=Selfie.Status.USABLE).order_by("id")]
    vectors = [v for v in vectors if v is not None]
    with transaction.atomic():
        for vector in vectors:
            suppression_add(reference=reference, vector=vector)
        audit_record(
            actor=SYSTEM,
            action="suppression_added",
            request_id=request.id,
            detail={"templates": len(vectors), "reference": reference},
        )
    logger.info("request %s: %s template(s) on the suppression list", request.id, len(vectors))
    return len(vectors)


def objection_run(*, request_id: int) -> Answer | None:
    """The fulfilment of an objection request (FULFILLING): suppress (with consent), then erase.

    Erased in chunks like an erasure; each chunk's run finds the templates already listed.
    """
    request = DataRequest.objects.filter(id=request_id, status=RequestStatus.FULFILLING).first()
    if request is None:
        return None
    kept = objection_suppress(request=request)
    if request.suppression_consent:
        text = (
            f"With your consent, we keep {kept} face template(s) computed from your photo(s), only to "
            "recognise and skip your face when we collect new images, so that you are not collected "
            "again. They are used for nothing else. You can withdraw this consent at any time by "
            "writing to us."
        )
    else:
        text = (
            "You did not consent to us keeping a face template to stop re-collection, so we keep "
            "none: we cannot automatically prevent images of you from being collected again."
        )
    extra: dict[str, Any] = {
        "suppression": {"consent": request.suppression_consent, "templates": kept, "text": text}
    }
    return erasure_carry_out(request_id=request_id, extra=extra)
