"""Approve requests for fulfilment: ``manage.py request_approve REQUEST_ID... --user USERNAME``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rights.management.commands.match_confirm import staff_user
from rights.staff.review import ReviewError, request_approve


class Command(BaseCommand):
    help = "Approve requests waiting for staff review; refused while a candidate match is undecided."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("request_ids", nargs="+", type=int, metavar="REQUEST_ID")
        parser.add_argument("--user", required=True, help="username of the member of staff approving")

    def handle(self, *args: Any, **options: Any) -> None:
        user = staff_user(username=options["user"], permission="rights.approve_request")
        failures = []
        for request_id in options["request_ids"]:
            try:
                request = request_approve(request_id=request_id, user=user)
            except ReviewError as exc:
                failures.append(str(exc))
                self.stderr.write(str(exc))
                continue
            self.stdout.write(f"request {request.id}: {request.status}")
        if failures:
            raise CommandError(f"{len(failures)} request(s) not approved.")
