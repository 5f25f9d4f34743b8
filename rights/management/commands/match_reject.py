"""Reject candidate matches: ``manage.py match_reject MATCH_ID... --user USERNAME``."""

from __future__ import annotations

from rights.management.commands.match_confirm import Command as ConfirmCommand
from rights.models import Match


class Command(ConfirmCommand):
    help = "Reject candidate matches: the images do not show the requester (by match id)."
    decision = Match.Decision.REJECTED
