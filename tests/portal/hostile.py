"""Hostile files a person might send as a selfie, built in memory (nothing is stored in the repo).

Each entry: what the file is, its bytes, the name it is uploaded under, and a phrase of the
decoder's message the person must see for it.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_bilevel(*, width: int, height: int) -> bytes:
    """A real, valid 1-bit greyscale PNG of all-black pixels: tiny on disk, huge once decoded."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)  # filter byte "none", then the packed pixels
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    idat = b"".join(parts)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def jpeg_of(path: Path) -> bytes:
    return path.read_bytes()


@dataclass(frozen=True)
class Hostile:
    label: str
    data: bytes
    filename: str
    content_type: str
    says: str  # a phrase of the message the person sees


def hostile_files(*, face_jpeg: bytes) -> list[Hostile]:
    """The foundation's list of hostile files, as selfies."""
    return [
        Hostile(
            "text file named .jpg",
            b"Dear Sir or Madam, this is not a photograph.\n" * 20,
            "me.jpg",
            "image/jpeg",
            "is not a JPEG, PNG or WebP image",
        ),
        Hostile(
            "truncated JPEG",
            face_jpeg[: len(face_jpeg) // 2],
            "cut.jpg",
            "image/jpeg",
            "damaged or incomplete",
        ),
        Hostile(
            # 10000 x 10000 = 100 million pixels in about 15 KB: under the side limit, far over the pixel one.
            "decompression-bomb PNG",
            png_bilevel(width=10_000, height=10_000),
            "bomb.png",
            "image/png",
            "pixels",
        ),
        Hostile(
            "SVG drawing",
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
            b'<script>alert(1)</script><circle cx="50" cy="50" r="40"/></svg>',
            "face.svg",
            "image/svg+xml",
            "SVG",
        ),
        Hostile("zero-byte file", b"", "empty.jpg", "image/jpeg", "empty"),
        Hostile(
            "20000x20000 image",
            png_bilevel(width=20_000, height=20_000),
            "huge.png",
            "image/png",
            "too many pixels",
        ),
    ]


def no_face_jpeg() -> bytes:
    """A photo-sized JPEG with no face: a smooth gradient (it decodes; the worker finds no face)."""
    image = Image.linear_gradient("L").resize((400, 300)).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()
