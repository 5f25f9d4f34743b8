"""manage.py seed_demo: a demonstration collection from ../shared/faces/lfw-dev (no-op if not empty)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from matching.services.demo import demo_collection_seed
from matching.services.embedding import FaceModelUnavailable

DEFAULT_FOLDER = Path(settings.BASE_DIR).parent / "shared" / "faces" / "lfw-dev"


class Command(BaseCommand):
    help = (
        "Ingest the LFW development faces with made-up metadata (source URLs, platforms, accounts, "
        "collection dates over the last six years), deterministic from --seed. Does nothing when the "
        "collection already holds images."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--folder", default=str(DEFAULT_FOLDER), help="folder with manifest.csv (path,identity)"
        )
        parser.add_argument("--seed", type=int, default=2024)
        parser.add_argument("--limit", type=int, default=None, help="only the first N manifest rows")
        parser.add_argument("--workers", type=int, default=0)

    def handle(self, *args: Any, **options: Any) -> None:
        folder = Path(options["folder"])
        bar = None
        if self.stdout.isatty():
            from tqdm import tqdm

            bar = tqdm(unit="img", desc="seed_demo")
        try:
            result = demo_collection_seed(
                folder=folder,
                seed=options["seed"],
                limit=options["limit"],
                workers=options["workers"],
                progress=(lambda _: bar.update(1)) if bar else None,
            )
        except FaceModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if bar is not None:
                bar.close()
        if result.status == "not_empty":
            self.stdout.write("The collection already holds images: nothing to do.")
        elif result.status == "missing":
            self.stdout.write(
                f"No demo faces at {folder} (expected manifest.csv there). Ingest your own images instead:\n"
                "  python manage.py ingest PATH... [--manifest CSV]\n"
                "where the CSV has columns path,source_url,collected_at,platform,account."
            )
        else:
            self.stdout.write(
                f"Demo collection: {result.added} images with {result.faces} faces ingested from {folder}."
            )
