"""A demonstration collection: lfw-dev with made-up but plausible metadata, deterministic from a seed."""

from __future__ import annotations

import csv
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from matching.models import Image
from matching.services.ingestion import ADDED, IngestItem, IngestOutcome, default_workers, images_ingest

SIX_YEARS = timedelta(days=6 * 365)
_NEWS_SITES = ["news.example.com", "dailyphoto.example.org", "wire.example.net", "pressimages.example.com"]
_PLATFORMS = ["instagram", "twitter", "flickr", "facebook"]
_PROFILE_HOSTS = {
    "instagram": "instagram.com",
    "twitter": "twitter.com",
    "flickr": "flickr.com",
    "facebook": "facebook.com",
}


@dataclass(frozen=True)
class DemoSeedResult:
    status: str  # "ingested", "not_empty" (nothing done), "missing" (no folder)
    folder: Path
    added: int = 0
    faces: int = 0
    outcomes: tuple[IngestOutcome, ...] = ()


def _account_for(identity: str) -> str:
    return re.sub(r"[^a-z0-9]+", ".", identity.lower()).strip(".")[:30]


def demo_items_build(*, folder: Path, seed: int, limit: int | None = None) -> list[IngestItem]:
    """One item per manifest row: about half from the person's own (made-up) account, half from news sites."""
    with open(folder / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if limit is not None:
        rows = rows[:limit]
    rng = random.Random(seed)
    now = timezone.now()
    items = []
    for row in rows:
        identity = row.get("identity", "") or Path(row["path"]).parent.name
        path = folder / row["path"]
        collected_at = now - timedelta(seconds=rng.randrange(int(SIX_YEARS.total_seconds())))
        photo_id = rng.randrange(10**9, 10**10)
        if rng.random() < 0.5:
            platform = rng.choice(_PLATFORMS)
            account = _account_for(identity)
            host = _PROFILE_HOSTS[platform]
            source_url = f"https://{host}/{account}/photo/{photo_id}"
        else:
            platform = "web"
            account = ""
            site = rng.choice(_NEWS_SITES)
            source_url = f"https://{site}/{collected_at:%Y/%m}/{photo_id}.jpg"
        items.append(
            IngestItem(
                name=str(path),
                path=str(path),
                source_url=source_url,
                collected_at=collected_at,
                platform=platform,
                account=account,
            )
        )
    return items


def demo_collection_seed(
    *,
    folder: Path,
    seed: int = 2024,
    limit: int | None = None,
    workers: int = 0,
    progress: Callable[[IngestOutcome], None] | None = None,
) -> DemoSeedResult:
    """Ingest the demo collection, unless the collection already holds images (then do nothing)."""
    if Image.objects.exists():
        return DemoSeedResult(status="not_empty", folder=folder)
    if not (folder / "manifest.csv").is_file():
        return DemoSeedResult(status="missing", folder=folder)
    items = demo_items_build(folder=folder, seed=seed, limit=limit)
    outcomes = images_ingest(
        items=items, workers=workers or default_workers(files=len(items)), progress=progress
    )
    added = [o for o in outcomes if o.status == ADDED]
    return DemoSeedResult(
        status="ingested",
        folder=folder,
        added=len(added),
        faces=sum(o.faces for o in added),
        outcomes=tuple(outcomes),
    )
