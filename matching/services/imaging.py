"""Safe image decoding: the only way any part of the portal turns uploaded bytes into pixels.

Every image that reaches the portal (a collected file, a requester's selfie) is hostile until
proven otherwise. The format is decided from the content, never from the file name; sizes are
checked from the header before any pixel is decoded, so a decompression bomb costs nothing; a
truncated or corrupt file is refused rather than half-decoded; and the copy we keep is
re-encoded without any metadata (EXIF GPS positions, camera serial numbers, XMP, comments).
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.utils import formats
from django.utils.translation import gettext as _
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

ACCEPTED = "JPEG, PNG or WebP"

# Magic bytes of the formats we accept. Pillow is then told to try only that one decoder.
_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Magic bytes of images we recognise but do not accept, so the message can say so precisely.
_OTHER_IMAGE_MAGICS = {
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"\x00\x00\x01\x00": "ICO",
    b"8BPS": "PSD",
    b"\xff\x0a": "JPEG XL",
    b"\x00\x00\x00\x0cJXL ": "JPEG XL",
}


class ImageRejected(ValueError):
    """The bytes are not an image we accept. ``reason`` is a stable code; the message is for people."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class DecodedImage:
    rgb: np.ndarray | None  # (height, width, 3) uint8, orientation applied; None for a selfie
    width: int
    height: int
    format: str  # "JPEG", "PNG" or "WEBP": the format of the original bytes
    sha256: str  # of the original bytes, as collected
    clean_bytes: bytes  # the same pixels re-encoded without any metadata
    clean_extension: str  # "jpg", "png" or "webp"


def _format_sniff(data: bytes) -> str:
    if data.startswith(_JPEG_MAGIC):
        return "JPEG"
    if data.startswith(_PNG_MAGIC):
        return "PNG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    for magic, name in _OTHER_IMAGE_MAGICS.items():
        if data.startswith(magic):
            raise ImageRejected(
                "unsupported_format",
                _(
                    "This file is a %(name)s image; only JPEG, PNG or WebP images are accepted. "
                    "Please convert it to JPEG or PNG and try again."
                )
                % {"name": name},
            )
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in {b"heic", b"heix", b"mif1", b"avif"}:
        raise ImageRejected(
            "unsupported_format",
            _(
                "This file is a HEIC/AVIF image; only JPEG, PNG or WebP images are accepted. "
                "Please convert it to JPEG (most phones can export as JPEG) and try again."
            ),
        )
    head = data[:512].lstrip().lower()
    if head.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in head:
        raise ImageRejected(
            "unsupported_format",
            _("This file is an SVG drawing; only JPEG, PNG or WebP photos are accepted."),
        )
    raise ImageRejected(
        "not_an_image",
        _("This file is not a JPEG, PNG or WebP image (whatever its name says). Please choose a photo file."),
    )


def megabytes_text(*, size: int) -> str:
    """Bytes as megabytes, the one way every page and refusal writes them ("20", "20.5"; "20,5" in
    French). Rounded up to a tenth: a file one byte over a 20 MB limit reads 20.1, never 20."""
    tenths = math.ceil(size / 100_000)
    return formats.number_format(tenths / 10, 0 if tenths % 10 == 0 else 1)


def size_text(*, size: int) -> str:
    """A byte count for people: "20 MB", "20.5 MB"."""
    return f"{megabytes_text(size=size)} MB"


def _size_check(width: int, height: int, max_pixels: int | None = None) -> None:
    if width <= 0 or height <= 0:
        raise ImageRejected("corrupt", _("This image says it has no pixels; the file is damaged."))
    max_side = settings.IMAGE_MAX_SIDE
    if width > max_side or height > max_side:
        raise ImageRejected(
            "too_many_pixels",
            _(
                "This image is %(width)sx%(height)s pixels; the largest accepted side is "
                "%(max_side)s pixels. Please send a smaller version."
            )
            % {"width": width, "height": height, "max_side": max_side},
        )
    max_pixels = max_pixels or settings.IMAGE_MAX_PIXELS
    if width * height > max_pixels:
        raise ImageRejected(
            "too_many_pixels",
            _(
                "This image has %(pixels)s pixels; at most %(most)s are accepted. "
                "Please send a smaller version."
            )
            % {
                "pixels": formats.number_format(width * height, force_grouping=True),
                "most": formats.number_format(max_pixels, force_grouping=True),
            },
        )


