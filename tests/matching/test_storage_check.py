"""matching.services.storage_check: collection files left without an Image row by a crash.

Without the sweep, every orphan file below stays on disk for ever (for an erased person, a copy of
their photo); the tests say what each file gets.
"""

from __future__ import annotations

import io
import json
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from matching.models import Image
from matching.services import storage_check
from matching.services.ingestion import IngestItem, images_ingest
from matching.services.storage_check import collection_orphans_delete
from matching.tasks import collection_orphans_sweep
from tests.matching.conftest import LFW_DIR

TWO_HOURS_AGO = 2 * 3600


def _file(settings, name: str, *, age_seconds: float = TWO_HOURS_AGO, data: bytes = b"jpeg") -> Path:
    path = Path(settings.MEDIA_ROOT) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time() - age_seconds
    os.utime(path, (then, then))
    return path


def _row(name: str, sha: str) -> Image:
    image = Image(sha256=sha, collected_at=timezone.now(), width=10, height=10)
    image.file.name = name
    image.save()
    return image


@pytest.fixture
def media(settings, db):
    """Old and fresh orphans, an old file with its row, and old files of rights' own folders."""
    _row("collection/ab/" + "ab" * 32 + ".jpg", "ab" * 32)
    return {
        "old_orphan": _file(settings, "collection/cd/" + "cd" * 32 + ".jpg"),
        # A crashed write's temporary file (ingestion._file_write): no row can ever name it.
        "old_tmp": _file(settings, "collection/cd/." + "cd" * 32 + ".jpg.4242.tmp"),
        "fresh_orphan": _file(settings, "collection/ef/" + "ef" * 32 + ".jpg", age_seconds=60),
        "old_with_row": _file(settings, "collection/ab/" + "ab" * 32 + ".jpg"),
        "old_answer": _file(settings, "answers/archive.zip"),
        "old_selfie": _file(settings, "selfies/aa/" + "0" * 32 + ".jpg"),
    }


def test_old_orphans_deleted_fresh_and_named_and_other_folders_kept(media):
    result = collection_orphans_delete(older_than=timedelta(hours=1))
    assert (result.checked, result.deleted) == (4, 2)  # only the collection folder is looked at
    assert not media["old_orphan"].exists() and not media["old_tmp"].exists()
    # An ingestion in flight (file written, row not committed yet) keeps its file.
    assert media["fresh_orphan"].exists()
    assert media["old_with_row"].exists()
    # Selfies and answer archives are rights' to purge, never this sweep's.
    assert media["old_answer"].exists() and media["old_selfie"].exists()


def test_run_twice_deletes_nothing_more(media):
    collection_orphans_delete(older_than=timedelta(hours=1))
    again = collection_orphans_delete(older_than=timedelta(hours=1))
    assert (again.checked, again.deleted) == (2, 0)
    assert media["fresh_orphan"].exists() and media["old_with_row"].exists()


def test_default_limit_is_one_hour(media, settings):
    half_hour = _file(settings, "collection/11/" + "11" * 32 + ".jpg", age_seconds=30 * 60)
    assert collection_orphans_delete().deleted == 2
    assert half_hour.exists()


def test_no_collection_folder_is_nothing_to_do(db):
    assert collection_orphans_delete() == storage_check.OrphanSweepResult(checked=0, deleted=0)


def test_negative_limit_is_refused_and_nothing_deleted(media):
    with pytest.raises(ValueError, match="must not be negative"):
        collection_orphans_delete(older_than=timedelta(minutes=-1))
    assert media["old_orphan"].exists()


def test_symlink_is_neither_followed_nor_deleted(media, settings, tmp_path):
    outside = tmp_path / "outside"
    _file(settings, "../outside/photo.jpg")
    link = Path(settings.MEDIA_ROOT) / "collection" / "link"
    link.symlink_to(outside, target_is_directory=True)
    collection_orphans_delete(older_than=timedelta(hours=1))
    assert link.is_symlink() and (outside / "photo.jpg").exists()


@pytest.mark.django_db
def test_file_replaced_before_it_is_set_aside_is_put_back(settings):
    # The candidate was old when listed, then an ingestion of the same bytes wrote it afresh (and is
    # about to commit its row): the file moved aside is fresh, so it goes back untouched.
    name = "collection/cd/" + "cd" * 32 + ".jpg"
    path = _file(settings, name, age_seconds=5)
    deleted = storage_check._delete_if_still_orphan(path=path, name=name, cutoff=time.time() - TWO_HOURS_AGO)
    assert deleted is False and path.read_bytes() == b"jpeg"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # nothing left aside


@pytest.mark.django_db
def test_file_named_by_a_row_committed_meanwhile_is_put_back(settings):
    name = "collection/cd/" + "cd" * 32 + ".jpg"
    path = _file(settings, name)
    _row(name, "cd" * 32)  # committed after the sweep's lookup
    assert storage_check._delete_if_still_orphan(path=path, name=name, cutoff=time.time() - 3600) is False
    assert path.exists() and [p.name for p in path.parent.iterdir()] == [path.name]


@pytest.mark.models
@pytest.mark.django_db
def test_a_really_ingested_file_is_kept_however_old(settings):
    [outcome] = images_ingest(
        items=[IngestItem(name="r", path=str(LFW_DIR / "Rafael_Ramirez" / "Rafael_Ramirez_0001.jpg"))]
    )
    image = Image.objects.get(pk=outcome.image_id)
    stored = Path(settings.MEDIA_ROOT) / image.file.name
    then = time.time() - TWO_HOURS_AGO
    os.utime(stored, (then, then))
    assert collection_orphans_delete(older_than=timedelta(hours=1)).deleted == 0
    assert stored.exists()


def test_command_json_counts_only(media):
    out = io.StringIO()
    call_command("collection_orphans", "--older-than-minutes", "60", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"checked": 4, "deleted": 2}
    assert media["fresh_orphan"].exists()


def test_command_text_and_limit(media):
    out = io.StringIO()
    call_command("collection_orphans", "--older-than-minutes", "0", stdout=out)
    # With no age limit, the fresh orphan goes too; the file with a row never does.
    assert "checked: 4" in out.getvalue() and "older than 0 min): 3." in out.getvalue()
    assert not media["fresh_orphan"].exists() and media["old_with_row"].exists()


def test_command_negative_limit_is_a_clear_error(media):
    with pytest.raises(CommandError, match="0 or more"):
        call_command("collection_orphans", "--older-than-minutes", "-5")
    assert media["old_orphan"].exists()


def test_task_run_twice(media):
    assert collection_orphans_sweep() == {"checked": 4, "deleted": 2}
    assert collection_orphans_sweep() == {"checked": 2, "deleted": 0}
    assert media["fresh_orphan"].exists() and media["old_with_row"].exists()


def test_task_with_no_collection_folder(db):
    assert collection_orphans_sweep() == {"checked": 0, "deleted": 0}
