"""Fixtures for the matching tests: hostile files, synthetic faces, and one embedding per image.

The face models are deterministic, so ``image_analyse`` remembers its results by the file's sha256
(analysis processes hand theirs to the parent): with a memo large enough for every test image,
each image is embedded at most once per test session, however many tests use it.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from matching.services.analysis import analysis_memo_configure
from tests.conftest import GROUP_PHOTO, LFW_DIR

__all__ = ["GROUP_PHOTO", "LFW_DIR"]


@pytest.fixture(scope="session", autouse=True)
def _embed_each_image_once() -> None:
    analysis_memo_configure(items=4096)


def png_header_only(width: int, height: int, rows: int = 4) -> bytes:
    """A small PNG whose header claims width x height: a decompression bomb (few bytes, huge canvas)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width * 3 + 1)
    idat = b"".join(compressor.compress(row) for _ in range(rows)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_bytes(array: np.ndarray, **save_options) -> bytes:
    out = io.BytesIO()
    PILImage.fromarray(array).save(out, format="JPEG", **save_options)
    return out.getvalue()


def no_face_image() -> bytes:
    """A photo-sized picture with no face: a colour gradient with noise."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:240, 0:320]
    base = np.stack([x * 255 / 320, y * 255 / 240, (x + y) * 255 / 560], axis=-1)
    noisy = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    return jpeg_bytes(noisy, quality=90)


def hostile_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, the reason the decoder must give). Every one must be refused."""
    folder.mkdir(parents=True, exist_ok=True)
    real = (LFW_DIR / "Rafael_Ramirez" / "Rafael_Ramirez_0001.jpg").read_bytes()
    files = {
        "text_named_jpg": ("notes.jpg", b"Dear diary, this is not a photo.\n" * 20, "not_an_image"),
        "truncated_jpeg": ("cut.jpg", real[: len(real) // 2], "corrupt"),
        "bomb_png": ("bomb.png", png_header_only(9000, 9000), "too_many_pixels"),
        "svg": (
            "drawing.svg",
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            b'<circle cx="5" cy="5" r="4"/></svg>',
            "unsupported_format",
        ),
        "zero_bytes": ("empty.jpg", b"", "empty"),
        "huge_20000": ("huge.png", png_header_only(20000, 20000), "too_many_pixels"),
    }
    result = {}
    for key, (name, data, reason) in files.items():
        path = folder / name
        path.write_bytes(data)
        result[key] = (path, reason)
    return result


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(n, 512)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


# A score closer than this to a threshold could land on either side on another CPU (float32 sums
# in another order: AVX-512, another BLAS); no test may depend on which.
THRESHOLD_CLEARANCE = 1e-5


def threshold_margin(*, vectors: np.ndarray, queries: np.ndarray, thresholds: tuple[float, ...]) -> float:
    """How close (float64) any score of ``queries`` against ``vectors`` comes to any of ``thresholds``."""
    scores = vectors.astype(np.float64) @ queries.astype(np.float64).T
    return float(min(np.abs(scores - t).min() for t in thresholds))


def clear_of_thresholds(
    *, vectors: np.ndarray, queries: np.ndarray, thresholds: tuple[float, ...]
) -> np.ndarray:
    """The rows of ``vectors`` whose every score lies at least THRESHOLD_CLEARANCE from every threshold."""
    scores = vectors.astype(np.float64) @ queries.astype(np.float64).T
    near = np.zeros(vectors.shape[0], dtype=bool)
    for threshold in thresholds:
        near |= (np.abs(scores - threshold) < THRESHOLD_CLEARANCE).any(axis=1)
    return ~near


def vector_near(vector: np.ndarray, cosine: float, seed: int = 1) -> np.ndarray:
    """A unit vector whose cosine similarity with ``vector`` (a unit vector) is exactly ``cosine``."""
    rng = np.random.default_rng(seed)
    other = rng.normal(size=512).astype(np.float64)
    other -= other.dot(vector) * vector
    other /= np.linalg.norm(other)
    result = cosine * vector.astype(np.float64) + np.sqrt(1 - cosine**2) * other
    return (result / np.linalg.norm(result)).astype(np.float32)
