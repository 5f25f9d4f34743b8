"""scripts/backup and scripts/restore (portal.backup), and the erasure replay after a restore.

The end-to-end case: a real collection (real models, real faces, the real index) is backed up, an
image is then erased, the old backup is restored (the image comes back: row, file, faces, vectors,
and no ledger row says it was erased), and ``erasures_replay`` deletes it again from the ledger's
copy, sending nothing. Run against the test database in subprocesses, as an operator would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from matching.models import ErasedImage, Face, Image
from matching.services.index import index_cache_clear, index_load
from matching.services.ingestion import IngestItem, images_ingest
from rights.models import (
    AuditEvent,
    DataRequest,
    ErasureRecord,
    Match,
    RecipientNotice,
    RequestKind,
    RequestStatus,
)
from rights.pipeline.erasure import erasure_images_delete
from rights.upkeep.replay import REPLAY_ACTION
from tests.conftest import _test_database_url
from tests.rights.jobs_helpers import make_image, make_request

ROOT = Path(settings.BASE_DIR)


@pytest.fixture
def portal_env(settings, tmp_path: Path) -> dict[str, str]:
    """The environment of the operator's shell: this test's database and folders."""
    anchors = tmp_path / "anchors"
    settings.ERASURE_LEDGER_FILE = anchors / "erasure-ledger.jsonl"
    settings.AUDIT_ANCHOR_FILE = anchors / "audit-anchors.log"
    return {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "INDEX_DIR": str(settings.INDEX_DIR),
        "MAIL_DIR": str(settings.MAIL_DIR),
        "ERASURE_LEDGER_FILE": str(settings.ERASURE_LEDGER_FILE),
        "AUDIT_ANCHOR_FILE": str(settings.AUDIT_ANCHOR_FILE),
    }


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    connection.close()  # the restore replaces the database under this process's feet
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def index_ids() -> set[int]:
    index_cache_clear()
    _, index = index_load()
    return set(index.ids().tolist()) if hasattr(index, "ids") else set()


def state_of(sha256: str) -> dict[str, object]:
    image = Image.objects.filter(sha256=sha256).first()
    file_path = Path(settings.MEDIA_ROOT) / image.file.name if image else None
    return {
        "row": image is not None,
        "file": bool(file_path and file_path.is_file()),
        "faces": Face.objects.filter(image__sha256=sha256).count(),
    }


@pytest.mark.django_db(transaction=True)
def test_restoring_an_old_backup_then_replaying_leaves_no_erased_image(
    portal_env: dict[str, str], lfw_identities: dict[str, list[Path]], tmp_path: Path
) -> None:
    people = [name for name, paths in sorted(lfw_identities.items()) if len(paths) >= 2][:2]
    items = [IngestItem(name=p.name, path=str(p)) for name in people for p in lfw_identities[name][:1]]
    outcomes = images_ingest(items=items)
    assert [o.status for o in outcomes] == ["added", "added"]
    erased_image, kept_image = (Image.objects.get(pk=o.image_id) for o in outcomes)
    erased_sha, kept_sha = erased_image.sha256, kept_image.sha256
    erased_faces = set(Face.objects.filter(image=erased_image).values_list("id", flat=True))
    kept_faces = set(Face.objects.filter(image=kept_image).values_list("id", flat=True))
    assert erased_faces and kept_faces and (erased_faces | kept_faces) <= index_ids()
    request = make_request(kind=RequestKind.ERASURE, status=RequestStatus.FULFILLING)
    Match.objects.create(
        request=request, image=erased_image, image_sha256=erased_sha, band=Match.Band.MATCH, score=0.9
    )

    # 1. The backup, taken before the erasure.
    backups = tmp_path / "backups"
    made = run([str(ROOT / "scripts" / "backup"), str(backups)], portal_env)
    assert made.returncode == 0, made.stderr
    backup = Path(made.stdout.strip().splitlines()[-1])
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["engine"] in ("sqlite", "postgresql") and manifest["media_files"] >= 2
    assert not list(backups.glob("*.partial"))

    # 2. The erasure, after it: gone everywhere, ledgered, and copied to the ledger file.
    assert erasure_images_delete(request=request) == 0
    assert state_of(erased_sha) == {"row": False, "file": False, "faces": 0}
    assert not erased_faces & index_ids()
    copy_lines = Path(settings.ERASURE_LEDGER_FILE).read_text().splitlines()
    assert [json.loads(line)["image_sha256"] for line in copy_lines] == [erased_sha]
    notices_before = RecipientNotice.objects.count()
    mails_before = set(Path(settings.MAIL_DIR).glob("*")) if Path(settings.MAIL_DIR).exists() else set()

    # 3. The old backup restored without the replay: the erased image is back, and no ledger row
    #    remembers its erasure (that row was written after the backup).
    restored = run([str(ROOT / "scripts" / "restore"), str(backup), "--yes", "--no-replay"], portal_env)
    assert restored.returncode == 0, restored.stderr
    assert "NOT replayed" in restored.stdout
    assert state_of(erased_sha)["row"] and state_of(erased_sha)["file"] and state_of(erased_sha)["faces"]
    assert erased_faces <= index_ids()
    assert not ErasureRecord.objects.filter(image_sha256=erased_sha).exists()
    assert not ErasedImage.objects.filter(sha256=erased_sha).exists()  # ingestion forgot it too
    # The restored database's own ledger cannot bring the erasure back: only the copy can.
    database_only = run(
        [sys.executable, "manage.py", "erasures_replay", "--database-only", "--json"], portal_env
    )
    assert database_only.returncode == 0, database_only.stderr
    assert json.loads(database_only.stdout)["images_deleted"] == 0
    assert state_of(erased_sha)["row"]

    # 4. The replay: the erased image is gone again, everywhere; the other one is untouched.
    replayed = run([sys.executable, "manage.py", "erasures_replay", "--json"], portal_env)
    assert replayed.returncode == 0, replayed.stderr
    counts = json.loads(replayed.stdout)
    assert (counts["copy_lines"], counts["images_deleted"], counts["bad_lines"]) == (1, 1, [])
    # The request was still being fulfilled at the backup: open again, so held for staff.
    assert counts["held_request_ids"] == [request.pk]
    request.refresh_from_db()
    assert request.status == RequestStatus.HELD and "Restored from a backup" in request.hold_reason
    assert state_of(erased_sha) == {"row": False, "file": False, "faces": 0}
    assert not erased_faces & index_ids()
    assert state_of(kept_sha) == {"row": True, "file": True, "faces": len(kept_faces)}
    assert kept_faces <= index_ids()
    assert not list((Path(settings.MEDIA_ROOT) / "collection").rglob(f"{erased_sha}*"))
    # Audited, and nothing sent to the requester or a recipient: no notice row; the only email is
    # the hold's alert to the privacy officer.
    event = AuditEvent.objects.filter(action=REPLAY_ACTION).order_by("-id").first()
    assert event.detail["images_deleted"] == 1 and event.detail["image_hashes"] == [erased_sha]
    assert event.detail["held_request_ids"] == [request.pk]
    assert RecipientNotice.objects.count() <= notices_before
    mails = (
        set(Path(settings.MAIL_DIR).glob("*")) - mails_before if Path(settings.MAIL_DIR).exists() else set()
    )
    recipients = {line for mail in mails for line in mail.read_text().splitlines() if line.startswith("To: ")}
    assert recipients <= {f"To: {settings.PRIVACY_OFFICER_EMAIL}"}, recipients
    # The live ledger copy was kept as it was (never replaced by the backup's older one).
    assert Path(settings.ERASURE_LEDGER_FILE).read_text().splitlines() == copy_lines
    # Ingestion refuses the erased bytes again, naming the request.
    assert ErasedImage.objects.get(sha256=erased_sha).reference == str(request.pk)
    again_in = images_ingest(items=[items[0]])[0]
    assert again_in.status == "erased" and f"request {request.pk}" in again_in.message
    assert not Image.objects.filter(sha256=erased_sha).exists()
    # Run again: nothing left to delete.
    again = run([sys.executable, "manage.py", "erasures_replay", "--json"], portal_env)
    assert json.loads(again.stdout)["images_deleted"] == 0
    assert DataRequest.objects.filter(pk=request.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_restore_refuses_what_is_not_a_backup_and_asks_for_confirmation(
    portal_env: dict[str, str], tmp_path: Path
) -> None:
    # Not a backup folder: a clear error, exit 1, nothing replaced.
    not_a_backup = tmp_path / "random"
    not_a_backup.mkdir()
    refused = run([str(ROOT / "scripts" / "restore"), str(not_a_backup), "--yes"], portal_env)
    assert refused.returncode == 1
    assert "is not a complete facerights backup" in refused.stderr and "Traceback" not in refused.stderr
    # A real backup without --yes: it says what would happen and exits 2.
    made = run([str(ROOT / "scripts" / "backup"), str(tmp_path / "backups")], portal_env)
    assert made.returncode == 0, made.stderr
    asked = run([str(ROOT / "scripts" / "restore"), made.stdout.strip().splitlines()[-1]], portal_env)
    assert asked.returncode == 2 and "--yes" in asked.stderr
    # A backup of another database engine: refused before anything is replaced.
    backup = Path(made.stdout.strip().splitlines()[-1])
    manifest = json.loads((backup / "manifest.json").read_text())
    manifest["engine"] = "mysql"
    (backup / "manifest.json").write_text(json.dumps(manifest))
    other = run([str(ROOT / "scripts" / "restore"), str(backup), "--yes"], portal_env)
    assert other.returncode == 1 and "holds a mysql database" in other.stderr


@pytest.mark.django_db(transaction=True)
def test_an_incomplete_backup_or_a_bad_destination_replaces_nothing(
    portal_env: dict[str, str], tmp_path: Path
) -> None:
    image = make_image("kept-through-bad-restores")
    made = run([str(ROOT / "scripts" / "backup"), str(tmp_path / "backups")], portal_env)
    assert made.returncode == 0, made.stderr
    backup = Path(made.stdout.strip().splitlines()[-1])
    database = next(backup.glob("database.*"))
    # Each bad backup: exit 1, a sentence naming what is wrong, the live database untouched.
    database.write_bytes(b"not a database at all")
    corrupt = run([str(ROOT / "scripts" / "restore"), str(backup), "--yes"], portal_env)
    assert (
        corrupt.returncode == 1 and "is not a" in corrupt.stderr and "nothing was replaced" in corrupt.stderr
    )
    database.unlink()
    missing = run([str(ROOT / "scripts" / "restore"), str(backup), "--yes"], portal_env)
    assert missing.returncode == 1 and f"missing {database.name}" in missing.stderr
    assert "Traceback" not in corrupt.stderr + missing.stderr
    assert Image.objects.filter(pk=image.pk).exists()
    # A destination that cannot be a folder: exit 1 and why, no traceback.
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    bad_dest = run([str(ROOT / "scripts" / "backup"), str(blocker / "backups")], portal_env)
    assert bad_dest.returncode == 1 and "error: Not a directory" in bad_dest.stderr
    assert "Traceback" not in bad_dest.stderr
