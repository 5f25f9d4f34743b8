"""rights.lifecycle.ledger_copy and rights.upkeep.replay: the erasure ledger's copy outside the
database, written before each deletion, and its replay (the end-to-end restore is tests/test_backup.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from matching.models import ErasedImage, Image
from rights.lifecycle.ledger_copy import ledger_copy_append
from rights.models import AuditEvent, Match, RecipientNotice, RequestKind, RequestStatus
from rights.pipeline.erasure import erasure_images_delete
from rights.upkeep.replay import REPLAY_ACTION, LedgerCopyMissing, erasures_replay
from tests.rights.jobs_helpers import make_image, make_request, sha

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger_file(settings, tmp_path: Path) -> Path:
    settings.ERASURE_LEDGER_FILE = tmp_path / "anchors" / "erasure-ledger.jsonl"
    return settings.ERASURE_LEDGER_FILE


def test_copy_lines_are_appended_as_json(ledger_file: Path) -> None:
    ledger_copy_append(request_id=1, image_id=10, image_sha256=sha("a"), source="erasure")
    ledger_copy_append(request_id=2, image_id=11, image_sha256=sha("b"), source="suppression")
    entries = [json.loads(line) for line in ledger_file.read_text().splitlines()]
    assert [(e["request_id"], e["image_sha256"], e["source"]) for e in entries] == [
        (1, sha("a"), "erasure"),
        (2, sha("b"), "suppression"),
    ]
    assert ledger_file.stat().st_mode & 0o077 == 0


def test_an_erasure_writes_its_copy_line_before_deleting(ledger_file: Path) -> None:
    request = make_request(kind=RequestKind.ERASURE, status=RequestStatus.FULFILLING)
    image = make_image("one")
    Match.objects.create(request=request, image=image, image_sha256=image.sha256, band=Match.Band.MATCH)
    assert erasure_images_delete(request=request) == 0
    assert not Image.objects.filter(pk=image.pk).exists()
    assert json.loads(ledger_file.read_text())["image_sha256"] == image.sha256


def test_no_copy_no_deletion(settings, tmp_path: Path) -> None:
    # The copy cannot be written (its folder is a file): the erasure fails before deleting anything.
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings.ERASURE_LEDGER_FILE = blocker / "erasure-ledger.jsonl"
    request = make_request(kind=RequestKind.ERASURE, status=RequestStatus.FULFILLING)
    image = make_image("kept")
    Match.objects.create(request=request, image=image, image_sha256=image.sha256, band=Match.Band.MATCH)
    with pytest.raises(OSError):
        erasure_images_delete(request=request)
    assert Image.objects.filter(pk=image.pk).exists()


def test_replay_deletes_what_the_copy_names_and_sends_nothing(ledger_file: Path) -> None:
    back = make_image("came-back")
    other = make_image("never-erased")
    ledger_copy_append(request_id=99, image_id=back.pk, image_sha256=back.sha256, source="erasure")
    ledger_copy_append(request_id=98, image_id=0, image_sha256=sha("long-gone"), source="erasure")
    result = erasures_replay()
    assert (result.copy_lines, result.images_deleted, result.bad_lines) == (2, 1, [])
    # Both hashes are refused at ingestion again, the one whose image was already gone too.
    assert result.erased_hashes_recorded == 2
    assert ErasedImage.objects.get(sha256=sha("long-gone")).reference == "98"
    assert not Image.objects.filter(pk=back.pk).exists()
    assert Image.objects.filter(pk=other.pk).exists()
    event = AuditEvent.objects.get(action=REPLAY_ACTION)
    assert event.detail["image_hashes"] == [back.sha256] and event.actor == "system"
    assert RecipientNotice.objects.count() == 0
    assert erasures_replay().images_deleted == 0  # again: nothing left, audited again
    assert AuditEvent.objects.filter(action=REPLAY_ACTION).count() == 2


def test_replay_also_reads_the_restored_database_ledger(ledger_file: Path) -> None:
    # An image the restored database ledger says was erased, but whose row came back with it.
    request = make_request(kind=RequestKind.ERASURE, status=RequestStatus.ANSWERED)
    image = make_image("in-the-dump")
    request.erasures.create(
        image_id=image.pk, image_sha256=image.sha256, removed_from=["file"], erased_at=image.collected_at
    )
    ledger_file.parent.mkdir(parents=True)
    ledger_file.write_text("")
    result = erasures_replay()
    assert (result.database_rows, result.images_deleted) == (1, 1)
    assert not Image.objects.filter(pk=image.pk).exists()


def test_missing_copy_stops_before_anything_is_deleted(ledger_file: Path) -> None:
    image = make_image("still-here")
    with pytest.raises(LedgerCopyMissing):
        erasures_replay()
    with pytest.raises(CommandError, match=r"No erasure ledger copy at .*Nothing was deleted"):
        call_command("erasures_replay")
    assert Image.objects.filter(pk=image.pk).exists()
    assert not AuditEvent.objects.filter(action=REPLAY_ACTION).exists()


def test_bad_lines_are_named_and_every_good_one_replayed(ledger_file: Path) -> None:
    first, second = make_image("first"), make_image("second")
    ledger_copy_append(request_id=1, image_id=first.pk, image_sha256=first.sha256, source="erasure")
    with open(ledger_file, "a") as handle:
        handle.write("not json\n")
        handle.write(json.dumps({"image_sha256": "short"}) + "\n")
        handle.write(json.dumps({"no": "hash"}) + "\n")
    ledger_copy_append(request_id=2, image_id=second.pk, image_sha256=second.sha256, source="erasure")
    with pytest.raises(CommandError, match=r"3 line\(s\) of the ledger copy .*line 2, 3, 4"):
        call_command("erasures_replay")
    assert not Image.objects.filter(pk__in=[first.pk, second.pk]).exists()
    assert AuditEvent.objects.get(action=REPLAY_ACTION).detail["bad_lines"] == [2, 3, 4]


def test_requests_open_again_are_held_and_closed_ones_left(ledger_file: Path, mailoutbox) -> None:
    # Restored as they were at the backup: one still approved, one already answered.
    reopened = make_request(kind=RequestKind.ERASURE, status=RequestStatus.APPROVED)
    answered = make_request(kind=RequestKind.ERASURE, status=RequestStatus.ANSWERED)
    for request, label in ((reopened, "r1"), (answered, "r2")):
        image = make_image(label)
        ledger_copy_append(
            request_id=request.pk, image_id=image.pk, image_sha256=image.sha256, source="erasure"
        )
    result = erasures_replay()
    assert result.held_request_ids == [reopened.pk]
    reopened.refresh_from_db()
    answered.refresh_from_db()
    assert reopened.status == RequestStatus.HELD and "ledger replay" in reopened.hold_reason
    assert answered.status == RequestStatus.ANSWERED
    # The only email: the hold's alert to the privacy officer; nothing to the requester or recipients.
    assert [m.to for m in mailoutbox] == [[settings.PRIVACY_OFFICER_EMAIL]]
    assert erasures_replay().held_request_ids == []  # already held: not again
