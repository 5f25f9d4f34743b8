"""Requests that did not come through the web form: received by email, post or phone and recorded by
staff, or sent by an authorised agent or another system. The checks on what such a request adds
(channel, date received, the agent's authority); the rest is the form's (requester.requests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.files.base import ContentFile
from django.utils import timezone
from django.utils.translation import gettext

from rights.models import DataRequest, RequestChannel

# What the agent's authority may be sent as (a scan or a signed PDF), by the file's first bytes.
EVIDENCE_SIGNATURES = {b"%PDF-": "pdf", b"\xff\xd8\xff": "jpg", b"\x89PNG\r\n\x1a\n": "png"}
EVIDENCE_MAX_BYTES = 10_000_000
AGENT_NAME_MAX = 200


def evidence_extension(*, data: bytes) -> str | None:
    """The extension of an accepted evidence file (pdf, jpg, png), or None for any other content."""
    for signature, extension in EVIDENCE_SIGNATURES.items():
        if data.startswith(signature):
            return extension
    return None


def intake_errors(
    *,
    channel: str,
    received_at: datetime | None,
    agent_name: str,
    agent_evidence: bytes | None,
    now: datetime | None = None,
) -> dict[str, list[str]]:
    """What is wrong with the channel, the date received and the agent's authority (empty: nothing)."""
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    if channel not in RequestChannel.values:
        errors["channel"] = [
            gettext("Choose how the request was received: %(choices)s.")
            % {"choices": ", ".join(RequestChannel.values)}
        ]
    if received_at is not None:
        if timezone.is_naive(received_at):
            errors["received_at"] = [gettext("Give the date received with its time zone.")]
        elif received_at > now:
            errors["received_at"] = [gettext("The date received cannot be in the future.")]
        elif channel == RequestChannel.WEB:
            errors["received_at"] = [gettext("A web form request is received when it is sent.")]
    if len(agent_name) > AGENT_NAME_MAX:
        errors["agent_name"] = [gettext("At most %(most)s characters.") % {"most": AGENT_NAME_MAX}]
    if channel == RequestChannel.AGENT:
        if not agent_name.strip():
            errors["agent_name"] = [gettext("Name the agent acting for the person.")]
        if not agent_evidence:
            errors["agent_evidence"] = [
                gettext("Attach the evidence of the agent's authority (a PDF, JPEG or PNG file).")
            ]
    if agent_evidence:
        if len(agent_evidence) > min(EVIDENCE_MAX_BYTES, settings.UPLOAD_MAX_BYTES):
            errors["agent_evidence"] = [gettext("The evidence file is too large (at most 10 MB).")]
        elif evidence_extension(data=agent_evidence) is None:
            errors["agent_evidence"] = [gettext("The evidence must be a PDF, JPEG or PNG file.")]
    return errors


@dataclass(frozen=True)
class Intake:
    """How a request came in: the channel, when it was received (None: now), who recorded it, and
    for an agent their name and the evidence of their authority (the file's bytes)."""

    channel: str = RequestChannel.WEB
    received_at: datetime | None = None
    agent_name: str = ""
    agent_evidence: bytes | None = None
    recorded_by: str = ""

    def errors(self) -> dict[str, list[str]]:
        return intake_errors(
            channel=self.channel,
            received_at=self.received_at,
            agent_name=self.agent_name,
            agent_evidence=self.agent_evidence,
        )

    def detail(self) -> dict[str, str]:
        """What the submission's audit row says of the intake (never the evidence itself)."""
        return {"channel": self.channel, "recorded_by": self.recorded_by}


WEB_FORM = Intake()


def intake_evidence_store(*, intake: Intake, request: DataRequest, saved: list[str]) -> None:
    """Keep the agent's evidence with the request (named by the request, never the uploaded name)."""
    if not intake.agent_evidence:
        return
    extension = evidence_extension(data=intake.agent_evidence)
    request.agent_evidence.save(f"evidence.{extension}", ContentFile(intake.agent_evidence), save=True)
    saved.append(request.agent_evidence.name)