def _to_rgb(image: PILImage.Image) -> PILImage.Image:
    if image.mode == "RGB":
        return image
    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        # Transparent areas become white, not black: a face on a transparent background stays visible.
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")  # no full-size copy
        background = PILImage.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba)  # an RGBA mask is its alpha band, read in place
        return background
    if image.mode in {"I;16", "I;16B", "I;16L", "I"}:
        # 16-bit greyscale: scale to 8 bits rather than clipping everything to white.
        array = np.asarray(image)
        scale = 255.0 / (float(array.max()) or 1.0)
        grey = np.empty(array.shape, dtype=np.uint8)
        for top in range(0, array.shape[0], 256):  # in bands: never a float copy of the whole image
            grey[top : top + 256] = array[top : top + 256].astype(np.float32) * scale
        return PILImage.fromarray(grey, mode="L").convert("RGB")
    return image.convert("RGB")


def _clean_encode(image: PILImage.Image, source_format: str) -> tuple[bytes, str]:
    # A fresh image from raw pixels carries no info dict: no EXIF, XMP, ICC, comments or text chunks.
    bare = PILImage.frombytes("RGB", image.size, image.tobytes())
    out = io.BytesIO()
    if source_format == "PNG":
        bare.save(out, format="PNG", optimize=False)
        return out.getvalue(), "png"
    if source_format == "WEBP":
        bare.save(out, format="WEBP", quality=95, method=4)
        return out.getvalue(), "webp"
    bare.save(out, format="JPEG", quality=95, subsampling=0)
    return out.getvalue(), "jpg"


def _bytes_check(data: bytes) -> tuple[str, str]:
    """The format and sha256 of bytes worth opening, or ImageRejected (empty, too large, not ours)."""
    if not data:
        raise ImageRejected("empty", _("This file is empty (0 bytes). Please choose the photo again."))
    max_bytes = settings.IMAGE_MAX_BYTES
    if len(data) > max_bytes:
        raise ImageRejected(
            "too_large",
            _("This file is %(size)s MB; the limit is %(limit)s MB. Please send a smaller version.")
            % {"size": megabytes_text(size=len(data)), "limit": megabytes_text(size=max_bytes)},
        )
    fmt = _format_sniff(data)
    if fmt == "PNG" and b"IEND" not in data[-4096:]:
        # Pillow decodes a PNG cut short after its last row without complaint; a whole PNG ends with IEND.
        raise ImageRejected(
            "corrupt",
            _(
                "This image file is incomplete (perhaps the upload or download was cut short). "
                "Please try again with the original file."
            ),
        )
    return fmt, hashlib.sha256(data).hexdigest()


_ORIENTATION = 0x0112
# EXIF orientation -> the transpose that shows the picture upright (as ImageOps.exif_transpose).
_UPRIGHT = {
    2: PILImage.Transpose.FLIP_LEFT_RIGHT,
    3: PILImage.Transpose.ROTATE_180,
    4: PILImage.Transpose.FLIP_TOP_BOTTOM,
    5: PILImage.Transpose.TRANSPOSE,
    6: PILImage.Transpose.ROTATE_270,
    7: PILImage.Transpose.TRANSVERSE,
    8: PILImage.Transpose.ROTATE_90,
}


def _reduced_load(image: PILImage.Image, side: int) -> PILImage.Image:
    """The picture upright, in RGB, fitting ``side`` pixels a side, without a second full-size copy."""
    scale = side / max(image.size)
    wanted = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    upright = _UPRIGHT.get(image.getexif().get(_ORIENTATION, 1))
    # JPEG: decoded at 1/2, 1/4 or 1/8 scale straight from the DCT, never at full size.
    image.draft(None, wanted)
    # RGB before resizing: Pillow resizes RGBA through a premultiplied full-size copy.
    full = _to_rgb(image)
    if full is not image:
        image.close()  # the decoded RGBA or palette frame: not needed once it is RGB
    # Reduces by whole factors (Image.reduce) before the final resampling; then turned upright.
    reduced = full.resize(wanted, PILImage.Resampling.BICUBIC, reducing_gap=1.0)
    del full
    return reduced.transpose(upright) if upright is not None else reduced


