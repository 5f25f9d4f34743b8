"""Verify the audit trail's hash chain: exits non-zero naming the first bad row."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rights.lifecycle.audit import (
    AnchorFileError,
    audit_anchors_missing,
    audit_anchors_read,
    audit_chain_check,
)


class Command(BaseCommand):
    help = (
        "Check that no audit event was changed, removed or reordered. Exits 1 and names the first bad "
        "row if the chain is broken. Prints the head hash: keep it outside the database and pass it "
        "back with --anchor (or check every anchor the hourly job appended with --anchor-file) to also "
        "detect rows cut off the end of the trail or a trail rewritten from some row on."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--anchor", help="a head hash printed by an earlier run; it must still be in the chain"
        )
        parser.add_argument(
            "--anchor-file",
            type=Path,
            help="a file of '<iso time> <row id> <hash>' lines (AUDIT_ANCHOR_FILE): each row must be there",
        )

    def handle(
        self, *args: object, anchor: str | None = None, anchor_file: Path | None = None, **options: object
    ) -> None:
        report = audit_chain_check(anchor=anchor)
        if report.first_break is not None:
            raise CommandError(
                f"Audit chain broken at row {report.first_break.event_id}: {report.first_break.problem}."
            )
        if report.anchor_found is False:
            raise CommandError(
                f"Audit chain anchor {anchor} is not in the trail: rows were cut off its end or rewritten."
            )
        if anchor_file is not None:
            try:
                anchors = audit_anchors_read(path=anchor_file)
            except AnchorFileError as error:
                raise CommandError(str(error)) from None
            missing = audit_anchors_missing(anchors=anchors)
            if missing:
                first = missing[0]
                raise CommandError(
                    f"Audit chain anchor at line {first.line} of {anchor_file} ({first}) is not in the "
                    f"trail: rows were cut off its end or rewritten ({len(missing)} of {len(anchors)} "
                    "anchors missing)."
                )
            self.stdout.write(f"All {len(anchors)} anchors in {anchor_file} are in the trail")
        self.stdout.write(f"Audit chain intact: {report.rows} rows, head {report.head_hash}")
