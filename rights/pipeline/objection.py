"""Objection (GDPR Art. 21): erasure, plus -- only with the person's explicit consent -- their face
template on matching's suppression list, which ingestion checks so they are not collected again.

The templates go on the list before anything is erased, so an ingestion running meanwhile cannot
bring the person back between the erasure and the suppression.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from django.db import transaction

from matching.models import Face, SuppressedFace
from matching.services.suppression import suppression_add
from rights.lifecycle.audit import SYSTEM, audit_record
from rights.models import Answer, AuditAction, DataRequest, Match, RequestStatus, Selfie
from rights.pipeline.erasure import erasure_carry_out

logger = logging.getLogger(__name__)


def suppression_reference(*, request_id: int) -> str:
    return f"request:{request_id}"


def objection_confirmed_face_vectors(*, request: DataRequest) -> list[np.ndarray]:
    """The templates of the collection faces staff confirmed as the requester's.

    A face confirmed in the review band is the person's, though it scores below the match threshold
    against their selfie: a new copy of that image would be collected again if only the selfie
    were on the list. Read before the erasure deletes the faces.
    """
    face_ids = [
        m.face_id
        for m in request.matches.filter(decision=Match.Decision.CONFIRMED, face_id__isnull=False).order_by(
            "id"
        )
    ]
    embeddings = dict(Face.objects.filter(pk__in=face_ids).values_list("pk", "embedding"))
    return [np.frombuffer(bytes(embeddings[f]), dtype="<f4") for f in face_ids if f in embeddings]


def objection_suppress(*, request: DataRequest) -> int:
    """Put each usable selfie's template, and each face staff confirmed, on the suppression list,
    once; returns how many are kept.

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
    confirmed = objection_confirmed_face_vectors(request=request)
    with transaction.atomic():
        for vector in [*vectors, *confirmed]:
            suppression_add(reference=reference, vector=vector)
        audit_record(
            actor=SYSTEM,
            action=AuditAction.SUPPRESSION_ADDED,
            request_id=request.id,
            detail={
                "templates": len(vectors) + len(confirmed),
                "from_selfies": len(vectors),
                "from_confirmed_faces": len(confirmed),
                "reference": reference,
            },
        )
    logger.info(
        "request %s: %s template(s) on the suppression list", request.id, len(vectors) + len(confirmed)
    )
    return len(vectors) + len(confirmed)


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
            f"With your consent, we keep {kept} face template(s) computed from your photo(s) and from "
            "the images our staff confirmed as you, only to "
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
