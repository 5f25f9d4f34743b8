"""Backup and restore of a portal: database, media, index, audit anchors and the ledger copy.

``scripts/backup DEST`` writes ``DEST/facerights-<UTC time>/`` (a ``.partial`` folder renamed
once complete), in the order that keeps the parts consistent with the database dump:
1. the audit anchors first: every anchor then names a row the dump holds;
2. the database, one consistent snapshot (pg_dump's transaction; SQLite's online backup API);
3. media, then the index (under the index's writer lock: no segment changes while copied). Files
   that changed after the dump are reconciled at restore: erased ones by the ledger replay,
   unknown ones by the orphan sweep, index entries by the index sync;
4. the erasure ledger's copy last, so that it covers at least every erasure in the dump.

``scripts/restore BACKUP --yes`` puts database, media and index back, keeps the live audit anchors
and ledger copy (they are newer: never overwritten by a backup's; a missing one is taken from the
backup, loudly), then runs ``manage.py erasures_replay``. Stop web, worker and beat first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


class BackupError(RuntimeError):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


def _database() -> dict[str, Any]:
    from django.conf import settings

    return settings.DATABASES["default"]


def _engine() -> str:
    engine = _database()["ENGINE"]
    if engine.endswith("sqlite3"):
        return "sqlite"
    if engine.endswith("postgresql"):
        return "postgresql"
    raise BackupError(f"no backup for the database engine {engine}")


def _pg_args_env() -> tuple[list[str], dict[str, str]]:
    db = _database()
    args = ["--dbname", db["NAME"]]
    for flag, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if db.get(key):
            args += [flag, str(db[key])]
    env = {**os.environ, **({"PGPASSWORD": db["PASSWORD"]} if db.get("PASSWORD") else {})}
    return args, env


def _pg_run(command: list[str]) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} not found: install the PostgreSQL client (postgresql-client)")
    args, env = _pg_args_env()
    result = subprocess.run([*command, *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{command[0]} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")


def _sqlite_copy(*, source: Path, target: Path) -> None:
    # The online backup API: a consistent copy while other processes keep writing.
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def _tree_copy(*, source: Path, target: Path) -> int:
    if not source.is_dir():
        target.mkdir(parents=True)
        return 0
    shutil.copytree(source, target, symlinks=True)
    return sum(1 for path in target.rglob("*") if path.is_file())


def _file_copy(*, source: Path, target: Path) -> bool:
    if not source.is_file():
        return False
    shutil.copy2(source, target)
    return True


def backup_create(*, dest: Path) -> Path:
    """A complete backup folder under ``dest``; nothing is left under the final name on failure."""
    from django.conf import settings

    from matching.services.index import index_folder
    from matching.services.index.store import writer_lock

    dest.mkdir(parents=True, exist_ok=True)
    name = f"facerights-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    partial = dest / f"{name}.partial"
    if partial.exists() or (dest / name).exists():
        raise BackupError(f"{dest / name} already exists: wait a second and run again")
    partial.mkdir()
    engine = _engine()
    anchors = _file_copy(source=Path(settings.AUDIT_ANCHOR_FILE), target=partial / "audit-anchors.log")
    if engine == "sqlite":
        _sqlite_copy(source=Path(_database()["NAME"]), target=partial / "database.sqlite3")
    else:
        _pg_run(["pg_dump", "--format=custom", "--no-owner", "--file", str(partial / "database.pgdump")])
    media_files = _tree_copy(source=Path(settings.MEDIA_ROOT), target=partial / "media")
    folder = index_folder()
    with writer_lock(folder):
        index_files = _tree_copy(source=folder, target=partial / "index")
    ledger = _file_copy(source=Path(settings.ERASURE_LEDGER_FILE), target=partial / "erasure-ledger.jsonl")
    manifest = {
        "created_at": datetime.now(UTC).isoformat(),
        "engine": engine,
        "media_files": media_files,
        "index_files": index_files,
        "audit_anchors": anchors,
        "erasure_ledger_copy": ledger,
    }
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    final = dest / name
    partial.rename(final)
    return final


def _tree_replace(*, source: Path, target: Path) -> None:
    """``target``'s content becomes ``source``'s: every file the backup lacks is deleted."""
    target.mkdir(parents=True, exist_ok=True)
    for child in target.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)


def _keep_live_copy(*, live: Path, backed_up: Path, what: str, log: list[str]) -> None:
    """The live file is newer than any backup's: kept. Only a missing one comes from the backup."""
    if live.is_file():
        log.append(f"{what}: the live file {live} is kept (newer than the backup's)")
        return
    if backed_up.is_file():
        live.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(backed_up, live)
        log.append(
            f"WARNING {what}: no live file at {live}; the backup's copy was put there. Entries written "
            "after the backup are missing from it: put the off-host copy back if you have it."
        )
    else:
        log.append(f"WARNING {what}: neither a live file at {live} nor one in the backup")


