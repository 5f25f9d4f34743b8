"""image_ingest / images_ingest with the real models: added, duplicate, rejected, suppressed, signal."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image as PILImage

from matching.models import Face, Image, IngestionSkip
from matching.services import ingestion
from matching.services.analysis import analysis_memo_has, image_analyse
from matching.services.imaging import image_decode
from matching.services.index import index_ids, index_load
from matching.services.ingestion import (
    ADDED,
    DUPLICATE,
    REJECTED,
    SUPPRESSED,
    IngestItem,
    image_ingest,
    images_ingest,
    manifest_read,
)
from matching.services.suppression import suppression_add
from matching.signals import image_ingested
from tests.matching.conftest import GROUP_PHOTO, LFW_DIR, hostile_files, no_face_image

pytestmark = [pytest.mark.models, pytest.mark.django_db]

SAMPLE = sorted((LFW_DIR / "Rafael_Ramirez").glob("*.jpg"))


def _media_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_ingest_stores_a_clean_copy_faces_and_index(settings, django_capture_on_commit_callbacks):
    received = []

    def receiver(sender, image_id, extra, **kwargs):
        received.append((image_id, extra))

    image_ingested.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            outcome = image_ingest(
                data=GROUP_PHOTO.read_bytes(),
                name="group.jpg",
                source_url="HTTPS://Example.com/group.jpg",
                platform="Flickr",
                account="@Some.Body",
                extra={"released_to": "Acme Research"},
            )
    finally:
        image_ingested.disconnect(receiver)
    assert outcome.status == ADDED and outcome.faces == 6
    image = Image.objects.get(pk=outcome.image_id)
    assert (image.source_url, image.platform, image.account) == (
        "https://example.com/group.jpg",
        "flickr",
        "some.body",
    )
    assert image.faces.count() == 6
    stored = Path(default_storage.path(image.file.name))
    assert stored.is_file() and image.sha256 in stored.name
    assert image_decode(data=stored.read_bytes()).width == image.width
    _, index = index_load()
    assert set(index_ids(index=index).tolist()) == set(image.faces.values_list("pk", flat=True))
    assert received == [(image.pk, {"released_to": "Acme Research"})]


def test_same_bytes_twice_is_a_duplicate(settings):
    data = SAMPLE[0].read_bytes()
    first = image_ingest(data=data, name="a.jpg")
    second = image_ingest(data=data, name="copy-of-a.jpg")
    assert (first.status, second.status) == (ADDED, DUPLICATE)
    assert Image.objects.count() == 1 and len(_media_files(settings)) == 1


def test_duplicate_under_a_race_is_caught_by_the_unique_constraint(settings):
    # Two processes analysed the same file; both passed the duplicate check; the second store loses.
    data = SAMPLE[1].read_bytes()
    analysis = image_analyse(data=data)
    item = IngestItem(name="x.jpg", data=data)
    templates = ([], np.empty((0, 512), np.float32))
    first, _, _ = ingestion._image_store(item=item, analysis=analysis, templates=templates)
    second, ids, _ = ingestion._image_store(item=item, analysis=analysis, templates=templates)
    assert (first.status, second.status, ids) == (ADDED, DUPLICATE, [])
    image = Image.objects.get()
    assert Path(default_storage.path(image.file.name)).is_file()  # the winner's file is intact
    assert Face.objects.count() == first.faces


def test_hostile_files_leave_nothing_behind(settings, tmp_path):
    files = hostile_files(tmp_path / "hostile")
    items = [IngestItem(name=str(path), path=str(path)) for path, _ in files.values()]
    outcomes = images_ingest(items=items)
    assert [(o.status, o.reason) for o in outcomes] == [(REJECTED, reason) for _, reason in files.values()]
    assert not Image.objects.exists() and not Face.objects.exists()
    assert _media_files(settings) == []
    assert index_load()[1].ntotal == 0


def test_no_face_image_is_kept_with_no_faces():
    outcome = image_ingest(data=no_face_image(), name="gradient.jpg")
    assert outcome.status == ADDED and outcome.faces == 0


def test_suppressed_face_is_not_collected(settings):
    group = image_analyse(data=GROUP_PHOTO.read_bytes())
    suppression_add(reference="request-9", vector=group.faces[3].embedding)
    outcome = image_ingest(data=GROUP_PHOTO.read_bytes(), name="group.jpg")
    assert outcome.status == SUPPRESSED
    assert not Image.objects.exists() and _media_files(settings) == []
    skip = IngestionSkip.objects.get()
    assert skip.sha256 == group.sha256 and skip.score == pytest.approx(1.0, abs=1e-4)
    other = image_ingest(data=SAMPLE[2].read_bytes(), name="someone-else.jpg")
    assert other.status == ADDED


def test_batch_in_worker_processes(tmp_path):
    # Mirrored copies: pictures no other test embeds, analysed only in the two spawned processes.
    mirrored = []
    for path in SAMPLE[:2]:
        copy = tmp_path / f"mirrored-{path.stem}.png"
        PILImage.fromarray(np.asarray(PILImage.open(path).convert("RGB"))[:, ::-1]).save(copy)
        mirrored.append(copy)
    items = [IngestItem(name=str(p), path=str(p)) for p in mirrored]
    items.append(IngestItem(name="again", path=str(mirrored[0])))
    outcomes = images_ingest(items=items, workers=2)
    assert [o.status for o in outcomes] == [ADDED, ADDED, DUPLICATE]
    # The same person as the unmirrored photo (embedded in this process by other tests).
    original = image_analyse(data=SAMPLE[0].read_bytes()).faces[0].embedding
    stored = Face.objects.filter(image_id=outcomes[0].image_id).order_by("pk")
    assert max(float(face.vector @ original) for face in stored) > 0.5
    # The parent remembers what the pool found: analysing the file here embeds nothing again.
    assert analysis_memo_has(sha256=outcomes[0].sha256)


def test_manifest(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "path,source_url,collected_at,platform,account,released_to\n"
        f"{SAMPLE[0]},https://example.com/1.jpg,2021-03-04,instagram,@x,Acme\n"
        "rel/2.jpg,,2020-01-02T03:04:05+00:00,,,\n"
    )
    rows = manifest_read(path=manifest)
    first = rows[str(SAMPLE[0].resolve())]
    assert first["collected_at"].date().isoformat() == "2021-03-04"
    assert first["extra"] == {"released_to": "Acme"}
    assert rows[str((tmp_path / "rel/2.jpg").resolve())]["collected_at"].year == 2020
    manifest.write_text("file,url\nx.jpg,y\n")
    with pytest.raises(ValueError, match="path"):
        manifest_read(path=manifest)


def test_a_date_only_collected_at_is_midnight_utc_whatever_the_time_zone(settings):
    from datetime import UTC

    from matching.services.ingestion import collected_at_parse

    for zone in ("Europe/Paris", "America/Los_Angeles", "Asia/Tokyo"):
        settings.TIME_ZONE = zone
        parsed = collected_at_parse(value="2021-03-04")
        # Before the fix: local midnight, e.g. 2021-03-03T23:00Z in Paris (the day before, in UTC).
        assert parsed.utcoffset().total_seconds() == 0
        assert parsed.astimezone(UTC).isoformat() == "2021-03-04T00:00:00+00:00"


def test_a_duplicate_reports_the_existing_image_id(settings):
    data = SAMPLE[0].read_bytes()
    first = image_ingest(data=data, name="a.jpg")
    again = image_ingest(data=data, name="again.jpg")  # found before analysis (already in the DB)
    assert (again.status, again.image_id) == (DUPLICATE, first.image_id)  # before the fix: None
    twins = images_ingest(
        items=[
            IngestItem(name="b.jpg", data=SAMPLE[1].read_bytes()),
            IngestItem(name="b2.jpg", data=SAMPLE[1].read_bytes()),
        ]
    )
    assert [o.status for o in twins] == [ADDED, DUPLICATE]
    assert twins[1].image_id == twins[0].image_id  # a twin within the same run


def test_a_suppressed_file_ingested_again_is_counted_once():
    group = image_analyse(data=GROUP_PHOTO.read_bytes())
    suppression_add(reference="request-9", vector=group.faces[3].embedding)
    for name in ("group.jpg", "group-again.jpg", "group-third.jpg"):
        assert image_ingest(data=GROUP_PHOTO.read_bytes(), name=name).status == SUPPRESSED
    assert IngestionSkip.objects.filter(sha256=group.sha256).count() == 1  # before the fix: 3


def test_an_ingestion_losing_its_insert_to_a_deleted_row_leaves_no_file(settings, monkeypatch):
    """The row it lost to is gone by the time it looks: the file it wrote is removed, not left."""
    data = SAMPLE[1].read_bytes()
    analysis = image_analyse(data=data)
    item = IngestItem(name="x.jpg", data=data)
    templates = ([], np.empty((0, 512), np.float32))
    real_save = Image.save

    def save_then_lose(self, *args, **kwargs):
        from django.db import IntegrityError

        raise IntegrityError("duplicate key value violates unique constraint (sha256)")

    monkeypatch.setattr(Image, "save", save_then_lose)
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        ingestion._image_store(item=item, analysis=analysis, templates=templates)
    monkeypatch.setattr(Image, "save", real_save)
    assert _media_files(settings) == []  # before the fix: the file stayed, named by no row


@pytest.mark.parametrize("width,height", [(12000, 8), (8, 12000)])
def test_a_valid_thin_png_is_analysed_not_a_traceback(width, height):
    # A 12000x8 PNG once crashed ingest in cv2.resize; every shape the decoder accepts is analysed.
    buffer = io.BytesIO()
    PILImage.new("RGB", (width, height), (90, 120, 150)).save(buffer, format="PNG")
    outcome = image_ingest(data=buffer.getvalue(), name="strip.png")
    assert outcome.status == ADDED and outcome.faces == 0
    stored = Image.objects.get(pk=outcome.image_id)
    assert (stored.width, stored.height) == (width, height)


def test_an_erased_file_is_refused_ever_after_and_counted(settings):
    from matching.models import ErasedImage
    from matching.services.deletion import image_delete
    from matching.services.ingestion import ERASED

    settings.TIME_ZONE = "UTC"
    data = SAMPLE[0].read_bytes()
    added = image_ingest(data=data, name="a.jpg")
    image_delete(image_id=added.image_id, erased_by="42")
    day = timezone.localdate().isoformat()
    for attempt in (1, 2):
        # Gets: status "erased" with the date and request, no row, no file, one more refusal counted.
        again = image_ingest(data=data, name="a-again.jpg")
        assert (again.status, again.reason) == (ERASED, "erased")
        assert again.message.startswith(f"erased on {day} by request 42")
        assert not Image.objects.filter(sha256=added.sha256).exists()
        assert _media_files(settings) == []
        assert ErasedImage.objects.get(sha256=added.sha256).refusals == attempt


def test_an_erasure_committed_while_the_file_is_analysed_is_still_refused(settings, monkeypatch):
    from matching.services.deletion import image_delete
    from matching.services.ingestion import ERASED

    data = SAMPLE[1].read_bytes()
    added = image_ingest(data=data, name="b.jpg")
    image_delete(image_id=added.image_id, erased_by="43")
    # As if the deletion committed after the cheap check by hash: the insert's own check catches it.
    monkeypatch.setattr(ingestion, "erased_images_find", lambda hashes: {})
    again = image_ingest(data=data, name="b-again.jpg")
    assert again.status == ERASED and "request 43" in again.message
    assert not Image.objects.filter(sha256=added.sha256).exists()
    assert _media_files(settings) == []
