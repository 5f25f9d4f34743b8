"""Every email the portal sends, rendered from templates under rights/templates/rights/email/.

A template's first line is the subject; the rest is the plain-text body. Callers pass ids and
links, and logs name the template and request id, never the address. A requester's email is
written in the request's language; an email only staff receive (``staff_email_send``) in the
language of the staff member it goes to (portal.staff_language).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from portal.staff_language import staff_language_for_address
from rights.lifecycle.language import language_of, setting_text

logger = logging.getLogger(__name__)


def public_url(*, path: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}{path}"


def url_for(viewname: str, **kwargs: Any) -> str:
    return public_url(path=reverse(viewname, kwargs=kwargs))


def email_send(
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    request_id: int | None = None,
    attachments: list[tuple[str, bytes, str]] | None = None,
    language: str | None = None,
) -> None:
    """Render ``rights/email/<template>.txt`` and send it, as text and as the same words in HTML.
    Raises if the mail server refuses it.

    Written in ``language`` (a requester's email: ``request.language``); without it, in the portal's
    default language, whatever the language of the page or worker that sends it."""
    with language_of(language=language):
        full_context = {
            "organisation_name": settings.ORGANISATION_NAME,
            "organisation_address": settings.ORGANISATION_ADDRESS,
            "supervisory_authority": setting_text(name="SUPERVISORY_AUTHORITY"),
            "privacy_email": settings.DEFAULT_FROM_EMAIL,
            **context,
        }
        rendered = render_to_string(f"rights/email/{template}.txt", full_context, using="email").lstrip()
        subject, _, body = rendered.partition("\n")
        subject, body = subject.strip(), body.lstrip("\n")
        # For mail apps that show HTML: the text's paragraphs and links, escaped, in the same language.
        html = render_to_string("rights/email/_body.html", {"subject": subject, "body": body})
    message = EmailMultiAlternatives(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
    )
    message.attach_alternative(html, "text/html")
    for filename, content, mimetype in attachments or []:
        message.attach(filename, content, mimetype)
    message.send(fail_silently=False)
    logger.info("email sent template=%s request=%s", template, request_id)


def staff_email_send(
    *, to: str, template: str, context: dict[str, Any], request_id: int | None = None
) -> None:
    """An email only staff receive (a reminder, an escalation, an alert), rendered as ``email_send``
    does, in the language of whoever reads ``to``: the staff account with that address's own choice,
    else settings.STAFF_LANGUAGE (a team address). Raises if the mail server refuses it."""
    email_send(
        to=to,
        template=template,
        context=context,
        request_id=request_id,
        language=staff_language_for_address(address=to),
    )
