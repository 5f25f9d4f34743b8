"""The suppression list: face templates of people who objected, kept only to stop collecting them."""

from __future__ import annotations

import logging

import numpy as np
from django.conf import settings

from matching.models import SuppressedFace
from matching.services.embedding import embedding_to_bytes

logger = logging.getLogger(__name__)


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    if vector.shape[0] != 512:
        raise ValueError("a face template has 512 values")
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("a face template must be a non-zero finite vector")
    return vector / norm


def suppression_add(*, reference: str, vector: np.ndarray) -> SuppressedFace:
    """Keep one face template under ``reference`` (the caller's opaque label, e.g. a request id)."""
    row = SuppressedFace.objects.create(
        reference=reference, embedding=embedding_to_bytes(vector=_unit(vector))
    )
    logger.info("suppression: added template %s for reference %s", row.pk, reference)
    return row


def suppression_remove(*, reference: str) -> int:
    """Forget every template kept under ``reference``. Returns how many were removed."""
    removed, _ = SuppressedFace.objects.filter(reference=reference).delete()
    logger.info("suppression: removed %s templates for reference %s", removed, reference)
    return removed


def suppression_templates() -> tuple[list[int], np.ndarray]:
    """(ids, matrix) of every template; the list is small (one row per objecting person's selfie)."""
    rows = list(SuppressedFace.objects.order_by("pk").values_list("pk", "embedding"))
    if not rows:
        return [], np.empty((0, 512), dtype=np.float32)
    matrix = np.frombuffer(b"".join(bytes(blob) for _, blob in rows), dtype="<f4").reshape(len(rows), 512)
    return [pk for pk, _ in rows], matrix.astype(np.float32)


def suppression_match(
    *, vectors: np.ndarray, templates: tuple[list[int], np.ndarray] | None = None
) -> tuple[SuppressedFace, float] | None:
    """The best (template, score) over the given faces if it reaches MATCH_THRESHOLD, else None.

    ``templates`` lets a batch ingestion load the list once instead of once per image.
    """
    ids, matrix = templates if templates is not None else suppression_templates()
    faces = np.asarray(vectors, dtype=np.float32).reshape(-1, 512)
    if not ids or faces.shape[0] == 0:
        return None
    scores = faces @ matrix.T
    flat = int(np.argmax(scores))
    best = float(scores.flat[flat])
    if best < settings.MATCH_THRESHOLD:
        return None
    template = SuppressedFace.objects.filter(pk=ids[flat % len(ids)]).first()
    if template is None:  # removed since the list was loaded: look again without it
        return suppression_match(vectors=faces)
    return template, best
