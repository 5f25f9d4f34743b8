"""The public form when the confirmation email cannot be sent: a sentence next to the email field,
never an HTTP 500, nothing kept, and the address in no log line."""

from __future__ import annotations

import logging
import smtplib

import pytest
from django.core.mail.backends.base import BaseEmailBackend

from tests.portal.test_public_pages import assert_nothing_written, error_next_to, post_request

pytestmark = pytest.mark.django_db


class RefusingBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise smtplib.SMTPRecipientsRefused({"ana@example.org": (550, b"5.1.1 <ana@example.org> unknown")})


class UnreachableBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise ConnectionRefusedError(111, "Connection refused")


@pytest.mark.parametrize(
    "backend,says",
    [
        ("RefusingBackend", "could not send to this address"),
        ("UnreachableBackend", "could not send the confirmation email just now"),
    ],
)
def test_a_confirmation_email_that_cannot_be_sent_is_said_on_the_form(
    client, mailoutbox, settings, caplog, backend, says
):
    settings.EMAIL_BACKEND = f"{__name__}.{backend}"
    with caplog.at_level(logging.INFO):
        response = post_request(client)
    # Gets: HTTP 400, the sentence next to the email field, what was typed kept, nothing written.
    assert response.status_code == 400
    assert says in error_next_to(response, "id_email")
    assert 'value="ana@example.org"' in response.content.decode()
    assert_nothing_written(mailoutbox)
    assert "ana@example.org" not in caplog.text
