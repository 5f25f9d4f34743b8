"""faces_detect with the real models: the group photo, a photo with no face, the model settings."""

from __future__ import annotations

import numpy as np
import pytest

import matching.services.embedding as embedding
from matching.services.embedding import FaceModelUnavailable, detector_input_size, faces_detect
from matching.services.imaging import image_decode
from tests.matching.conftest import GROUP_PHOTO, no_face_image

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def group_faces():
    decoded = image_decode(data=GROUP_PHOTO.read_bytes())
    return decoded, faces_detect(rgb=decoded.rgb)


def test_group_photo_has_six_faces(group_faces):
    decoded, faces = group_faces
    assert len(faces) == 6
    areas = [face.area for face in faces]
    assert areas == sorted(areas, reverse=True)  # largest first
    for face in faces:
        assert face.embedding.shape == (512,) and face.embedding.dtype == np.float32
        assert np.linalg.norm(face.embedding) == pytest.approx(1.0, abs=1e-5)
        assert face.kps.shape == (5, 2)
        x1, y1, x2, y2 = face.bbox
        assert 0 <= x1 < x2 <= decoded.width and 0 <= y1 < y2 <= decoded.height
        assert face.det_score >= 0.5
    # Six different people: no two faces of the photo look alike.
    matrix = np.stack([f.embedding for f in faces])
    similarities = matrix @ matrix.T
    assert similarities[~np.eye(6, dtype=bool)].max() < 0.3


def test_a_photo_with_no_face_gives_none():
    decoded = image_decode(data=no_face_image())
    assert faces_detect(rgb=decoded.rgb) == []


def test_min_score_drops_weak_faces(settings, group_faces):
    decoded, faces = group_faces
    settings.FACE_DET_MIN_SCORE = 0.9999  # stricter than any real detection
    assert len(faces_detect(rgb=decoded.rgb)) < len(faces)


def test_detector_input_follows_the_image_size(settings):
    settings.FACE_DET_SIZE = 640
    assert detector_input_size(width=1280, height=886) == (640, 448)
    assert detector_input_size(width=100, height=3000) == (64, 640)
    assert all(side % 32 == 0 for side in detector_input_size(width=333, height=251))


def test_missing_models_say_to_set_face_model_dir(settings, tmp_path, monkeypatch):
    monkeypatch.setattr(embedding, "_models", None)  # as in a fresh process
    settings.FACE_MODEL_DIR = str(tmp_path / "nowhere")
    with pytest.raises(FaceModelUnavailable, match="FACE_MODEL_DIR"):
        faces_detect(rgb=np.zeros((64, 64, 3), dtype=np.uint8))


def test_rejects_a_non_rgb_array():
    with pytest.raises(ValueError):
        faces_detect(rgb=np.zeros((10, 10), dtype=np.uint8))


@pytest.mark.parametrize(
    "width,height",
    [(12000, 8), (8, 12000), (12000, 1), (1, 1), (3, 200), (640, 31), (5000, 250)],
)
def test_every_shape_is_analysed_without_error(width, height):
    # Before the padding, 12000x8 crashed in cv2.resize (a detector input 0 pixels high).
    strip = np.full((height, width, 3), 128, dtype=np.uint8)
    assert faces_detect(rgb=strip) == []


def test_padding_keeps_the_short_side_at_a_twentieth_of_the_long_one():
    assert embedding.detector_padding(width=12000, height=8) == (0, 592)
    assert embedding.detector_padding(width=8, height=12000) == (592, 0)
    assert embedding.detector_padding(width=640, height=480) == (0, 0)
    assert embedding.detector_padding(width=2000, height=100) == (0, 0)  # exactly 1/20: left as it is
    with pytest.raises(ValueError):
        embedding.detector_padding(width=0, height=10)
