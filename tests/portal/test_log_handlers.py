"""Every handler a process logs through masks emails and bearer path segments: Django's own
(runserver's request lines, the 'django' logger's console) as well as the root's and Celery's."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings

LINES = """
import logging, os
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
import django
django.setup()
for name in ("django.server", "django", "django.request", "celery.app.trace", "rights.tasks"):
    logging.getLogger(name).error(
        '%s "GET /status/TOKENabc.def/ HTTP/1.1" 404 /confirm/TOKENxyz/ /answer/TOKENq/ '
        '/notices/ack/TOKENn/ ana.person@example.org', name
    )
"""


def test_no_handler_lets_an_email_or_a_bearer_link_through(tmp_path):
    # Before: runserver's "django.server" handler printed the status link and the address as is.
    result = subprocess.run(
        [sys.executable, "-c", LINES],
        env={**os.environ, "VAR_DIR": str(tmp_path), "DEBUG": "1"},  # DEBUG: Django's console handler too
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    written = result.stdout + result.stderr
    for name in ("django.server", "django", "django.request", "celery.app.trace", "rights.tasks"):
        assert f"{name} " in written or f'{name} "GET' in written, name
    assert written.count("/status/[redacted]/") == 5
    assert "TOKEN" not in written and "ana.person" not in written
