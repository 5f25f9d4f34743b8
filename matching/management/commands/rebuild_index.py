"""manage.py rebuild_index: rebuild the FAISS index from the Face rows (the database is the record)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from matching.services.index import index_rebuild


class Command(BaseCommand):
    help = "Rebuild the face index from the database."

    def handle(self, *args: Any, **options: Any) -> None:
        result = index_rebuild()
        self.stdout.write(f"Index rebuilt: {result.total} faces (version {result.version}).")
