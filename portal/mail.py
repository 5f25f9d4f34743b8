"""The development email backend: one file per email under MAIL_DIR, readable by the portal alone.

Django's file backend creates its files with the process umask (world-readable by default), and
an email holds a person's address and the links that open their request.
"""

from __future__ import annotations

import os

from django.core.mail.backends import filebased


class PrivateFileEmailBackend(filebased.EmailBackend):
    """Django's file backend, with each file created 0600 (its folder is made 0700 by the settings)."""

    def open(self) -> bool:
        if self.stream is None:
            handle = os.open(self._get_filename(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self.stream = os.fdopen(handle, "ab")
            return True
        return False
