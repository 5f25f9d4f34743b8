"""The CPU-heavy half of ingestion (decode, detect, embed): no database, so it runs in any process.

This module imports no models on purpose: ingestion's spawned analysis processes import it
before Django is set up.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from matching.services.embedding import DetectedFace, face_model_configure, faces_detect
from matching.services.imaging import ImageRejected, image_decode

# Settings an analysis process must share with the process that started it.
SETTINGS_FOR_WORKERS = (
    "FACE_MODEL_DIR",
    "FACE_MODEL_NAME",
    "FACE_DET_SIZE",
    "FACE_DET_MIN_SCORE",
    "IMAGE_MAX_BYTES",
    "IMAGE_MAX_PIXELS",
    "IMAGE_MAX_SIDE",
)


@dataclass(frozen=True)
class ImageAnalysis:
    """What the pixels gave: everything needed to store the image, nothing of the raw upload."""

    sha256: str
    width: int
    height: int
    clean_bytes: bytes
    clean_extension: str
    faces: list[DetectedFace]


# A memo of recent results by the sha256 of the bytes: the same selfie is searched again to verify an
# erasure; analysis processes hand their results to the parent, which may meet the same file again.
# The models are deterministic, so a remembered result is the result. Faces only (2 KiB each).
_memo_lock = threading.Lock()
_memo: OrderedDict[tuple[str, int, float], list[DetectedFace]] = OrderedDict()
_memo_max = 512


def analysis_memo_configure(*, items: int) -> None:
    global _memo_max
    with _memo_lock:
        _memo_max = max(0, int(items))
        while len(_memo) > _memo_max:
            _memo.popitem(last=False)


def _memo_key(sha256: str) -> tuple[str, int, float]:
    return sha256, int(settings.FACE_DET_SIZE), float(settings.FACE_DET_MIN_SCORE)


def analysis_memo_has(*, sha256: str) -> bool:
    with _memo_lock:
        return _memo_key(sha256) in _memo


def analysis_memo_remember(*, analysis: ImageAnalysis) -> None:
    with _memo_lock:
        if _memo_max:
            _memo[_memo_key(analysis.sha256)] = list(analysis.faces)
            _memo.move_to_end(_memo_key(analysis.sha256))
            while len(_memo) > _memo_max:
                _memo.popitem(last=False)


def image_analyse(*, data: bytes) -> ImageAnalysis:
    """Decode and find faces (no database). Raises ImageRejected."""
    decoded = image_decode(data=data)
    with _memo_lock:
        remembered = _memo.get(_memo_key(decoded.sha256))
    faces = list(remembered) if remembered is not None else faces_detect(rgb=decoded.rgb)
    analysis = ImageAnalysis(
        sha256=decoded.sha256,
        width=decoded.width,
        height=decoded.height,
        clean_bytes=decoded.clean_bytes,
        clean_extension=decoded.clean_extension,
        faces=faces,
    )
    if remembered is None:
        analysis_memo_remember(analysis=analysis)
    return analysis


def analysis_worker_init(overrides: dict[str, Any], threads: int) -> None:
    """Initialiser of a spawned analysis process: settings as the parent has them now, model threads."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    for key, value in overrides.items():
        setattr(settings, key, value)
    face_model_configure(threads=threads)


def analysis_job(data: bytes) -> ImageAnalysis | tuple[str, str]:
    """image_analyse for a pool: a rejection comes back as (reason, message) instead of an exception."""
    try:
        return image_analyse(data=data)
    except ImageRejected as exc:
        return exc.reason, exc.message
