"""The erasure ledger's copy outside the database (settings.ERASURE_LEDGER_FILE).

Every image erasure is appended here before the image is deleted, one JSON line (`at`,
`request_id`, `image_id`, `image_sha256`, `source`) written with O_APPEND and fsynced, so that it
outlives a restore of the database from backup (rights.upkeep.replay reads it back). A line means
"approved for erasure": an erasure that died before its deletion is replayed too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.utils import timezone


class LedgerCopyMissing(FileNotFoundError):
    """No ledger copy where settings say: erasures since the backup cannot be replayed from it."""


def ledger_copy_append(*, request_id: int, image_id: int, image_sha256: str, source: str) -> None:
    """Append one erasure to the copy and fsync it, before the image is deleted. Raises on failure:
    an erasure must not go ahead without its copy (it is retried, then held for staff)."""
    path = Path(settings.ERASURE_LEDGER_FILE)
    line = json.dumps(
        {
            "at": timezone.now().isoformat(),
            "request_id": request_id,
            "image_id": image_id,
            "image_sha256": image_sha256,
            "source": source,
        },
        sort_keys=True,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, (line + "\n").encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@dataclass
class LedgerCopyReading:
    lines: int = 0
    bad_lines: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class LedgerCopyEntry:
    image_sha256: str
    request_id: int | None
    at: datetime | None


def _when(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def ledger_copy_entries(*, path: Path, reading: LedgerCopyReading) -> Iterator[LedgerCopyEntry]:
    """Each line of the copy, in order; a line that is not a ledger entry is counted as bad."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            reading.lines += 1
            try:
                entry = json.loads(line)
                sha, request_id = entry["image_sha256"], entry.get("request_id")
            except (ValueError, KeyError, TypeError, AttributeError):
                reading.bad_lines.append(number)
                continue
            if not (isinstance(sha, str) and len(sha) == 64):
                reading.bad_lines.append(number)
                continue
            yield LedgerCopyEntry(
                image_sha256=sha,
                request_id=request_id if isinstance(request_id, int) else None,
                at=_when(entry.get("at")),
            )
