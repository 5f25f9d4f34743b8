"""Pixel work on faces: blurring other people's faces, box overlap, clean JPEGs, face crops for staff.

The access answer (rights.pipeline.access) blurs every face but the requester's (Art. 15(4)); the
staff review screen (rights.admin) shows a crop around one face. Neither decides anything here:
these functions only turn pixels and boxes into pixels. Boxes are ``[x1, y1, x2, y2]`` in pixels.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFilter

# The part of a face box grown on every side before blurring, so that hair, ears and jaw go too.
BLUR_MARGIN = 0.2
# A face detected in a finished copy overlapping the requester's own face this much is theirs.
OWN_FACE_IOU = 0.3
# Around the face box in a staff crop, as a share of its size.
FACE_CROP_MARGIN = 0.6
JPEG_QUALITY = 90
# What a browser is sent as stored; anything else is re-encoded as JPEG.
_CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

Box = Sequence[float]


def box_grow(*, box: Box, width: int, height: int, margin: float = BLUR_MARGIN) -> tuple[int, int, int, int]:
    """``box`` grown by ``margin`` of its size on every side, within the image."""
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    return (
        max(0, int(x1 - mx)),
        max(0, int(y1 - my)),
        min(width, int(np.ceil(x2 + mx))),
        min(height, int(np.ceil(y2 + my))),
    )


def _box_mask(box: Box, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
    """The pixels of ``box`` within the window (x1, y1)-(x2, y2)."""
    mask = np.zeros((y2 - y1, x2 - x1), dtype=bool)
    bx1, by1 = max(0, int(box[0]) - x1), max(0, int(box[1]) - y1)
    bx2, by2 = min(x2 - x1, int(np.ceil(box[2])) - x1), min(y2 - y1, int(np.ceil(box[3])) - y1)
    if bx2 > bx1 and by2 > by1:
        mask[by1:by2, bx1:bx2] = True
    return mask


def face_regions_blur(*, rgb: np.ndarray, boxes: list[list[float]], keep: Box | None = None) -> np.ndarray:
    """A copy with each box (grown by BLUR_MARGIN) made unrecognisable.

    Pixelated down to 3x3 blocks, then a Gaussian blur as wide as the face: what is left is a
    smooth patch of the average colours, with no eyes, nose or mouth a person or a detector could
    pick out (and nothing to "unblur": the detail is gone, not hidden). The margin added around a
    box stops at ``keep`` (the requester's own face); the box itself is blurred even where the two
    overlap: another person's privacy comes first.
    """
    out = rgb.copy()
    height, width = out.shape[:2]
    for box in boxes:
        x1, y1, x2, y2 = box_grow(box=box, width=width, height=height)
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        region = PILImage.fromarray(out[y1:y2, x1:x2])
        small = region.resize((3, 3), PILImage.Resampling.BOX)
        smooth = small.resize(region.size, PILImage.Resampling.BILINEAR)
        smooth = smooth.filter(ImageFilter.GaussianBlur(radius=max(region.size) / 4))
        mask = np.ones((y2 - y1, x2 - x1), dtype=bool)
        if keep is not None:
            mask &= ~_box_mask(keep, x1, y1, x2, y2)
            mask |= _box_mask(box, x1, y1, x2, y2)
        patch = out[y1:y2, x1:x2]
        patch[mask] = np.asarray(smooth, dtype=np.uint8)[mask]
    return out


def box_iou(*, a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when they do not overlap)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def jpeg_encode(*, rgb: np.ndarray) -> bytes:
    # A new image from raw pixels: no EXIF, XMP, ICC profile or comment can come along.
    out = io.BytesIO()
    PILImage.fromarray(rgb, mode="RGB").save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def _crop_box(*, box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    margin_x, margin_y = (x2 - x1) * FACE_CROP_MARGIN, (y2 - y1) * FACE_CROP_MARGIN
    return (
        max(0, int(x1 - margin_x)),
        max(0, int(y1 - margin_y)),
        min(width, int(x2 + margin_x)),
        min(height, int(y2 + margin_y)),
    )


def image_for_display(*, data: bytes, bbox: Box | None, crop: bool) -> tuple[bytes, str]:
    """(bytes, content type) of a stored image for the staff screen: as stored when a browser shows
    that format (JPEG, PNG, WebP), else as JPEG; with ``crop`` and a box, a JPEG crop around the face.
    """
    with PILImage.open(io.BytesIO(data)) as image:
        image_format = (image.format or "JPEG").upper()
        if crop and bbox:
            box = _crop_box(box=bbox, width=image.width, height=image.height)
            out = io.BytesIO()
            image.convert("RGB").crop(box).save(out, format="JPEG", quality=JPEG_QUALITY)
            data, image_format = out.getvalue(), "JPEG"
    content_type = _CONTENT_TYPES.get(image_format)
    if content_type is None:
        out = io.BytesIO()
        with PILImage.open(io.BytesIO(data)) as image:
            image.convert("RGB").save(out, format="JPEG", quality=JPEG_QUALITY)
        data, content_type = out.getvalue(), "image/jpeg"
    return data, content_type


def image_boxed(*, data: bytes, boxes: list[Box], highlight: Box | None) -> bytes:
    """A JPEG of a stored image for the staff screen with every face outlined, the matched one
    (``highlight``) in a thick bright frame, so staff see which face of the photo was found."""
    with PILImage.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
    draw = ImageDraw.Draw(rgb)
    thin, thick = max(1, rgb.width // 400), max(3, rgb.width // 120)
    for box in boxes:
        draw.rectangle([float(v) for v in box[:4]], outline=(255, 255, 255), width=thin)
    if highlight:
        draw.rectangle([float(v) for v in highlight[:4]], outline=(255, 0, 200), width=thick)
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
