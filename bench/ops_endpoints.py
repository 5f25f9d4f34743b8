"""How long a /metrics scrape and a /health/ check take with many requests, notices and audit rows.

    .venv/bin/python bench/ops_endpoints.py [--requests 100000] [--audit 1000000] [--var-dir DIR]

Builds a fresh portal under a VAR_DIR (SQLite unless DATABASE_URL is set): REQUESTS requests
spread over every kind and status, one notice per 20 requests (half unacknowledged), AUDIT audit
rows (searches and erasures among them), then times ``metrics_render`` and ``health_report``
(median of 7, after one warm-up, the planner's statistics fresh). Prints one JSON object and
writes bench/results/ops_endpoints.json. The audit rows are bulk-inserted with placeholder hashes:
the bench times reads, not the chain.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout, for portal

from bench.timing import timed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--audit", type=int, default=1_000_000)
    parser.add_argument("--var-dir", default="")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "ops_endpoints.json"))
    args = parser.parse_args()
    os.environ["VAR_DIR"] = args.var_dir or tempfile.mkdtemp(prefix="fr-ops-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from portal.health import health_report
    from portal.metrics import metrics_render
    from rights.models import AuditEvent, DataRequest, Recipient, RecipientNotice, RequestKind, RequestStatus

    call_command("migrate", verbosity=0)
    now = timezone.now()
    kinds, statuses = RequestKind.values, RequestStatus.values
    batch = 5_000
    for start in range(0, args.requests, batch):
        DataRequest.objects.bulk_create(
            DataRequest(
                kind=kinds[i % len(kinds)],
                status=statuses[i % len(statuses)],
                email=f"p{i}@example.org",
                received_at=now - timedelta(days=i % 90),
                due_at=now + timedelta(days=30 - i % 90),
            )
            for i in range(start, min(args.requests, start + batch))
        )
    first_id = DataRequest.objects.order_by("id").values_list("id", flat=True).first()
    recipient = Recipient.objects.create(name="Bench", contact_email="bench@example.org")
    RecipientNotice.objects.bulk_create(
        RecipientNotice(
            request_id=first_id + i,
            recipient=recipient,
            sent_at=now - timedelta(days=i % 30),
            acknowledged_at=now if i % 2 else None,
        )
        for i in range(0, args.requests, 20)
    )
    moves = [
        ("queued", "searching"),
        ("searching", "review"),
        ("approved", "fulfilling"),
        ("fulfilling", "answered"),
    ]
    for start in range(0, args.audit, batch):
        AuditEvent.objects.bulk_create(
            AuditEvent(
                request_id=first_id + (i // 4) % args.requests,
                actor="system",
                action="bench",
                from_status=moves[i % 4][0],
                to_status=moves[i % 4][1],
                created_at=now - timedelta(seconds=args.audit - i),
                prev_hash="0" * 64,
                hash=f"{i:064x}",
            )
            for i in range(start, min(args.audit, start + batch))
        )
    # Fresh planner statistics, as autovacuum keeps them on a live database.
    with django.db.connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    report = health_report()
    result = {
        "database": django.db.connection.vendor,
        "requests": args.requests,
        "notices": RecipientNotice.objects.count(),
        "audit_rows": args.audit,
        "metrics_recent_events": django.conf.settings.METRICS_RECENT_EVENTS,
        "metrics_scrape_ms": timed(metrics_render),
        "metrics_bytes": len(metrics_render()),
        "health_ms": timed(health_report),
        "health_ok_checks": sorted(name for name, check in report["checks"].items() if check["ok"]),
    }
    print(json.dumps(result))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
