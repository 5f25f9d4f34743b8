"""Adding images to the collection: decode safely, find faces, respect objections, store, index.

The slow part (decoding and the face models) needs no database, so a batch is analysed in a
pool of processes while this process does the database and index writes, one index write per
batch. Each image is stored in its own transaction: one bad file never undoes the others.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from matching.models import ErasedImage, Face, Image, IngestionSkip
from matching.services.analysis import (
    SETTINGS_FOR_WORKERS,
    ImageAnalysis,
    analysis_job,
    analysis_memo_has,
    analysis_memo_remember,
    analysis_worker_init,
)
from matching.services.embedding import default_threads_for, embedding_to_bytes
from matching.services.erased import erased_image_refuse, erased_images_find
from matching.services.index import index_add_owed, index_sync_if_changed, pending_record
from matching.services.search import account_normalise, platform_normalise, source_url_normalise
from matching.services.suppression import suppression_match, suppression_templates
from matching.signals import image_ingested

logger = logging.getLogger(__name__)

ADDED = "added"
DUPLICATE = "duplicate"
REJECTED = "rejected"
SUPPRESSED = "suppressed"
ERASED = "erased"  # these bytes were erased at someone's request: never collected again

BATCH_SIZE = 64  # images per index write
MANIFEST_COLUMNS = ("path", "source_url", "collected_at", "platform", "account")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".png", ".webp"}


@dataclass(frozen=True)
class IngestOutcome:
    name: str
    status: str  # added / duplicate / rejected / suppressed / erased
    image_id: int | None = None
    faces: int = 0
    reason: str = ""  # ImageRejected.reason, "unreadable", "suppressed" or "erased"
    message: str = ""
    sha256: str = ""
    # Failures of the image_ingested receivers (e.g. the releases named in the manifest could not be
    # recorded): the image is stored, but what the receiver should have recorded is not.
    warnings: list[str] = field(default_factory=list)


@dataclass
class IngestItem:
    """One file to ingest: its bytes (``data``) or a ``path`` read when its turn comes."""

    name: str
    data: bytes | None = None
    path: str | None = None
    source_url: str = ""
    collected_at: datetime | None = None
    platform: str = ""
    account: str = ""
    extra: dict[str, str] = field(default_factory=dict)


# --- Metadata -----------------------------------------------------------------------------------


def collected_at_parse(*, value: str | datetime | None) -> datetime | None:
    """An ISO date or datetime (naive datetimes are in TIME_ZONE; a date alone is midnight UTC, so it
    stays the same day whatever the server's time zone); None or "" means "now" at ingestion."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed: datetime | None = value
    else:
        # A date alone first: parse_datetime would read "2021-03-04" as local midnight.
        try:
            day = parse_date(value.strip())
        except ValueError:
            day = None
        if day is not None:
            parsed = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            parsed = parse_datetime(value.strip())
            if parsed is None:
                raise ValueError(f"collected_at {value!r} is not an ISO date or datetime")
    assert parsed is not None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def manifest_read(*, path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Manifest rows by resolved file path. Relative paths are relative to the manifest's folder.

    Columns path,source_url,collected_at,platform,account (only path required); any other column
    is kept in ``extra`` for other apps (e.g. released_to: who a copy was given to).
    """
    manifest = Path(path)
    rows: dict[str, dict[str, Any]] = {}
    with open(manifest, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "path" not in reader.fieldnames:
            raise ValueError(
                f"{manifest} has no 'path' column (columns: path,{','.join(MANIFEST_COLUMNS[1:])})"
            )
        for line, row in enumerate(reader, start=2):
            raw_path = (row.get("path") or "").strip()
            if not raw_path:
                continue
            file_path = Path(raw_path)
            if not file_path.is_absolute():
                file_path = manifest.parent / file_path
            try:
                collected_at = collected_at_parse(value=row.get("collected_at") or "")
            except ValueError as exc:
                raise ValueError(f"{manifest}, line {line}: {exc}") from exc
            rows[str(file_path.resolve())] = {
                "source_url": (row.get("source_url") or "").strip(),
                "collected_at": collected_at,
                "platform": (row.get("platform") or "").strip(),
                "account": (row.get("account") or "").strip(),
                "extra": {
                    k: (v or "").strip()
                    for k, v in row.items()
                    if k and k not in MANIFEST_COLUMNS and v is not None
                },
            }
    return rows


def files_collect(*, paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files named, and image files (by suffix, only to skip obvious non-images) under folders named.

    A file named explicitly is always tried: its content decides, not its name.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                found.extend(
                    Path(root) / name
                    for name in sorted(files)
                    if Path(name).suffix.lower() in IMAGE_SUFFIXES and not name.startswith(".")
                )
        else:
            found.append(path)
    return found


def items_from_files(
    *, files: list[Path], manifest: dict[str, dict[str, Any]] | None = None
) -> list[IngestItem]:
    manifest = manifest or {}
    items = []
    for path in files:
        meta = manifest.get(str(path.resolve()), {})
        items.append(
            IngestItem(
                name=str(path),
                path=str(path),
                source_url=meta.get("source_url", ""),
                collected_at=meta.get("collected_at"),
                platform=meta.get("platform", ""),
                account=meta.get("account", ""),
                extra=dict(meta.get("extra", {})),
            )
        )
    return items


# --- Storing ----------------------------------------------------------------------------------


class _ErasedMeanwhile(Exception):
    """The bytes being stored were recorded as erased by a deletion that committed meanwhile."""


def _erased_refusal(*, item: IngestItem, record: ErasedImage) -> IngestOutcome:
    logger.info("ingest: file not collected, erased earlier (record %s)", record.pk)
    message = erased_image_refuse(record=record)
    return IngestOutcome(
        name=item.name, status=ERASED, reason="erased", message=message, sha256=record.sha256
    )


def _file_name(sha256: str, extension: str) -> str:
    # Named by content: a retry after a crash overwrites the same file instead of leaving a twin.
    return f"collection/{sha256[:2]}/{sha256}.{extension}"


def _file_write(name: str, data: bytes) -> Path:
    from django.core.files.storage import default_storage

    target = Path(default_storage.path(name))
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)
    return target


def _image_store(
    *, item: IngestItem, analysis: ImageAnalysis, templates: tuple[list[int], np.ndarray]
) -> tuple[IngestOutcome, list[int], list[np.ndarray]]:
    vectors = [face.embedding for face in analysis.faces]
    if vectors:
        suppressed = suppression_match(vectors=np.stack(vectors), templates=templates)
        if suppressed is not None:
            template, score = suppressed
            # Counted once per file: re-ingesting the same file again and again is one skip.
            if not IngestionSkip.objects.filter(sha256=analysis.sha256).exists():
                IngestionSkip.objects.create(sha256=analysis.sha256, suppression=template, score=score)
            logger.info(
                "ingest: image not collected, face on the suppression list (template %s)", template.pk
            )
            outcome = IngestOutcome(
                name=item.name,
                status=SUPPRESSED,
                reason="suppressed",
                message="A face in this image belongs to a person who objected to collection.",
                sha256=analysis.sha256,
            )
            return outcome, [], []

    name = _file_name(analysis.sha256, analysis.clean_extension)
    path = _file_write(name, analysis.clean_bytes)
    extra = dict(item.extra)
    warnings: list[str] = []
    try:
        with transaction.atomic():
            image = Image(
                sha256=analysis.sha256,
                source_url=source_url_normalise(url=item.source_url),
                platform=platform_normalise(platform=item.platform),
                account=account_normalise(account=item.account),
                collected_at=item.collected_at or timezone.now(),
                width=analysis.width,
                height=analysis.height,
            )
            image.file.name = name
            image.save()
            # After the insert: a deletion that recorded these bytes as erased and committed before
            # this point is seen here (it records before it removes anything).
            if ErasedImage.objects.filter(sha256=analysis.sha256).exists():
                raise _ErasedMeanwhile()
            faces = Face.objects.bulk_create(
                [
                    Face(
                        image=image,
                        x1=f.bbox[0],
                        y1=f.bbox[1],
                        x2=f.bbox[2],
                        y2=f.bbox[3],
                        det_score=f.det_score,
                        embedding=embedding_to_bytes(vector=f.embedding),
                    )
                    for f in analysis.faces
                ]
            )
            pending_record(face_ids=[face.pk for face in faces], removal=False)
            image_id = image.pk
            transaction.on_commit(
                lambda: _ingested_announce(image_id=image_id, extra=extra, warnings=warnings)
            )
    except IntegrityError:
        # Another process stored the same bytes first: its row names this very file (same content,
        # same name), so the file stays. Unless no row names it (that row was erased meanwhile):
        # then the file we wrote is removed, never left behind.
        winner = Image.objects.filter(sha256=analysis.sha256).values_list("pk", flat=True).first()
        if not Image.objects.filter(file=name).exists():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if winner is None:
            raise
        outcome = IngestOutcome(name=item.name, status=DUPLICATE, image_id=winner, sha256=analysis.sha256)
        return outcome, [], []
    except _ErasedMeanwhile:
        if not Image.objects.filter(sha256=analysis.sha256).exists():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        record = ErasedImage.objects.get(sha256=analysis.sha256)
        return _erased_refusal(item=item, record=record), [], []
    except BaseException:
        # Nothing half-written: no row committed, so no file either (unless a row names it).
        if not Image.objects.filter(sha256=analysis.sha256).exists():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        raise
    face_ids = [face.pk for face in faces]
    if any(pk is None for pk in face_ids):  # backends without RETURNING on bulk insert
        face_ids = list(Face.objects.filter(image_id=image_id).order_by("pk").values_list("pk", flat=True))
    logger.info("ingest: image %s added with %s faces", image_id, len(face_ids))
    outcome = IngestOutcome(
        name=item.name,
        status=ADDED,
        image_id=image_id,
        faces=len(face_ids),
        sha256=analysis.sha256,
        warnings=warnings,
    )
    return outcome, face_ids, vectors


def _ingested_announce(*, image_id: int, extra: dict[str, str], warnings: list[str]) -> None:
    """Send image_ingested to every receiver; a receiver's failure becomes a warning of the outcome.

    send_robust: one failing receiver neither stops the others nor undoes the committed image, and
    its error is reported (``ingest --json``) instead of lost.
    """
    for receiver, response in image_ingested.send_robust(sender=Image, image_id=image_id, extra=extra):
        if isinstance(response, Exception):
            logger.error(
                "ingest: image %s: receiver %s failed (%s)",
                image_id,
                getattr(receiver, "__qualname__", repr(receiver)),
                response.__class__.__name__,
            )
            warnings.append(str(response))


def _bytes_read(item: IngestItem) -> bytes:
    if item.data is not None:
        return item.data
    assert item.path is not None
    with open(item.path, "rb") as handle:
        # Read one byte past the limit, never a whole huge file: image_decode then says "too large".
        return handle.read(settings.IMAGE_MAX_BYTES + 1)


def default_workers(*, files: int) -> int:
    """Processes worth starting for a number of files: loading the models costs about a second."""
    return 1 if files < 48 else max(1, min(os.cpu_count() or 1, 8))


def images_ingest(
    *,
    items: list[IngestItem],
    workers: int = 1,
    progress: Callable[[IngestOutcome], None] | None = None,
    sync: bool = True,
) -> list[IngestOutcome]:
    """Ingest many images: outcomes in the order given, one index write per batch, then a sync.

    ``workers`` > 1 analyses in that many processes (each with cores // workers model threads).
    """
    outcomes: list[IngestOutcome] = []
    pool: ProcessPoolExecutor | None = None
    if workers > 1 and len(items) > 1:
        overrides = {key: getattr(settings, key) for key in SETTINGS_FOR_WORKERS}
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=analysis_worker_init,
            initargs=(overrides, default_threads_for(processes=workers)),
        )
    try:
        for batch in _batches_analysed(items, pool):
            outcomes.extend(_batch_store(batch, progress))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if sync and any(o.status == ADDED for o in outcomes):
        index_sync_if_changed()  # any index write still owed after a crash, ours or an earlier run's
    return outcomes


_Pending = list[tuple[IngestItem, str, "Future[Any] | ImageAnalysis | tuple[str, str] | IngestOutcome"]]


def _batches_analysed(items: list[IngestItem], pool: ProcessPoolExecutor | None) -> Iterator[_Pending]:
    """Batches whose analyses are under way in the pool while the previous batch is being stored."""
    previous: _Pending | None = None
    seen: set[str] = set()
    for start in range(0, len(items), BATCH_SIZE):
        batch: _Pending = []
        chunk = items[start : start + BATCH_SIZE]
        datas: list[bytes | None] = []
        for item in chunk:
            try:
                datas.append(_bytes_read(item))
            except OSError as exc:
                datas.append(None)
                logger.warning("ingest: cannot read a file (%s)", type(exc).__name__)
        digests = [hashlib.sha256(d).hexdigest() if d is not None else "" for d in datas]
        known = dict(Image.objects.filter(sha256__in=[d for d in digests if d]).values_list("sha256", "pk"))
        erased = erased_images_find(hashes=[d for d in digests if d])
        for item, data, digest in zip(chunk, datas, digests, strict=True):
            if data is None:
                outcome = IngestOutcome(
                    name=item.name,
                    status=REJECTED,
                    reason="unreadable",
                    message="This file could not be read (missing, or no permission).",
                )
                batch.append((item, "", outcome))
            elif digest in erased and digest not in known:
                # Checked from the hash alone, before any decoding: erased bytes cost nothing.
                batch.append((item, digest, _erased_refusal(item=item, record=erased[digest])))
            elif digest in known or digest in seen:
                # The id of a file seen earlier in this run is known once that one is stored.
                duplicate = IngestOutcome(
                    name=item.name, status=DUPLICATE, image_id=known.get(digest), sha256=digest
                )
                batch.append((item, digest, duplicate))
            else:
                seen.add(digest)
                # Analysed here when there is no pool, or when this process remembers the result.
                in_process = pool is None or analysis_memo_has(sha256=digest)
                job: Any = analysis_job(data) if in_process else pool.submit(analysis_job, data)
                batch.append((item, digest, job))
        if previous is not None:
            yield previous
        previous = batch
    if previous is not None:
        yield previous


def _batch_store(batch: _Pending, progress: Callable[[IngestOutcome], None] | None) -> list[IngestOutcome]:
    templates = suppression_templates()
    outcomes: list[IngestOutcome] = []
    new_ids: list[int] = []
    new_vectors: list[np.ndarray] = []
    for item, digest, state in batch:
        result = state.result() if isinstance(state, Future) else state
        if isinstance(result, IngestOutcome):
            outcome = result
            if outcome.status == DUPLICATE and outcome.image_id is None:
                existing = Image.objects.filter(sha256=outcome.sha256).values_list("pk", flat=True).first()
                outcome = dataclasses.replace(outcome, image_id=existing)
        elif isinstance(result, tuple):
            reason, message = result
            outcome = IngestOutcome(
                name=item.name, status=REJECTED, reason=reason, message=message, sha256=digest
            )
            logger.info("ingest: file rejected (%s)", reason)
        else:
            if isinstance(state, Future):
                analysis_memo_remember(analysis=result)  # analysed in another process: remember here
            outcome, ids, vectors = _image_store(item=item, analysis=result, templates=templates)
            new_ids.extend(ids)
            new_vectors.extend(vectors)
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
    if new_ids:
        index_add_owed(ids=new_ids, vectors=np.stack(new_vectors))
    return outcomes


def image_ingest(
    *,
    data: bytes,
    name: str,
    source_url: str = "",
    collected_at: datetime | None = None,
    platform: str = "",
    account: str = "",
    extra: dict[str, str] | None = None,
) -> IngestOutcome:
    """Ingest one image given as bytes (same rules as images_ingest)."""
    item = IngestItem(
        name=name,
        data=data,
        source_url=source_url,
        collected_at=collected_at,
        platform=platform,
        account=account,
        extra=dict(extra or {}),
    )
    # No full reconcile for one image: searches reconcile before they run (faces_search(sync=True)).
    return images_ingest(items=[item], sync=False)[0]
