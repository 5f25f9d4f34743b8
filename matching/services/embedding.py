"""Face detection and recognition: insightface models on onnxruntime (CPU), loaded once per process.

Only the detection and recognition models are loaded (no age, gender or landmark models: we do
not infer anything about people beyond "is this the same face").
"""

from __future__ import annotations

import logging
import math
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

logger = logging.getLogger(__name__)


class FaceModelUnavailable(RuntimeError):
    """The face models could not be found or loaded."""


@dataclass(frozen=True)
class DetectedFace:
    bbox: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the decoded image
    kps: np.ndarray  # (5, 2) eye, eye, nose, mouth corner, mouth corner
    det_score: float
    embedding: np.ndarray  # (512,) float32, L2-normalised

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.bbox
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)


_lock = threading.Lock()
_models: tuple[Any, Any] | None = None  # (detector, recogniser)
_threads: int = 0  # onnxruntime intra-op threads; 0 = onnxruntime's default (one per core)


def face_model_configure(*, threads: int | None = None) -> None:
    """Set onnxruntime threads for the models (before they are loaded).

    Several ingestion processes on one machine should each use cores // processes threads:
    onnxruntime's default of one thread per core in every process oversubscribes the CPU.
    """
    global _threads
    with _lock:
        if threads is not None:
            if _models is not None and threads != _threads:
                logger.warning(
                    "face models already loaded; thread count %s applies to new processes", threads
                )
            _threads = max(0, int(threads))


def _model_load() -> tuple[Any, Any]:
    import onnxruntime
    from insightface.app import FaceAnalysis

    model_dir = str(settings.FACE_MODEL_DIR or "")
    name: str = settings.FACE_MODEL_NAME
    if model_dir:
        if not Path(model_dir).is_dir() or not any(Path(model_dir).glob("*.onnx")):
            raise FaceModelUnavailable(
                f"No face models (*.onnx) found in FACE_MODEL_DIR={model_dir!r}. Set FACE_MODEL_DIR to the "
                "folder holding the model pack (for example ../shared/models/buffalo_sc)."
            )
        name = model_dir
    options = onnxruntime.SessionOptions()
    if _threads:
        options.intra_op_num_threads = _threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            app = FaceAnalysis(
                name=name,
                providers=["CPUExecutionProvider"],
                allowed_modules=["detection", "recognition"],
                sess_options=options,
            )
            app.prepare(ctx_id=-1, det_size=(settings.FACE_DET_SIZE, settings.FACE_DET_SIZE))
    except FaceModelUnavailable:
        raise
    except Exception as exc:  # insightface raises anything from AssertionError to URLError
        raise FaceModelUnavailable(
            f"The face models could not be loaded ({type(exc).__name__}: {exc}). Set FACE_MODEL_DIR to the "
            "folder holding the model pack (for example ../shared/models/buffalo_sc); without it insightface "
            f"tries to download {settings.FACE_MODEL_NAME!r}, which needs internet access."
        ) from exc
    if "recognition" not in app.models:
        raise FaceModelUnavailable(
            f"No face recognition model found in {name!r}. Set FACE_MODEL_DIR to a full model pack."
        )
    logger.info("face models loaded from %s (threads=%s)", name, _threads or "default")
    return app.det_model, app.models["recognition"]


def _models_get() -> tuple[Any, Any]:
    global _models
    if _models is None:
        with _lock:
            if _models is None:
                _models = _model_load()
    return _models


def face_model_ready() -> None:
    """Load the models now (raises FaceModelUnavailable): lets a worker fail at start, not mid-batch."""
    _models_get()


