"""portal.logs: no email or bearer token leaves the portal in a log line, an access log or a
Sentry event; JSON logs when LOG_FORMAT=json."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings

from portal.logs import JsonFormatter, RedactFilter, sentry_event_scrub, text_redact

TOKEN = "Zq3vX9kL2mN8pR4sT6uW1yA5bC7dE0fG"
SIGNED = "MTIz:1vQx2Z:abcDEF-ghi_JKL"


def test_token_segments_and_emails_are_redacted() -> None:
    text = (
        f"GET /status/{TOKEN}/photo/ /confirm/{SIGNED}/ /answer/{TOKEN}/download/ "
        f"/notices/ack/{TOKEN}/ from jane.doe+x@mail.example.co.uk"
    )
    redacted = text_redact(text=text)
    assert TOKEN not in redacted and SIGNED not in redacted and "jane.doe" not in redacted
    assert redacted.count("[redacted]") == 4
    assert "/status/[redacted]/photo/" in redacted and "[email]" in redacted
    # Ids and other paths stay readable.
    assert (
        text_redact(text="request 42 /admin/rights/datarequest/42/")
        == "request 42 /admin/rights/datarequest/42/"
    )


def test_filter_redacts_the_merged_message_and_the_traceback() -> None:
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: %s", (f"/status/{TOKEN}/",), None
    )
    try:
        raise ValueError("bad address jane@example.org")
    except ValueError:
        record.exc_info = sys.exc_info()
    assert RedactFilter().filter(record) is True
    line = logging.Formatter("%(message)s").format(record)
    assert TOKEN not in line and "jane@example.org" not in line
    assert "Not Found: /status/[redacted]/" in line and "ValueError" in line


def test_json_formatter_writes_one_object_per_line() -> None:
    record = logging.LogRecord("rights", logging.INFO, __file__, 1, "request %s answered", (7,), None)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "request 7 answered"
    assert (entry["level"], entry["logger"]) == ("INFO", "rights")
    assert entry["time"].endswith("+00:00")


def test_json_logs_when_asked(tmp_path: Path) -> None:
    probe = (
        "import django, logging; django.setup(); "
        f"logging.getLogger('rights').warning('Not Found: /answer/{TOKEN}/ for a@b.example')"
    )
    env = {
        **os.environ,
        "VAR_DIR": str(tmp_path),
        "LOG_FORMAT": "json",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=settings.BASE_DIR, capture_output=True, text=True
    )
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert lines, result.stderr
    assert lines[-1]["message"] == "Not Found: /answer/[redacted]/ for [email]"


def test_sentry_event_is_scrubbed() -> None:
    event = {
        "user": {"email": "jane@example.org", "ip_address": "203.0.113.9"},
        "request": {
            "url": f"https://rights.example.org/status/{TOKEN}/",
            "headers": {
                "Authorization": "Basic c3RhZmY6cHc=",
                "Referer": f"https://x/answer/{TOKEN}/",
                "Cookie": "s=1",
            },
            "cookies": {"sessionid": "abc"},
            "data": {"email": "jane@example.org"},
        },
        "exception": {"values": [{"type": "ValueError", "value": "no account for jane@example.org"}]},
        "breadcrumbs": {"values": [{"message": f"GET /confirm/{SIGNED}/"}]},
    }
    scrubbed = json.dumps(sentry_event_scrub(event, {}))
    for secret in (TOKEN, SIGNED, "jane@example.org", "c3RhZmY6cHc=", "sessionid", "203.0.113.9"):
        assert secret not in scrubbed
    assert "ValueError" in scrubbed and "/status/[redacted]/" in scrubbed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SENTRY_PROBE = """
import gzip, http.server, json, os, sys, threading
received = []
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        received.append(body.decode("utf-8", "replace"))
        self.send_response(200); self.end_headers()
    def log_message(self, *args): pass
server = http.server.HTTPServer(("127.0.0.1", int(os.environ["SINK_PORT"])), Sink)
threading.Thread(target=server.serve_forever, daemon=True).start()
import django; django.setup()
import sentry_sdk
try:
    raise ValueError("no account for jane@example.org at /status/%s/" % os.environ["TOKEN"])
except ValueError:
    sentry_sdk.capture_exception()
sentry_sdk.flush(timeout=10)
print(json.dumps(received))
"""


def test_sentry_reports_errors_without_personal_data_when_a_dsn_is_set(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SENTRY_DSN": f"http://publickey@127.0.0.1:{port}/1",
        "SINK_PORT": str(port),
        "TOKEN": TOKEN,
    }
    result = subprocess.run(
        [sys.executable, "-c", SENTRY_PROBE],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    received = json.loads(result.stdout.strip().splitlines()[-1])
    assert received, "the error reached the Sentry endpoint"
    body = "\n".join(received)
    assert "ValueError" in body
    assert TOKEN not in body and "jane@example.org" not in body
    assert "/status/[redacted]/" in body


def test_gunicorn_access_log_redacts_tokens(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "VAR_DIR": str(tmp_path),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "portal/gunicorn.conf.py", "portal.wsgi"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        paths = [f"/status/{TOKEN}/", f"/confirm/{SIGNED}/", f"/notices/ack/{TOKEN}/?x=1"]
        answered = 0
        while answered < len(paths) and time.monotonic() < deadline:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{paths[answered]}", headers={"Referer": f"http://x/answer/{TOKEN}/"}
            )
            try:
                urllib.request.urlopen(request, timeout=10)
                answered += 1
            except urllib.error.HTTPError:
                answered += 1  # a 404 or 500 is logged all the same
            except OSError:
                time.sleep(0.3)  # not listening yet
        assert answered == len(paths), log_path.read_text()
    finally:
        process.terminate()
        process.wait(timeout=30)
    log_text = log_path.read_text()
    access_lines = [line for line in log_text.splitlines() if '"GET /' in line]
    assert len(access_lines) == len(paths), log_text
    assert TOKEN not in log_text and SIGNED not in log_text
    assert any('"GET /status/[redacted]/ HTTP/1.1"' in line for line in access_lines)
    assert all('referer="http://x/answer/[redacted]/"' in line for line in access_lines)
    assert "127.0.0.1 -" not in log_text  # no client address in the access log
