"""After a restore from backup: delete again every image the erasure ledger says was erased."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from rights.upkeep.replay import LedgerCopyMissing, erasures_replay


class Command(BaseCommand):
    help = (
        "Delete again (file, faces, embeddings, index entries) every image that the erasure ledger's "
        "copy (ERASURE_LEDGER_FILE) or the database's ledger names. Run it after every restore, before "
        "the portal takes requests again. Requests it names that are open again are held for staff. "
        "Sends nothing to requesters or recipients; audited; safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--ledger-file", type=Path, help="the ledger copy to replay (default: ERASURE_LEDGER_FILE)"
        )
        parser.add_argument(
            "--database-only",
            action="store_true",
            help="no ledger copy at all (it was lost): replay the restored database's ledger only",
        )
        parser.add_argument("--json", action="store_true", help="print the counts as one JSON object")

    def handle(self, *args: object, **options: object) -> None:
        ledger_file = options["ledger_file"] or settings.ERASURE_LEDGER_FILE
        try:
            result = erasures_replay(ledger_file=ledger_file, use_copy=not options["database_only"])
        except LedgerCopyMissing as exc:
            raise CommandError(
                f"No erasure ledger copy at {exc}. Nothing was deleted. Put the off-host copy back "
                "there (or pass --ledger-file PATH); only if it is lost for good, --database-only "
                "replays the restored database's ledger, and erasures since the backup stay undone."
            ) from exc
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "copy_lines": result.copy_lines,
                        "database_rows": result.database_rows,
                        "images_deleted": result.images_deleted,
                        "faces_deleted": result.faces_deleted,
                        "erased_hashes_recorded": result.erased_hashes_recorded,
                        "index_removed": result.index_removed,
                        "bad_lines": result.bad_lines,
                        "held_request_ids": result.held_request_ids,
                    }
                )
            )
        else:
            self.stdout.write(
                f"Ledger copy: {result.copy_lines} entries; database ledger: {result.database_rows} rows. "
                f"Deleted again: {result.images_deleted} images ({result.faces_deleted} faces); "
                f"index entries without a face removed: {result.index_removed}. Held for staff (open "
                f"again though erased since the backup): {result.held_request_ids or 'none'}."
            )
        if result.bad_lines:
            shown = ", ".join(map(str, result.bad_lines[:20]))
            raise CommandError(
                f"{len(result.bad_lines)} line(s) of the ledger copy are not ledger entries (line {shown}); "
                "every other entry was replayed. Repair those lines from the off-host copy and run again."
            )
