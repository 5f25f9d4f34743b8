"""Shared helpers of the public-side tests: real faces from ../shared, links out of emails."""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage
from PIL import Image

from tests.conftest import LFW_DIR

# One face per image (checked by eye when the test was written): a plain portrait selfie.
FACE_PATH = LFW_DIR / "Rafael_Ramirez" / "Rafael_Ramirez_0001.jpg"


def face_bytes(path: Path = FACE_PATH) -> bytes:
    return path.read_bytes()


def face_with_metadata() -> bytes:
    """The face re-saved with EXIF (camera make, a description) and a JPEG comment."""
    image = Image.open(FACE_PATH)
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"  # Make
    exif[0x010E] = "Holiday at 12 Secret Street"  # ImageDescription
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes(), comment=b"GPS 48.8584,2.2945")
    return out.getvalue()


def link_in(body: str, *, path: str) -> str:
    """The path of the first absolute link in ``body`` whose whole path matches the regex ``path``."""
    for url in re.findall(r"https?://\S+", body):
        if re.fullmatch(path, urlsplit(url).path):
            assert url.startswith(settings.PUBLIC_BASE_URL), url
            return urlsplit(url).path
    raise AssertionError(f"no link matching {path!r} in:\n{body}")


def confirm_path(message: EmailMessage) -> str:
    return link_in(message.body, path=r"/confirm/[^/]+/")


def status_path(message: EmailMessage) -> str:
    return link_in(message.body, path=r"/status/[^/]+/")
