"""How long the queue's partial search takes with many requests (a substring anywhere in an email,
an identifier, or a candidate image's URL or account: no index can serve a leading wildcard).

    .venv/bin/python bench/queue_search.py [--requests 100000] [--var-dir DIR]

Builds a fresh portal under a VAR_DIR (SQLite unless DATABASE_URL is set) with REQUESTS requests,
each with an identifier, one in ten with a candidate image; then times ``requests_search`` for a
term found once and one found nowhere (the first page of results, as the queue shows it, median of
7 after one warm-up). Prints one JSON object and writes bench/results/queue_search[_<db>].json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout, for portal

from bench.timing import timed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--var-dir", default="")
    args = parser.parse_args()
    os.environ["VAR_DIR"] = args.var_dir or tempfile.mkdtemp(prefix="fr-queue-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from matching.models import Image
    from rights.models import DataRequest, Match
    from rights.staff.queue import requests_search

    call_command("migrate", verbosity=0)
    now = timezone.now()
    batch = 5_000
    for start in range(0, args.requests, batch):
        created = DataRequest.objects.bulk_create(
            DataRequest(
                kind="access",
                status="review",
                email=f"person{n}@example.org",
                identifiers=f"https://social.example/@user{n}",
                received_at=now,
                due_at=now,
                email_verified_at=now,
            )
            for n in range(start, min(start + batch, args.requests))
        )
        tenth = created[::10]
        images = Image.objects.bulk_create(
            Image(
                sha256=f"{r.id:064x}",
                collected_at=now,
                width=1,
                height=1,
                file="",
                source_url=f"https://photos.example.net/album/{r.id}.jpg",
                account=f"acct{r.id}",
            )
            for r in tenth
        )
        Match.objects.bulk_create(
            Match(request=r, image=i, image_sha256=i.sha256, score=0.5, band="review")
            for r, i in zip(tenth, images, strict=True)
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    queryset = DataRequest.objects.order_by("id")
    wanted = args.requests // 2

    def first_page(term: str) -> int:
        return len(list(requests_search(queryset=queryset, term=term)[:100]))

    result = {
        "database": connection.vendor,
        "requests": args.requests,
        "found_once_ms": timed(lambda: first_page(f"person{wanted}@")),
        "found_nowhere_ms": timed(lambda: first_page("nobody-matches-this")),
        "by_number_ms": timed(lambda: first_page(f"#{wanted}")),
    }
    print(json.dumps(result))
    suffix = "" if connection.vendor == "sqlite" else f"_{connection.vendor}"
    out = Path(__file__).parent / "results" / f"queue_search{suffix}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
