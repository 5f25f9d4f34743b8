"""manage.py ingest: JSON summary, hostile files refused with reasons, manifest, duplicates."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from matching.models import Face, Image
from matching.services.index import index_load
from tests.matching.conftest import LFW_DIR, hostile_files

pytestmark = [pytest.mark.models, pytest.mark.django_db]

PERSON = sorted((LFW_DIR / "Rafael_Ramirez").glob("*.jpg"))


def _ingest(*args: str) -> dict:
    out = io.StringIO()
    call_command("ingest", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_hostile_files_are_rejected_and_nothing_is_half_written(settings, tmp_path):
    files = hostile_files(tmp_path / "drop")
    # Named explicitly, so even the .svg is tried (the content decides, never the name).
    summary = _ingest(*(str(path) for path, _ in files.values()))
    assert summary["added"] == 0 and summary["faces"] == 0
    assert {(r["path"], r["reason"]) for r in summary["rejected"]} == {
        (str(path), reason) for path, reason in files.values()
    }
    assert all(r["message"] for r in summary["rejected"])
    assert not Image.objects.exists() and not Face.objects.exists()
    media = Path(settings.MEDIA_ROOT)
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))
    assert index_load()[1].ntotal == 0


def test_folder_with_manifest_then_reingest_adds_nothing(tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "path,source_url,collected_at,platform,account,released_to\n"
        f"{PERSON[0]},https://instagram.com/p/1/,2019-06-01,Instagram,@rafa,Acme Labs\n"
    )
    first = _ingest(str(LFW_DIR / "Rafael_Ramirez"), "--manifest", str(manifest))
    assert first["added"] == len(PERSON) and first["faces"] >= len(PERSON)
    image = Image.objects.get(pk=first["images"][0]["image_id"])
    assert (image.platform, image.account, image.collected_at.year) == ("instagram", "rafa", 2019)
    again = _ingest(str(LFW_DIR / "Rafael_Ramirez"))
    assert (again["added"], again["duplicates"]) == (0, len(PERSON))
    assert Image.objects.count() == len(PERSON)


def test_human_output_has_no_progress_bar_off_a_terminal():
    out = io.StringIO()
    call_command("ingest", str(PERSON[0]), stdout=out)
    assert (
        out.getvalue().strip() == "1 added (1 faces), 0 duplicates, 0 rejected, 0 not collected (objection), "
        "0 not collected again (erased)."
    )


def test_bad_manifest_is_a_command_error(tmp_path):
    from django.core.management import CommandError

    manifest = tmp_path / "m.csv"
    manifest.write_text("file\nx.jpg\n")
    with pytest.raises(CommandError, match="path"):
        call_command("ingest", str(PERSON[0]), "--manifest", str(manifest))


def test_a_manifest_alone_ingests_the_files_it_names(tmp_path):
    # Before: refused with "the following arguments are required: PATH".
    (tmp_path / "img").mkdir()
    copy = tmp_path / "img" / "one.jpg"
    copy.write_bytes(PERSON[1].read_bytes())
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "path,source_url\n"
        f"{PERSON[0]},https://example.com/0\n"
        "img/one.jpg,https://example.com/1\n"  # relative to the manifest's folder
    )
    summary = _ingest("--manifest", str(manifest))
    assert summary["files"] == 2 and summary["added"] == 2
    assert set(Image.objects.values_list("source_url", flat=True)) == {
        "https://example.com/0",
        "https://example.com/1",
    }


def test_no_path_and_no_manifest_says_what_to_give():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="one or more PATHs, or --manifest"):
        call_command("ingest")


def test_erased_files_are_counted_and_said_apart(tmp_path):
    from matching.services.deletion import image_delete

    first = _ingest(str(PERSON[0]))
    image_delete(image_id=first["images"][0]["image_id"], erased_by="9")
    again = _ingest(str(PERSON[0]))
    # Gets: not added, counted as erased (not as rejected), with the date and the request.
    assert (again["added"], again["erased"], again["rejected"]) == (0, 1, [])
    assert again["images"][0]["status"] == "erased" and "by request 9" in again["images"][0]["message"]
