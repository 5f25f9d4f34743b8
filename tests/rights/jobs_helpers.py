"""Seeding helpers for the jobs tests (recipients, notices, purge, deadlines, recovery, retention)."""

from __future__ import annotations

import hashlib
import json
import smtplib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.core.mail.backends import locmem
from django.utils import timezone

from matching.models import Image
from rights.models import DataRequest, ErasureRecord, Recipient, Release, RequestKind
from tests.factories import request_make as _request_make


def local(*args: int) -> datetime:
    """An aware datetime in settings.TIME_ZONE (Europe/Paris in the tests)."""
    return timezone.make_aware(datetime(*args))


def make_request(*, kind: str = RequestKind.ERASURE, **fields: Any) -> DataRequest:
    """tests.factories.request_make, an erasure unless told otherwise (what the jobs work on)."""
    return _request_make(kind=kind, **fields)


def sha(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def make_image(label: str, **fields: Any) -> Image:
    """A collection image row without a file (for tests that only need its id and hash)."""
    fields.setdefault("collected_at", timezone.now())
    return Image.objects.create(
        sha256=sha(label), file=f"collection/{label}.jpg", width=10, height=10, **fields
    )


def release(recipient: Recipient, image: Image, at: datetime | None = None) -> Release:
    return Release.objects.create(
        recipient=recipient, image=image, image_sha256=image.sha256, released_at=at or timezone.now()
    )


def erase(request: DataRequest, image: Image) -> ErasureRecord:
    """The ledger row the pipeline's erasure writes for one image (the image itself is left alone)."""
    return ErasureRecord.objects.create(
        request=request,
        image_id=image.id,
        image_sha256=image.sha256,
        source_url=image.source_url,
        removed_from=["file", "faces", "embeddings", "image", "index"],
        erased_at=timezone.now(),
    )


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.server.received.append(  # type: ignore[attr-defined]
            {
                "path": self.path,
                "content_type": self.headers.get("Content-Type"),
                "json": json.loads(body),
                "body": body,
                "headers": {k.lower(): v for k, v in self.headers.items()},
            }
        )
        status = self.server.statuses.pop(0) if self.server.statuses else 204  # type: ignore[attr-defined]
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def webhook_server(statuses: list[int] | None = None) -> Iterator[ThreadingHTTPServer]:
    """A real HTTP server on 127.0.0.1 recording each POST; answers ``statuses`` in turn, then 204."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.received = []  # type: ignore[attr-defined]
    server.statuses = list(statuses or [])  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def server_url(server: ThreadingHTTPServer, path: str = "/hook") -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}{path}"


class DeadAddressBackend(locmem.EmailBackend):
    """The locmem backend, except that the mail server refuses any address at ``dead.example``."""

    def send_messages(self, messages: list[Any]) -> int:
        for message in messages:
            dead = [to for to in message.to if to.endswith("@dead.example")]
            if dead:
                raise smtplib.SMTPRecipientsRefused({to: (550, b"5.1.1 mailbox unavailable") for to in dead})
        return super().send_messages(messages)


@contextmanager
def row_locked(
    model: type,
    row_id: int,
    *,
    then: Callable[[], Any] | None = None,
    release_after: float | None = None,
) -> Iterator[None]:
    """Hold ``SELECT ... FOR UPDATE`` on one row from another connection (another worker's transaction).

    ``then`` runs inside that transaction (what the other worker does with the row). The lock is
    released when the block ends, or, with ``release_after``, by the other worker itself after that
    many seconds (so that the block can wait for it).
    """
    from django.db import connections, transaction

    locked, release_lock, done = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            with transaction.atomic():
                model.objects.select_for_update().get(id=row_id)
                if then is not None:
                    then()
                locked.set()
                release_lock.wait(timeout=30 if release_after is None else release_after)
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
            locked.set()
        finally:
            connections.close_all()
            done.set()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    locked.wait(timeout=30)
    try:
        if errors:
            raise errors[0]
        yield
    finally:
        release_lock.set()
        done.wait(timeout=30)
        thread.join(timeout=5)
