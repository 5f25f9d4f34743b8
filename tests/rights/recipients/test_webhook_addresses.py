"""rights.recipients.notices: a recipient's webhook never reaches a non-public address, never follows
a redirect. Real HTTP servers on 127.0.0.1 (the only addresses a test can listen on)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rights.models import Recipient, RecipientNotice, RequestKind, RequestStatus
from rights.recipients.notices import WebhookError, notice_webhook_deliver, notices_create_for_erasure
from tests.rights.jobs_helpers import erase, make_image, make_request, release, server_url, webhook_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def notice():
    recipient = Recipient.objects.create(name="Hooked Partner", contact_email="dpo@hooked.example")
    request = make_request(kind=RequestKind.ERASURE, status=RequestStatus.FULFILLING)
    image = make_image("hooked")
    release(recipient, image)
    erase(request, image)
    (created,) = notices_create_for_erasure(request_id=request.id)
    return created


def _hook_to(notice: RecipientNotice, url: str) -> None:
    Recipient.objects.filter(id=notice.recipient_id).update(webhook_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",  # loopback, where a real server listens
        "http://localhost:{port}/hook",  # a name resolving to loopback
        "http://[::1]:{port}/hook",
        "http://169.254.169.254/latest/meta-data/",  # link-local (cloud metadata)
        "http://10.0.0.8/hook",
        "http://192.168.1.20:8080/hook",
        "http://0.0.0.0:{port}/hook",
    ],
)
def test_a_non_public_address_is_refused_and_nothing_is_posted(notice, settings, url):
    settings.NOTICE_WEBHOOK_ALLOW_PRIVATE = False
    with webhook_server() as server:
        _hook_to(notice, url.format(port=server.server_address[1]))
        # Before the fix the worker posted to 127.0.0.1 and counted it delivered.
        with pytest.raises(WebhookError, match="non-public address"):
            notice_webhook_deliver(notice_id=notice.id)
        assert server.received == []
    notice.refresh_from_db()
    assert notice.webhook_delivered_at is None


def test_with_the_setting_on_a_local_address_is_delivered(notice, settings):
    settings.NOTICE_WEBHOOK_ALLOW_PRIVATE = True
    with webhook_server() as server:
        _hook_to(notice, server_url(server))
        assert notice_webhook_deliver(notice_id=notice.id) is True
        assert len(server.received) == 1


class _Redirect(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(302)
        self.send_header("Location", self.server.location)  # type: ignore[attr-defined]
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def _redirecting_to(location: str) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    server.location = location  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_redirect_is_a_failed_delivery_and_is_not_followed(notice, settings):
    settings.NOTICE_WEBHOOK_ALLOW_PRIVATE = True  # both servers are local: only the redirect is tested
    with webhook_server() as internal, _redirecting_to(server_url(internal, "/internal")) as redirector:
        _hook_to(notice, server_url(redirector))
        # Before the fix urllib followed the 302 to the other port and the notice counted as delivered.
        with pytest.raises(WebhookError, match="redirect"):
            notice_webhook_deliver(notice_id=notice.id)
        assert internal.received == []
    notice.refresh_from_db()
    assert notice.webhook_delivered_at is None


@pytest.mark.parametrize("url", ["ftp://files.example/hook", "file:///etc/passwd", "http:///nohost"])
def test_an_address_that_is_not_http_is_refused(notice, url):
    _hook_to(notice, url)
    with pytest.raises(WebhookError, match="not an http"):
        notice_webhook_deliver(notice_id=notice.id)
