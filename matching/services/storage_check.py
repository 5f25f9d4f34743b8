"""Collection files that no Image row names: copies of someone's photo left behind by a crash.

Ingestion writes an image's file, then commits its row (``ingestion._image_store``); a process
killed in between leaves the file with no row, so no erasure can ever find it. This sweep removes
such files. Only the collection folder is walked: selfies and answer archives belong to rights,
which purges them on its own terms.

An ingestion in flight has a file and no row yet, for a moment: a file is only a candidate once its
mtime is older than ``older_than``. Ingestion always writes a fresh file (a new inode through
``os.replace``, even for bytes already held), so an old file can only gain a row after a fresh one
replaced it. To never delete such a fresh file, a candidate is first renamed aside (atomic) and the
file actually moved is checked again: if it is fresh, or a row now names the path, it goes back
(content-addressed names: whatever is at that path has the same bytes, so putting it back is
harmless), otherwise it is deleted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.core.files.storage import default_storage

from matching.models import Image

logger = logging.getLogger(__name__)

COLLECTION_FOLDER = "collection"
DEFAULT_OLDER_THAN = timedelta(hours=1)
_CHUNK = 500  # names looked up per query: bounded memory, whatever the size of the collection
_ASIDE_SUFFIX = ".orphan-sweep"


@dataclass(frozen=True)
class OrphanSweepResult:
    checked: int  # regular files looked at under the collection folder
    deleted: int  # of them, files no Image row named, older than the limit, now gone


def _collection_root() -> Path:
    try:
        return Path(default_storage.path(COLLECTION_FOLDER))
    except NotImplementedError as exc:  # a remote storage has no local folder to walk
        raise RuntimeError(
            "collection_orphans_delete needs a filesystem storage (default_storage has no local path)"
        ) from exc


def _files(root: Path) -> Iterator[tuple[Path, list[Path]]]:
    # One folder at a time (the collection is spread over 256 sha256-prefix folders); symlinks are
    # neither followed nor deleted: ingestion never makes one, so one is not ours to judge.
    for folder, _dirs, names in os.walk(root, followlinks=False):
        yield Path(folder), [Path(folder) / name for name in sorted(names)]


def _is_old_regular_file(path: Path, *, cutoff: float) -> bool | None:
    """None: not a regular file (or gone); else whether its mtime is before ``cutoff``."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return info.st_mtime < cutoff


def _delete_if_still_orphan(*, path: Path, name: str, cutoff: float) -> bool:
    aside = path.with_name(f".{path.name}.{secrets.token_hex(4)}{_ASIDE_SUFFIX}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False  # removed meanwhile (an erasure, another sweep)
    # What was moved is whatever sat at the path at the moment of the rename: judge that file.
    if _is_old_regular_file(aside, cutoff=cutoff) and not Image.objects.filter(file=name).exists():
        with contextlib.suppress(FileNotFoundError):
            aside.unlink()
        return True
    # Replaced by an ingestion just before the rename, or named by a row now: put it back. A newer
    # write at the path since has the same bytes (content-addressed), so replacing it changes nothing.
    try:
        os.replace(aside, path)
    except FileNotFoundError:
        logger.warning("collection orphans: a file set aside vanished before it was put back")
    return False


def collection_orphans_delete(*, older_than: timedelta = DEFAULT_OLDER_THAN) -> OrphanSweepResult:
    """Delete every collection file that no Image row names and whose mtime is older than ``older_than``.

    Safe to run twice or concurrently with ingestion, erasure and another sweep. Logs counts only.
    """
    if older_than < timedelta(0):
        raise ValueError("older_than must not be negative")
    root = _collection_root()
    cutoff = time.time() - older_than.total_seconds()
    checked = deleted = 0
    media_root = Path(default_storage.path(""))
    if not root.is_dir():
        logger.info("collection orphans: no collection folder, nothing checked")
        return OrphanSweepResult(checked=0, deleted=0)
    for _folder, paths in _files(root):
        candidates: dict[str, Path] = {}
        for path in paths:
            old = _is_old_regular_file(path, cutoff=cutoff)
            if old is None:
                continue
            checked += 1
            if old:
                candidates[path.relative_to(media_root).as_posix()] = path
        names = list(candidates)
        for start in range(0, len(names), _CHUNK):
            chunk = names[start : start + _CHUNK]
            named = set(Image.objects.filter(file__in=chunk).values_list("file", flat=True))
            for name in chunk:
                if name not in named and _delete_if_still_orphan(
                    path=candidates[name], name=name, cutoff=cutoff
                ):
                    deleted += 1
    logger.info("collection orphans: %s files checked, %s deleted", checked, deleted)
    return OrphanSweepResult(checked=checked, deleted=deleted)