def _pixels_load(
    data: bytes, fmt: str, *, max_pixels: int | None = None, reduce_to: int | None = None
) -> PILImage.Image:
    """Open, check the header's size, decode (reduced to fit ``reduce_to`` pixels a side), orient, RGB."""
    try:
        # Pillow's own bomb check (DecompressionBombError) stays on as a second line of defence
        # behind _size_check, which is stricter and runs first.
        # Closed on the way out: a decoder (WebP's holds a full frame) never outlives this call.
        with PILImage.open(io.BytesIO(data), formats=[fmt]) as image:
            if image.format != fmt:
                raise ImageRejected("not_an_image", _("This file is not a JPEG, PNG or WebP image."))
            # The header's size, before a single pixel is decoded.
            _size_check(*image.size, max_pixels=max_pixels)
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)  # animated: the first frame is the picture
            if reduce_to and max(image.size) > reduce_to:
                rgb_image = _reduced_load(image, reduce_to)
            else:
                image.load()
                rgb_image = _to_rgb(ImageOps.exif_transpose(image))  # a new image, never ``image``
    except ImageRejected:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
        raise ImageRejected(
            "too_many_pixels",
            _("This image has far too many pixels to be a photo. Please send a smaller version."),
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError) as exc:
        # Truncated data, bad CRCs, broken Huffman tables, lying headers all end here.
        raise ImageRejected(
            "corrupt",
            _(
                "This image file is damaged or incomplete (perhaps the upload or download was cut short). "
                "Please try again with the original file."
            ),
        ) from exc
    # exif_transpose may swap width and height: re-check what we now hold.
    _size_check(*rgb_image.size, max_pixels=max_pixels)
    if rgb_image.mode != "RGB":
        raise ImageRejected("corrupt", _("This image could not be read as a colour picture."))
    return rgb_image


def image_decode(*, data: bytes) -> DecodedImage:
    """Decode untrusted bytes into RGB pixels and a metadata-free copy, or raise ImageRejected."""
    fmt, digest = _bytes_check(data)
    rgb_image = _pixels_load(data, fmt)
    rgb = np.asarray(rgb_image, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageRejected("corrupt", _("This image could not be read as a colour picture."))
    clean_bytes, clean_extension = _clean_encode(rgb_image, fmt)
    return DecodedImage(
        rgb=np.ascontiguousarray(rgb),
        width=rgb.shape[1],
        height=rgb.shape[0],
        format=fmt,
        sha256=digest,
        clean_bytes=clean_bytes,
        clean_extension=clean_extension,
    )


def selfie_image_decode(*, data: bytes) -> DecodedImage:
    """A requester's selfie: at most SELFIE_MAX_PIXELS (_WEBP, _PNG), decoded reduced to
    SELFIE_DECODE_SIDE pixels a side, kept as a metadata-free JPEG, with no pixel array (``rgb`` is
    None: the web process needs none; the worker decodes the small copy). Raises ImageRejected
    with a message for people."""
    fmt, digest = _bytes_check(data)
    # Only a JPEG is decoded reduced; Pillow decodes a WebP through three full-frame buffers and
    # inflates every pixel of a PNG: their own, lower limits (bench/selfie_post.py).
    max_pixels = {"WEBP": settings.SELFIE_MAX_PIXELS_WEBP, "PNG": settings.SELFIE_MAX_PIXELS_PNG}.get(
        fmt, settings.SELFIE_MAX_PIXELS
    )
    rgb_image = _pixels_load(data, fmt, max_pixels=max_pixels, reduce_to=settings.SELFIE_DECODE_SIDE)
    # A selfie is only ever looked at by the detector and by staff: a JPEG is enough, and small.
    bare = PILImage.frombytes("RGB", rgb_image.size, rgb_image.tobytes())  # no info dict: no metadata
    out = io.BytesIO()
    bare.save(out, format="JPEG", quality=92)
    clean_bytes, clean_extension = out.getvalue(), "jpg"
    return DecodedImage(
        rgb=None,
        width=rgb_image.width,
        height=rgb_image.height,
        format=fmt,
        sha256=digest,
        clean_bytes=clean_bytes,
        clean_extension=clean_extension,
    )