def detector_input_size(*, width: int, height: int) -> tuple[int, int]:
    """The detector input for an image: its own size rounded up to a multiple of 32, at most FACE_DET_SIZE.

    Upscaling a 250x250 photo to 640x640 costs six times the compute and finds no more faces
    (bench/ingest.py measures both); large photos are still scaled down to FACE_DET_SIZE.
    """
    cap = int(settings.FACE_DET_SIZE)
    scale = min(1.0, cap / max(width, height))
    w = max(64, min(cap, math.ceil(width * scale / 32) * 32))
    h = max(64, min(cap, math.ceil(height * scale / 32) * 32))
    return w, h


# The detector scales the long side to its input and truncates the short side to whole pixels: a
# 12000x8 strip became 0 pixels high (cv2.resize error). Thinner images are padded to this ratio.
DETECTOR_MAX_ASPECT = 20


def detector_padding(*, width: int, height: int) -> tuple[int, int]:
    """Black pixels to add (right, bottom) so that no side is under 1/DETECTOR_MAX_ASPECT of the other."""
    if width <= 0 or height <= 0:
        raise ValueError("an image has at least one pixel each way")
    right = max(0, math.ceil(height / DETECTOR_MAX_ASPECT) - width)
    bottom = max(0, math.ceil(width / DETECTOR_MAX_ASPECT) - height)
    return right, bottom


def faces_detect(*, rgb: np.ndarray) -> list[DetectedFace]:
    """Every face scoring at least FACE_DET_MIN_SCORE, largest first, each with its embedding."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or 0 in rgb.shape[:2]:
        raise ValueError("faces_detect needs an (H, W, 3) uint8 RGB array")
    from insightface.utils import face_align

    detector, recogniser = _models_get()
    height, width = rgb.shape[:2]
    right, bottom = detector_padding(width=width, height=height)
    if right or bottom:
        # Padding below or to the right leaves every box's coordinates as they are in the image.
        rgb = np.pad(rgb, ((0, bottom), (0, right), (0, 0)))
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])  # insightface works on OpenCV's BGR order
    boxes, kpss = detector.detect(
        bgr, input_size=detector_input_size(width=width + right, height=height + bottom)
    )
    keep = [i for i in range(boxes.shape[0]) if float(boxes[i, 4]) >= settings.FACE_DET_MIN_SCORE]
    faces: list[DetectedFace] = []
    if keep and kpss is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scikit-image deprecation noise inside norm_crop
            crops = [
                face_align.norm_crop(bgr, landmark=kpss[i], image_size=recogniser.input_size[0]) for i in keep
            ]
        # One batched forward pass for all the faces of the image.
        features = np.asarray(recogniser.get_feat(crops), dtype=np.float32).reshape(len(keep), -1)
        norms = np.linalg.norm(features, axis=1, keepdims=True)
        features = features / np.maximum(norms, 1e-12)
        for row, i in enumerate(keep):
            x1, y1, x2, y2 = (float(v) for v in boxes[i, :4])
            faces.append(
                DetectedFace(
                    bbox=(max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2)),
                    kps=np.asarray(kpss[i], dtype=np.float32).reshape(5, 2),
                    det_score=float(boxes[i, 4]),
                    embedding=np.ascontiguousarray(features[row], dtype=np.float32),
                )
            )
    faces.sort(key=lambda face: face.area, reverse=True)
    return faces


def face_central_pick(*, faces: list[DetectedFace], width: int, height: int) -> DetectedFace | None:
    """The face a photo is "of": large and near the centre (insightface's own max_num ranking)."""
    if not faces:
        return None
    cx, cy = width / 2.0, height / 2.0

    def rank(face: DetectedFace) -> float:
        x1, y1, x2, y2 = face.bbox
        offset = ((x1 + x2) / 2 - cx) ** 2 + ((y1 + y2) / 2 - cy) ** 2
        return face.area - 2.0 * offset

    return max(faces, key=rank)


def embedding_to_bytes(*, vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def default_threads_for(*, processes: int) -> int:
    """onnxruntime threads per process when ``processes`` share this machine's cores."""
    return max(1, (os.cpu_count() or 1) // max(1, processes))
