"""Verify the audit trail's hash chain: exits non-zero naming the first bad row."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rights.services.audit import audit_chain_check


class Command(BaseCommand):
    help = (
        "Check that no audit event was changed, removed or reordered. Exits 1 and names the first bad "
        "row if the chain is broken. Prints the head hash: keep it outside the database and pass it "
        "back with --anchor to also detect rows cut off the end of the trail."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--anchor", help="a head hash printed by an earlier run; it must still be in the chain"
        )

    def handle(self, *args: object, anchor: str | None = None, **options: object) -> None:
        report = audit_chain_check(anchor=anchor)
        if report.first_break is not None:
            raise CommandError(
                f"Audit chain broken at row {report.first_break.event_id}: {report.first_break.problem}."
            )
        if report.anchor_found is False:
            raise CommandError(
                f"Audit chain anchor {anchor} is not in the trail: rows were cut off its end or rewritten."
            )
        self.stdout.write(f"Audit chain intact: {report.rows} rows, head {report.head_hash}")
