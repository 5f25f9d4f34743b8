"""gunicorn's configuration: `gunicorn -c portal/gunicorn.conf.py portal.wsgi`.

Access log on stdout with the bearer tokens of /confirm/, /status/, /answer/ and /notices/ack/
links redacted (path, query, request line and Referer), and no client address, user agent or
cookies: the log is for counting and timing requests, not for following people.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from gunicorn.glogging import Logger

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout, for portal.logs

from portal.logs import text_redact

# Only the compose network reaches this port: Caddy in front terminates TLS (docker-compose.yml).
bind = [os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")]
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
# An upload of three large photos over a slow line must not be cut off.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
# Recycled now and then, so that a slow leak in an image library never grows without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# No runtime control socket: the image's home is read-only, and the compose file restarts workers.
control_socket_disable = True
access_log_format = '%(t)s "%(r)s" %(s)s %(B)s %(M)sms referer="%(f)s"'


class RedactingLogger(Logger):
    """gunicorn's logger with every token-bearing path segment and email in an access line redacted."""

    def atoms(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
        values = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q", "f"):
            if isinstance(values.get(key), str):
                values[key] = text_redact(text=values[key])
        return values


logger_class = RedactingLogger
