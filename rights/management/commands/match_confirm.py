"""Confirm candidate matches: ``manage.py match_confirm MATCH_ID... --user USERNAME``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from rights.models import Match
from rights.staff.review import ReviewError, matches_decide

DECISION = Match.Decision.CONFIRMED


def staff_user(*, username: str, permission: str):
    """The active staff user named ``username`` holding ``permission``, or a CommandError saying why not."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user named {username!r}.")
    if not user.is_active or not user.is_staff:
        raise CommandError(f"User {username!r} is not an active member of staff.")
    if not user.has_perm(permission):
        raise CommandError(f"User {username!r} does not have the permission {permission!r}.")
    return user


class Command(BaseCommand):
    help = "Confirm that candidate matches show the requester (by match id)."
    decision = DECISION

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("match_ids", nargs="+", type=int, metavar="MATCH_ID")
        parser.add_argument("--user", required=True, help="username of the member of staff deciding")

    def handle(self, *args: Any, **options: Any) -> None:
        user = staff_user(username=options["user"], permission="rights.review_match")
        try:
            matches = matches_decide(match_ids=options["match_ids"], decision=self.decision, user=user)
        except ReviewError as exc:
            raise CommandError(str(exc)) from exc
        for match in matches:
            self.stdout.write(f"match {match.id} of request {match.request_id}: {match.decision}")
