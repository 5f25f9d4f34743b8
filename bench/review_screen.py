"""What a request's page costs with many candidates: the review screen shows one page of 20 rows
whatever their number, so its render time and query count should not grow with the candidates.

    .venv/bin/python bench/review_screen.py [--candidates 20 200 2000] [--var-dir DIR]

Builds a fresh portal under a VAR_DIR (SQLite unless DATABASE_URL is set): for each size, one
request under review with that many candidates (images without files: no thumbnail is fetched),
then renders its page as a signed-in reviewer through Django's test client (median of 7 after one
warm-up) and counts the queries. Prints one JSON object and writes bench/results/review_screen.json.
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
    parser.add_argument("--candidates", type=int, nargs="+", default=[20, 200, 2000])
    parser.add_argument("--var-dir", default="")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "review_screen.json"))
    args = parser.parse_args()
    os.environ["VAR_DIR"] = args.var_dir or tempfile.mkdtemp(prefix="fr-review-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse
    from django.utils import timezone

    from matching.models import Image
    from rights.models import DataRequest, Match, RequestStatus
    from tests.rights.staff_helpers import REVIEWER, staff_login, staff_user

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]
    call_command("migrate", verbosity=0)
    client = Client()
    staff_login(client, staff_user(REVIEWER, username="bench-reviewer"))
    now = timezone.now()
    figures = []
    offset = 0
    for size in args.candidates:
        request = DataRequest.objects.create(
            kind="access",
            status=RequestStatus.REVIEW,
            email="bench@example.org",
            received_at=now,
            due_at=now,
            email_verified_at=now,
        )
        images = Image.objects.bulk_create(
            Image(
                sha256=f"{offset + n:064x}",
                collected_at=now,
                width=1,
                height=1,
                file="",
                source_url=f"https://photos.example.net/{offset + n}",
                platform="bench",
                account=f"a{n}",
            )
            for n in range(size)
        )
        offset += size
        Match.objects.bulk_create(
            Match(
                request=request,
                image=image,
                image_sha256=image.sha256,
                score=0.9 - n / (10 * size),
                band="review" if n % 2 else "match",
            )
            for n, image in enumerate(images)
        )
        url = reverse("admin:rights_datarequest_change", args=[request.id])
        assert client.get(url).status_code == 200
        queries = []
        with connection.execute_wrapper(
            lambda execute, sql, *rest, queries=queries: queries.append(sql) or execute(sql, *rest)
        ):
            html = client.get(url).content.decode()
        figures.append(
            {
                "candidates": size,
                "render_ms": timed(lambda url=url: client.get(url)),
                "queries": len(queries),
                "rows_shown": html.count('class="review-row'),
                "html_kb": round(len(html) / 1024, 1),
            }
        )
    result = {"database": connection.vendor, "page_size": 20, "sizes": figures}
    print(json.dumps(result))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
