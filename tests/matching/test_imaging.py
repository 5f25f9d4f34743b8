"""image_decode: formats by content, limits from the header, corrupt files, orientation, metadata."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from matching.services.imaging import ImageRejected, image_decode, selfie_image_decode, size_text
from tests.matching.conftest import LFW_DIR, hostile_files, jpeg_bytes, png_header_only


@pytest.mark.parametrize(
    "key", ["text_named_jpg", "truncated_jpeg", "bomb_png", "svg", "zero_bytes", "huge_20000"]
)
def test_hostile_files_are_rejected_with_their_reason(tmp_path, key):
    path, reason = hostile_files(tmp_path)[key]
    with pytest.raises(ImageRejected) as caught:
        image_decode(data=path.read_bytes())
    assert caught.value.reason == reason
    assert isinstance(caught.value, ValueError)
    assert len(caught.value.message) > 20  # a sentence a person can act on


def test_messages_say_what_is_accepted(tmp_path):
    path, _ = hostile_files(tmp_path)["text_named_jpg"]
    with pytest.raises(ImageRejected, match="not a JPEG, PNG or WebP image"):
        image_decode(data=path.read_bytes())


def test_bomb_is_refused_from_the_header_before_decoding(settings):
    # A canvas within Pillow's own bomb limit but over ours: our check must be the one refusing.
    settings.IMAGE_MAX_PIXELS = 1_000_000
    with pytest.raises(ImageRejected) as caught:
        image_decode(data=png_header_only(1500, 1500))
    assert caught.value.reason == "too_many_pixels"
    assert "2,250,000 pixels" in caught.value.message


def test_side_limit(settings):
    settings.IMAGE_MAX_SIDE = 1000
    with pytest.raises(ImageRejected, match="largest accepted side is 1000"):
        image_decode(data=png_header_only(1200, 10))


def test_byte_limit(settings):
    settings.IMAGE_MAX_BYTES = 1000
    data = (LFW_DIR / "Rafael_Ramirez" / "Rafael_Ramirez_0001.jpg").read_bytes()
    with pytest.raises(ImageRejected) as caught:
        image_decode(data=data)
    assert caught.value.reason == "too_large"


@pytest.mark.parametrize("data", [b"GIF89a" + b"\0" * 40, b"BM" + b"\0" * 60, b"II*\x00" + b"\0" * 20])
def test_other_image_formats_are_unsupported(data):
    with pytest.raises(ImageRejected) as caught:
        image_decode(data=data)
    assert caught.value.reason == "unsupported_format"


def test_a_jpeg_named_png_is_decoded_by_content():
    data = (LFW_DIR / "Rafael_Ramirez" / "Rafael_Ramirez_0001.jpg").read_bytes()
    decoded = image_decode(data=data)
    assert decoded.format == "JPEG"
    assert (decoded.width, decoded.height) == (250, 250)
    assert decoded.rgb.shape == (250, 250, 3) and decoded.rgb.dtype == np.uint8
    assert decoded.clean_extension == "jpg"
    assert len(decoded.sha256) == 64


def test_truncated_png_is_corrupt():
    out = io.BytesIO()
    PILImage.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        out, "PNG"
    )
    for cut in (len(out.getvalue()) // 2, len(out.getvalue()) - 16):
        with pytest.raises(ImageRejected) as caught:
            image_decode(data=out.getvalue()[:cut])
        assert caught.value.reason == "corrupt"


def test_exif_orientation_applied_and_metadata_removed():
    image = PILImage.fromarray(np.zeros((100, 200, 3), dtype=np.uint8))
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    exif[0x010F] = "SecretCam"  # camera make
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, comment=b"gps 48.85,2.35")
    decoded = image_decode(data=out.getvalue())
    assert (decoded.width, decoded.height) == (100, 200)
    assert b"SecretCam" not in decoded.clean_bytes
    assert b"48.85" not in decoded.clean_bytes
    reopened = PILImage.open(io.BytesIO(decoded.clean_bytes))
    assert reopened.size == (100, 200)
    assert not reopened.getexif()


def test_png_text_chunks_removed():
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "Jane Doe, 12 Secret Road")
    out = io.BytesIO()
    PILImage.new("RGBA", (40, 30), (10, 20, 30, 0)).save(out, format="PNG", pnginfo=info)
    decoded = image_decode(data=out.getvalue())
    assert decoded.format == "PNG" and decoded.clean_extension == "png"
    assert b"Secret Road" not in decoded.clean_bytes
    assert decoded.rgb[0, 0].tolist() == [255, 255, 255]  # transparent becomes white


def test_animated_webp_gives_the_first_frame():
    frames = [PILImage.new("RGB", (32, 32), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, format="WEBP", save_all=True, append_images=frames[1:], lossless=True)
    decoded = image_decode(data=out.getvalue())
    assert decoded.format == "WEBP"
    assert decoded.rgb[16, 16].tolist() == [255, 0, 0]


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "I;16", "LA"])
def test_any_mode_becomes_rgb(mode):
    image = PILImage.new("RGB", (20, 10), (200, 100, 50)).convert(mode if mode != "I;16" else "L")
    if mode == "I;16":
        image = PILImage.fromarray(np.full((10, 20), 40000, dtype=np.uint16))
    out = io.BytesIO()
    image.save(out, format="PNG" if mode != "CMYK" else "JPEG")
    decoded = image_decode(data=out.getvalue())
    assert decoded.rgb.shape == (10, 20, 3)


def test_same_bytes_same_sha256_and_clean_copy_is_decodable():
    data = jpeg_bytes(np.full((50, 60, 3), 128, dtype=np.uint8))
    first, second = image_decode(data=data), image_decode(data=data)
    assert first.sha256 == second.sha256
    again = image_decode(data=first.clean_bytes)
    assert (again.width, again.height) == (60, 50)


def test_sizes_read_the_same_number_in_every_message(settings):
    assert size_text(size=20_000_000) == "20 MB"
    assert size_text(size=20_971_520) == "21 MB"  # a binary 20 MiB would read 21 everywhere, not 20
    assert size_text(size=25_500_000) == "25.5 MB"
    settings.IMAGE_MAX_BYTES = 20_000_000
    with pytest.raises(ImageRejected) as caught:
        image_decode(data=b"\xff\xd8\xff" + b"\0" * 20_000_001)
    assert "the limit is 20 MB" in caught.value.message
    assert "This file is 20.1 MB" in caught.value.message  # rounded up: never reads as the limit


def _png(image: PILImage.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_a_selfie_has_its_own_lower_pixel_limit(settings):
    settings.SELFIE_MAX_PIXELS_PNG = 16_000_000
    # The attack: a 35 KB blank 6000x6000 PNG passes the collection's limits but not a selfie's.
    blank = _png(PILImage.new("L", (6000, 6000), 255))
    assert len(blank) < 200_000
    with pytest.raises(ImageRejected) as caught:
        selfie_image_decode(data=blank)
    assert caught.value.reason == "too_many_pixels"
    assert "16,000,000" in caught.value.message and "36,000,000" in caught.value.message


def test_a_selfie_is_decoded_reduced_with_no_pixel_array(settings):
    settings.SELFIE_DECODE_SIDE = 800
    rng = np.random.default_rng(3)
    photo = rng.integers(0, 255, size=(1500, 3000, 3), dtype=np.uint8)
    exif = PILImage.Exif()
    exif[0x0112] = 6  # shown rotated: 1500 wide, 3000 high
    exif[0x010F] = "SecretCam"
    out = io.BytesIO()
    PILImage.fromarray(photo).save(out, format="JPEG", exif=exif, quality=90)
    decoded = selfie_image_decode(data=out.getvalue())
    assert decoded.rgb is None
    assert (decoded.width, decoded.height) == (400, 800)
    assert decoded.clean_extension == "jpg" and b"SecretCam" not in decoded.clean_bytes
    reopened = PILImage.open(io.BytesIO(decoded.clean_bytes))
    assert reopened.format == "JPEG" and reopened.size == (400, 800) and not reopened.getexif()


@pytest.mark.parametrize("mode", ["RGBA", "P", "I;16", "LA"])
def test_a_large_selfie_of_any_mode_is_reduced_to_rgb(settings, mode):
    settings.SELFIE_DECODE_SIDE = 100
    if mode == "I;16":
        image = PILImage.fromarray(np.full((300, 500), 40000, dtype=np.uint16))
    else:
        image = PILImage.new("RGB", (500, 300), (200, 100, 50)).convert(mode)
    decoded = selfie_image_decode(data=_png(image))
    assert (decoded.width, decoded.height) == (100, 60)
    assert PILImage.open(io.BytesIO(decoded.clean_bytes)).mode == "RGB"


def test_a_small_selfie_is_kept_at_its_size_and_a_thin_one_still_decodes(settings):
    settings.SELFIE_DECODE_SIDE = 1600
    small = selfie_image_decode(data=(LFW_DIR / "Rafael_Ramirez" / "Rafael_Ramirez_0001.jpg").read_bytes())
    assert (small.width, small.height) == (250, 250)
    thin = selfie_image_decode(data=_png(PILImage.new("RGB", (12000, 8), (9, 9, 9))))
    assert thin.width == 1600 and thin.height >= 1
    assert image_decode(data=thin.clean_bytes).rgb.shape == (thin.height, 1600, 3)


def test_a_selfie_keeps_every_refusal_of_the_collection(tmp_path):
    for key, (path, reason) in hostile_files(tmp_path).items():
        with pytest.raises(ImageRejected) as caught:
            selfie_image_decode(data=path.read_bytes())
        assert caught.value.reason == reason, key


def test_a_webp_selfie_has_a_lower_pixel_limit_than_a_jpeg(settings):
    settings.SELFIE_MAX_PIXELS, settings.SELFIE_MAX_PIXELS_WEBP = 1_000_000, 250_000
    image = PILImage.new("RGB", (600, 600), (10, 20, 30))
    webp, jpeg = io.BytesIO(), io.BytesIO()
    image.save(webp, format="WEBP")
    image.save(jpeg, format="JPEG")
    assert selfie_image_decode(data=jpeg.getvalue()).width == 600
    with pytest.raises(ImageRejected) as caught:
        selfie_image_decode(data=webp.getvalue())
    assert caught.value.reason == "too_many_pixels" and "at most 250,000" in caught.value.message


def test_a_png_selfie_has_its_own_pixel_limit(settings):
    settings.SELFIE_MAX_PIXELS, settings.SELFIE_MAX_PIXELS_PNG = 1_000_000, 250_000
    with pytest.raises(ImageRejected) as caught:
        selfie_image_decode(data=_png(PILImage.new("RGB", (600, 600), (10, 20, 30))))
    assert caught.value.reason == "too_many_pixels" and "at most 250,000" in caught.value.message
    assert selfie_image_decode(data=_png(PILImage.new("RGB", (500, 500)))).width == 500
