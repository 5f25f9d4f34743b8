"""Celery's retry and failure lines for pipeline tasks carry no email address.

A mail server's refusal quotes the address (SMTPRecipientsRefused); the tasks retry with an error
of their own that names the request id and the error's type only. Each log record is formatted as
a plain handler would (no redaction filter), so what is checked is what the pipeline puts there.
"""

from __future__ import annotations

import logging
import smtplib

import pytest
from django.core.mail.backends.locmem import EmailBackend

from portal.celery import app  # noqa: F401  (the project's app, where the tasks are registered)
from rights import jobs, tasks
from rights.models import Recipient, RequestKind, RequestStatus
from rights.recipients.notices import notices_create_for_erasure
from tests.rights.jobs_helpers import erase, make_image, make_request, release

pytestmark = pytest.mark.django_db
ADDRESS = "ana.victim@example.org"


class _Raw(logging.Handler):
    """Sees each record before the root handlers' redaction filter rewrites it."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.formatter = logging.Formatter("%(name)s %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.name} {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatter.formatException(record.exc_info)
        self.lines.append(text)


@pytest.fixture
def raw_logs():
    handler = _Raw()
    loggers = [logging.getLogger(name) for name in ("celery", "rights")]
    previous = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield handler
    for logger, level in previous:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_a_pipeline_step_retried_after_a_mail_refusal_logs_no_address(monkeypatch, raw_logs):
    request = make_request(kind=RequestKind.ACCESS, status=RequestStatus.APPROVED)

    def refused(**_):
        raise smtplib.SMTPRecipientsRefused({ADDRESS: (550, b"5.1.1 no such user")})

    # Isolates the task from the service: it fails as request_answered does when the mail is refused.
    monkeypatch.setattr(tasks, "request_fulfil_run", refused)

    result = tasks.request_fulfil.apply(args=(request.id,))

    request.refresh_from_db()
    assert result.get() == RequestStatus.HELD and request.status == RequestStatus.HELD
    logged = "\n".join(raw_logs.lines)
    assert "retry" in logged.lower()  # the retries were logged...
    assert ADDRESS not in logged  # ...without the address (before the fix: in every retry line)
    assert ADDRESS not in request.hold_reason


class _Refusing(EmailBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPRecipientsRefused(
            {to: (550, b"5.1.1 mailbox unavailable") for m in messages for to in m.to}
        )


def test_a_notice_whose_mail_is_refused_retries_without_the_address_in_the_logs(settings, raw_logs):
    settings.EMAIL_BACKEND = f"{__name__}._Refusing"
    recipient = Recipient.objects.create(name="Partner", contact_email=ADDRESS)
    request = make_request(kind=RequestKind.ERASURE, status=RequestStatus.FULFILLING)
    image = make_image("shared")
    release(recipient, image)
    erase(request, image)
    (notice,) = notices_create_for_erasure(request_id=request.id)

    result = jobs.notice_send_task.apply(args=(notice.id,))

    assert result.failed()
    logged = "\n".join(raw_logs.lines) + repr(result.result) + str(result.traceback)
    assert "notice" in logged.lower()
    assert ADDRESS not in logged
