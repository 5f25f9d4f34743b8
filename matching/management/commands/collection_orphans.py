"""manage.py collection_orphans: delete collection files that no Image row names (left by a crash)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from matching.services.storage_check import DEFAULT_OLDER_THAN, collection_orphans_delete


class Command(BaseCommand):
    help = (
        "Delete collection files that no image row names and that are older than the limit "
        "(a file younger than that may belong to an ingestion in flight)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than-minutes",
            type=int,
            default=int(DEFAULT_OLDER_THAN.total_seconds() // 60),
            help="only files last modified longer ago than this (default: 60)",
        )
        parser.add_argument("--json", action="store_true", help="print the counts as one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        minutes = options["older_than_minutes"]
        if minutes < 0:
            raise CommandError("--older-than-minutes must be 0 or more")
        result = collection_orphans_delete(older_than=timedelta(minutes=minutes))
        if options["json"]:
            self.stdout.write(json.dumps({"checked": result.checked, "deleted": result.deleted}))
        else:
            self.stdout.write(
                f"Collection files checked: {result.checked}; "
                f"deleted (no image row, older than {minutes} min): {result.deleted}."
            )
