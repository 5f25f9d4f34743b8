"""manage.py ingest [PATH...] [--manifest CSV] [--json] [--workers N] [--celery [--queue Q]]

With a manifest and no PATH, the manifest's own files are ingested.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from matching.services.embedding import FaceModelUnavailable
from matching.services.ingestion import (
    ADDED,
    DUPLICATE,
    ERASED,
    REJECTED,
    SUPPRESSED,
    IngestOutcome,
    default_workers,
    files_collect,
    images_ingest,
    items_from_files,
    manifest_read,
)

CELERY_CHUNK = 32  # files per task: small enough to retry cheaply, large enough to batch index writes


class Command(BaseCommand):
    help = (
        "Add images (files, or folders searched recursively) to the collection. Re-ingesting the same "
        "file adds nothing. Manifest CSV columns: path,source_url,collected_at,platform,account "
        "(only path required; other columns are passed on, e.g. released_to)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "paths", nargs="*", metavar="PATH", help="files or folders (default: the manifest's files)"
        )
        parser.add_argument(
            "--manifest", help="CSV of metadata per file (paths relative to the CSV's folder)"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON summary")
        parser.add_argument(
            "--workers",
            type=int,
            default=0,
            help="processes analysing images in parallel (default: one per core for large folders)",
        )
        parser.add_argument(
            "--celery",
            action="store_true",
            help="enqueue the files in chunks for Celery workers (the paths must be readable by them)",
        )
        parser.add_argument(
            "--queue", default="", help="Celery queue for --celery (default: the default queue)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["paths"] and not options["manifest"]:
            raise CommandError("Name the images to add: one or more PATHs, or --manifest FILE.csv.")
        manifest = {}
        if options["manifest"]:
            try:
                manifest = manifest_read(path=options["manifest"])
            except (OSError, ValueError) as exc:
                raise CommandError(f"Cannot read the manifest: {exc}") from exc
        # A manifest names its files: on its own it is the list to ingest, in its order.
        files = files_collect(paths=options["paths"] or list(manifest))
        missing = [str(path) for path in files if not path.exists()]
        items = items_from_files(files=files, manifest=manifest)
        if options["celery"]:
            self._enqueue(items, options)
            return
        workers = options["workers"] or default_workers(files=len(items))
        bar = None
        if not options["json"] and self.stdout.isatty():
            from tqdm import tqdm

            bar = tqdm(total=len(items), unit="img", desc="ingest")

        def progress(outcome: IngestOutcome) -> None:
            if bar is not None:
                bar.update(1)

        try:
            outcomes = images_ingest(items=items, workers=workers, progress=progress)
        except FaceModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if bar is not None:
                bar.close()
        self._report(outcomes, options["json"], missing)

    def _enqueue(self, items: list, options: dict[str, Any]) -> None:
        from matching.tasks import ingest_files

        tasks = 0
        for start in range(0, len(items), CELERY_CHUNK):
            chunk = [
                {
                    "path": str(Path(item.path).resolve()),
                    "source_url": item.source_url,
                    "collected_at": item.collected_at.isoformat() if item.collected_at else "",
                    "platform": item.platform,
                    "account": item.account,
                    "extra": item.extra,
                }
                for item in items[start : start + CELERY_CHUNK]
            ]
            kwargs = {"queue": options["queue"]} if options["queue"] else {}
            ingest_files.apply_async(args=[chunk], **kwargs)
            tasks += 1
        if options["json"]:
            self.stdout.write(json.dumps({"enqueued": len(items), "tasks": tasks}))
        else:
            self.stdout.write(f"Enqueued {len(items)} files in {tasks} tasks for the Celery workers.")

    def _report(self, outcomes: list[IngestOutcome], as_json: bool, missing: list[str]) -> None:
        counts = Counter(outcome.status for outcome in outcomes)
        faces = sum(outcome.faces for outcome in outcomes)
        rejected = [o for o in outcomes if o.status == REJECTED]
        if as_json:
            summary = {
                "files": len(outcomes),
                "added": counts[ADDED],
                "duplicates": counts[DUPLICATE],
                "rejected": [{"path": o.name, "reason": o.reason, "message": o.message} for o in rejected],
                "suppressed": counts[SUPPRESSED],
                "erased": counts[ERASED],
                "faces": faces,
                "images": [
                    {
                        "path": o.name,
                        "status": o.status,
                        "image_id": o.image_id,
                        "faces": o.faces,
                        "message": o.message if o.status == ERASED else "",
                        "warnings": o.warnings,
                    }
                    for o in outcomes
                ],
                "warnings": sum(len(o.warnings) for o in outcomes),
            }
            self.stdout.write(json.dumps(summary))
            return
        for outcome in rejected:
            self.stdout.write(f"rejected {outcome.name}: {outcome.message}")
        for outcome in outcomes:
            if outcome.status == ERASED:
                self.stdout.write(f"not collected {outcome.name}: {outcome.message}")
        for outcome in outcomes:
            for warning in outcome.warnings:
                self.stderr.write(f"warning {outcome.name}: {warning}")
        self.stdout.write(
            f"{counts[ADDED]} added ({faces} faces), {counts[DUPLICATE]} duplicates, "
            f"{len(rejected)} rejected, "
            f"{counts[SUPPRESSED]} not collected (objection), {counts[ERASED]} not collected again (erased)."
        )
        if missing:
            self.stderr.write(f"{len(missing)} paths do not exist (listed above as rejected).")
