"""Export the compliance report: each request's timeline and the CNIL figures, for a period."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rights.reporting.compliance import FORMATS, ReportError, compliance_report_export, report_date_parse


class Command(BaseCommand):
    help = (
        "Write the compliance report for the requests received from --from to --to (inclusive, "
        "YYYY-MM-DD, local days) as JSON, CSV or HTML, to --output or to standard output."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="date_from", required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="date_to", required=True, help="last day, YYYY-MM-DD")
        parser.add_argument("--format", choices=FORMATS, default="json")
        parser.add_argument("--output", help="file to write (default: standard output)")

    def handle(self, *args: object, **options: str) -> None:
        try:
            date_from = report_date_parse(value=options["date_from"], name="--from")
            date_to = report_date_parse(value=options["date_to"], name="--to")
            exported = compliance_report_export(
                date_from=date_from,
                date_to=date_to,
                format=options["format"],
                actor="system",
                via="command",
            )
        except ReportError as error:
            raise CommandError(str(error)) from None
        if options.get("output"):
            path = Path(options["output"])
            try:
                path.write_bytes(exported.content)
            except OSError as error:
                raise CommandError(f"Cannot write {path}: {error.strerror}.") from None
            self.stderr.write(f"Wrote {path} ({len(exported.content)} bytes).")
        else:
            self.stdout.write(exported.content.decode(), ending="")