def _backup_check(*, source: Path, engine: str) -> None:
    """Every part there and the database readable, before anything is replaced."""
    database = source / ("database.sqlite3" if engine == "sqlite" else "database.pgdump")
    missing = [str(p.name) for p in (database, source / "media", source / "index") if not p.exists()]
    if missing:
        raise BackupError(f"{source} is incomplete (missing {', '.join(missing)}): nothing was replaced")
    head = database.read_bytes()[:16] if database.is_file() else b""
    expected = b"SQLite format 3\x00" if engine == "sqlite" else b"PGDMP"
    if not head.startswith(expected):
        raise BackupError(f"{database} is not a {engine} backup file: nothing was replaced")


def backup_restore(*, source: Path, replay: bool = True) -> list[str]:
    """Put a backup back; returns what was done, line by line. Raises BackupError before any change
    when ``source`` is not a complete backup of this kind of database."""
    from django.conf import settings
    from django.core.management import CommandError, call_command
    from django.db import connections

    from matching.services.index import index_cache_clear, index_folder
    from matching.services.index.store import writer_lock

    manifest_path = source / MANIFEST
    if not manifest_path.is_file():
        raise BackupError(f"{source} is not a complete facerights backup (no {MANIFEST})")
    manifest = json.loads(manifest_path.read_text())
    engine = _engine()
    if manifest.get("engine") != engine:
        raise BackupError(f"the backup holds a {manifest.get('engine')} database, this portal uses {engine}")
    _backup_check(source=source, engine=engine)
    log: list[str] = []
    connections.close_all()
    if engine == "sqlite":
        _sqlite_copy(source=source / "database.sqlite3", target=Path(_database()["NAME"]))
    else:
        dump = str(source / "database.pgdump")
        _pg_run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", dump])
    log.append(f"database: restored from {source.name} ({manifest['created_at']})")
    _tree_replace(source=source / "media", target=Path(settings.MEDIA_ROOT))
    log.append(f"media: {manifest['media_files']} files restored")
    folder = index_folder()
    with writer_lock(folder):
        _tree_replace(source=source / "index", target=folder)
    index_cache_clear()
    log.append(f"index: {manifest['index_files']} files restored")
    _keep_live_copy(
        live=Path(settings.AUDIT_ANCHOR_FILE),
        backed_up=source / "audit-anchors.log",
        what="audit anchors",
        log=log,
    )
    _keep_live_copy(
        live=Path(settings.ERASURE_LEDGER_FILE),
        backed_up=source / "erasure-ledger.jsonl",
        what="erasure ledger copy",
        log=log,
    )
    if replay:
        try:
            call_command("erasures_replay")
        except CommandError as exc:
            raise BackupError(
                f"restored, but the erasure replay failed: {exc} The portal must not take requests "
                "until `manage.py erasures_replay` succeeds."
            ) from exc
        log.append("erasures_replay: done (see its audit row)")
    else:
        log.append("NOT replayed: run `manage.py erasures_replay` before the portal takes requests again")
    return log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/backup | scripts/restore")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="write a backup folder under DEST")
    create.add_argument("dest", type=Path)
    restore = commands.add_parser("restore", help="put a backup folder back, then replay erasures")
    restore.add_argument("backup", type=Path)
    restore.add_argument("--yes", action="store_true", help="really replace database, media and index")
    restore.add_argument("--no-replay", action="store_true", help="do not run erasures_replay afterwards")
    options = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    try:
        if options.command == "create":
            print(backup_create(dest=options.dest))
            return 0
        if not options.yes:
            print(
                f"This replaces the database, media and index with {options.backup}. Stop web, worker "
                "and beat first, then run again with --yes.",
                file=sys.stderr,
            )
            return 2
        for line in backup_restore(source=options.backup, replay=not options.no_replay):
            print(line)
        return 0
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # an unwritable or full destination, a folder that is a file
        print(f"error: {exc.strerror or exc} ({exc.filename or ''})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
