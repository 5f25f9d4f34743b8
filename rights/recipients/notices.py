"""Erasure notices to the recipients of copies (GDPR Art. 17(2) and Art. 19).

Every erasure creates one notice per recipient that was handed any of the erased images, listing
the sha256 of each such image (the hash is what the recipient can look its copy up by). A notice
is sent by email, and to the recipient's webhook when it has one; the recipient acknowledges it
through a link carrying the notice's unguessable ``ack_token``; unacknowledged notices are chased.

A notice extended after it was acknowledged (a later chunk of the same erasure erased more images
the recipient held) keeps the record of what was acknowledged (``acknowledged_hashes``) and asks
the recipient to act on, and acknowledge, the added images only.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import socket
import ssl
import urllib.parse
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from rights.lifecycle import enqueue
from rights.lifecycle.audit import SYSTEM, audit_record
from rights.lifecycle.emails import email_send, public_url, staff_email_send, url_for
from rights.lifecycle.webhooks import webhook_headers
from rights.models import AuditAction, ErasureRecord, Recipient, RecipientNotice, Release
from rights.recipients.recipients import CONTACT_UNKNOWN, recipient_contact_missing

logger = logging.getLogger(__name__)


def notices_create_for_erasure(*, request_id: int) -> list[RecipientNotice]:
    """One notice per recipient that held any image erased for this request; enqueues sending.

    Idempotent per request and recipient: calling it again (a retried erasure, one run per chunk)
    adds hashes erased since to the existing notice and sends it again only if something was
    added. Returns the request's notices that this call created or extended.
    """
    erased = set(ErasureRecord.objects.filter(request_id=request_id).values_list("image_sha256", flat=True))
    if not erased:
        return []
    held: dict[int, set[str]] = defaultdict(set)
    for recipient_id, sha256 in Release.objects.filter(image_sha256__in=erased).values_list(
        "recipient_id", "image_sha256"
    ):
        held[recipient_id].add(sha256)

    touched: list[RecipientNotice] = []
    with transaction.atomic():
        recipients = Recipient.objects.in_bulk(list(held))
        for recipient_id in sorted(held):
            hashes = sorted(held[recipient_id])
            notice, created = RecipientNotice.objects.select_for_update().get_or_create(
                request_id=request_id,
                recipient_id=recipient_id,
                defaults={"image_hashes": hashes},
            )
            if created:
                action = AuditAction.RECIPIENT_NOTICE_CREATED
            else:
                missing = sorted(set(hashes) - set(notice.image_hashes))
                if not missing:
                    continue
                previously_acknowledged_at = notice.acknowledged_at
                notice.image_hashes = sorted({*notice.image_hashes, *missing})
                # The recipient has to hear about the added images: the notice goes out again (email
                # and webhook) and waits for an acknowledgement of them; acknowledged_hashes keeps
                # what the recipient already acknowledged.
                notice.sent_at = None
                notice.webhook_delivered_at = None
                notice.acknowledged_at = None
                notice.save(
                    update_fields=["image_hashes", "sent_at", "webhook_delivered_at", "acknowledged_at"]
                )
                action = AuditAction.RECIPIENT_NOTICE_EXTENDED
            audit_record(
                actor=SYSTEM,
                action=action,
                request_id=request_id,
                detail={
                    "notice_id": notice.id,
                    "recipient_id": recipient_id,
                    "recipient": recipients[recipient_id].name,
                    "images": len(notice.image_hashes),
                    **(
                        {}
                        if created
                        else {
                            "images_added": len(missing),
                            "images_already_acknowledged": len(notice.acknowledged_hashes),
                            "previously_acknowledged_at": previously_acknowledged_at
                            and previously_acknowledged_at.isoformat(),
                        }
                    ),
                },
            )
            enqueue.notice_send_enqueue(notice_id=notice.id)
            touched.append(notice)
    logger.info("recipient notices request=%s notices=%s", request_id, [n.id for n in touched])
    waiting = [n for n in touched if recipient_contact_missing(recipient=recipients[n.recipient_id])]
    if waiting:
        names = sorted({recipients[n.recipient_id].name for n in waiting})
        notices_missing_contact_alert(request_id=request_id, notice_ids=[n.id for n in waiting], names=names)
    return touched


def notices_without_contact() -> QuerySet[RecipientNotice]:
    """Notices that cannot go out: unsent, unacknowledged, their recipient has no known contact."""
    return RecipientNotice.objects.filter(sent_at__isnull=True, acknowledged_at__isnull=True).filter(
        Q(recipient__contact_email="") | Q(recipient__contact_email=CONTACT_UNKNOWN)
    )


def notices_counts(*, request_id: int) -> dict[str, int]:
    """For the certificate: recipients of this request's notices told, and waiting for a contact."""
    total = RecipientNotice.objects.filter(request_id=request_id).count()
    waiting = notices_without_contact().filter(request_id=request_id).count()
    return {"notified": total - waiting, "waiting_for_contact": waiting}


def notices_recipients_told(*, request_id: int) -> list[str]:
    """For the certificate: the names of the recipients told (their notice can go out), sorted."""
    waiting = notices_without_contact().filter(request_id=request_id).values("id")
    told = RecipientNotice.objects.filter(request_id=request_id).exclude(id__in=waiting)
    return sorted(set(told.values_list("recipient__name", flat=True)))


def notices_missing_contact_alert(*, request_id: int, notice_ids: list[int], names: list[str]) -> None:
    """Tell the privacy officer that an erasure's notices wait for a recipient's contact."""
    try:
        staff_email_send(
            to=settings.PRIVACY_OFFICER_EMAIL,
            template="recipients_missing_contact",
            context={
                "request_id": request_id,
                "recipients": names,
                "admin_url": public_url(path="/admin/rights/recipient/"),
            },
            request_id=request_id,
        )
    except Exception as exc:  # the notices wait, shown to staff: a mail outage must not stop the erasure
        logger.error("request %s: missing-contact alert not sent (%s)", request_id, type(exc).__name__)
        return
    with transaction.atomic():
        audit_record(
            actor=SYSTEM,
            action=AuditAction.RECIPIENTS_MISSING_CONTACT_ALERTED,
            request_id=request_id,
            detail={"notice_ids": notice_ids, "recipients": len(names)},
        )


class NoticeNotSent(Exception):
    """The notice's email could not be sent (retried by the task); names ids and the error's type only."""


class WebhookError(Exception):
    """The recipient's webhook did not accept the notice (retried by the task)."""


def notice_ack_url(*, notice: RecipientNotice) -> str:
    return url_for("notices:ack", token=notice.ack_token)


def notice_pending_hashes(*, notice: RecipientNotice) -> list[str]:
    """The hashes the recipient still has to act on: those not acknowledged before an extension."""
    acknowledged = set(notice.acknowledged_hashes or [])
    return [sha256 for sha256 in notice.image_hashes if sha256 not in acknowledged]


def _notice_context(*, notice: RecipientNotice, chase: bool) -> dict[str, Any]:
    return {
        "recipient_name": notice.recipient.name,
        "request_id": notice.request_id,
        "notice_id": notice.id,
        "image_hashes": notice_pending_hashes(notice=notice),
        "acknowledged_hashes": notice.acknowledged_hashes or [],
        "ack_url": notice_ack_url(notice=notice),
        "chase": chase,
        "chase_count": notice.chase_count,
        "created_at": notice.created_at,
    }


def notice_send(*, notice_id: int, chase: bool = False) -> bool:
    """Email the notice to the recipient's contact; then enqueue the webhook delivery if any.

    Returns False, sending nothing, when the notice is gone, already acknowledged, or already sent
    (unless ``chase``: a reminder of an unacknowledged notice). The row is locked while the mail
    goes out so that two workers never both send it.
    """
    with transaction.atomic():
        notice = (
            RecipientNotice.objects.select_for_update()
            .select_related("recipient")
            .filter(id=notice_id)
            .first()
        )
        if notice is None or notice.acknowledged_at is not None:
            return False
        if notice.sent_at is not None and not chase:
            return False
        if recipient_contact_missing(recipient=notice.recipient):
            # Left unsent, and shown as such to staff; the chase sends it once a contact is filled in.
            logger.warning(
                "notice %s not sent: recipient %s has no known contact", notice.id, notice.recipient_id
            )
            return False
        now = timezone.now()
        try:
            email_send(
                to=notice.recipient.contact_email,
                template="recipient_notice",
                context=_notice_context(notice=notice, chase=chase),
                request_id=notice.request_id,
            )
        except Exception as exc:
            # The task retries and Celery logs this error: the id and the type only, never the
            # mail server's text (it quotes the address); ``from None`` keeps its traceback out too.
            raise NoticeNotSent(f"notice {notice.id}: the mail was not sent ({type(exc).__name__})") from None
        fields = ["sent_at"]
        if notice.sent_at is None:
            notice.sent_at = now
        if chase:
            notice.chase_count += 1
            notice.last_chased_at = now
            fields += ["chase_count", "last_chased_at"]
        notice.save(update_fields=fields)
        audit_record(
            actor=SYSTEM,
            action=AuditAction.RECIPIENT_NOTICE_CHASED if chase else "recipient_notice_sent",
            request_id=notice.request_id,
            detail={
                "notice_id": notice.id,
                "recipient_id": notice.recipient_id,
                "chase_count": notice.chase_count,
            },
        )
        if notice.recipient.webhook_url and (chase or notice.webhook_delivered_at is None):
            enqueue.notice_webhook_enqueue(notice_id=notice.id, chase=chase)
    logger.info("recipient notice sent notice=%s request=%s chase=%s", notice.id, notice.request_id, chase)
    return True


def notice_webhook_payload(*, notice: RecipientNotice) -> dict[str, Any]:
    return {
        "type": "erasure_notice",
        "notice_id": notice.id,
        "request_id": notice.request_id,
        "organisation": settings.ORGANISATION_NAME,
        "legal_basis": "GDPR Art. 17(2) and Art. 19",
        "action_required": "Erase every copy you hold of the images with these sha256 hashes.",
        "image_hashes": notice_pending_hashes(notice=notice),
        # Listed on this notice before and already acknowledged by you: nothing more to do for them.
        "acknowledged_hashes": notice.acknowledged_hashes or [],
        "acknowledge_url": notice_ack_url(notice=notice),
        # A machine acknowledges by POSTing {"token": ...} here (rights.api.v1).
        "acknowledge_api": {"url": url_for("v1:notice-acknowledge"), "token": notice.ack_token},
        "created_at": notice.created_at.isoformat(),
    }


def _webhook_done(*, notice: RecipientNotice, chase: bool) -> bool:
    """Already delivered: since it was (re)sent, or for a chase, since the last chase."""
    if notice.webhook_delivered_at is None:
        return False
    if not chase:
        return True
    return notice.last_chased_at is None or notice.webhook_delivered_at >= notice.last_chased_at


def notice_webhook_deliver(*, notice_id: int, chase: bool = False) -> bool:
    """POST the notice as JSON to the recipient's webhook. Raises WebhookError on any failure.

    Returns False, posting nothing, when the notice is gone, acknowledged, has no webhook, was
    already delivered (a message delivered twice; for a chase: delivered since the last chase), or
    another worker is delivering it right now. The row stays locked during the POST (bounded by
    NOTICE_WEBHOOK_TIMEOUT) so that two workers never both post it.
    """
    with transaction.atomic():
        notice = (
            RecipientNotice.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("recipient")
            .filter(id=notice_id)
            .first()
        )
        if notice is None or notice.acknowledged_at is not None or not notice.recipient.webhook_url:
            return False
        if _webhook_done(notice=notice, chase=chase):
            return False
        status = _webhook_post(notice=notice)
        RecipientNotice.objects.filter(id=notice_id).update(webhook_delivered_at=timezone.now())
        audit_record(
            actor=SYSTEM,
            action=AuditAction.RECIPIENT_NOTICE_WEBHOOK_DELIVERED,
            request_id=notice.request_id,
            detail={
                "notice_id": notice.id,
                "recipient_id": notice.recipient_id,
                "http_status": status,
                "chase": chase,
            },
        )
    logger.info("recipient notice webhook delivered notice=%s chase=%s", notice_id, chase)
    return True


def webhook_addresses_check(*, url: str) -> tuple[str, int, str]:
    """(host, port, the one address to connect to) for a recipient's webhook, resolved now.

    Raises WebhookError unless every address the host resolves to is public (not loopback,
    link-local, private, reserved...), or NOTICE_WEBHOOK_ALLOW_PRIVATE is on: a privacy officer's
    typo, or a compromised account, must not make the worker post into our own network.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(gettext("the webhook address is not an http(s) URL"))
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:
        raise WebhookError(
            gettext("the webhook host could not be resolved (%(error)s)") % {"error": type(exc).__name__}
        ) from None
    addresses = sorted({info[4][0] for info in infos})
    if not addresses:
        raise WebhookError(gettext("the webhook host resolves to no address"))
    if not settings.NOTICE_WEBHOOK_ALLOW_PRIVATE:
        refused = [a for a in addresses if not ipaddress.ip_address(a.split("%")[0]).is_global]
        if refused:
            # Translated: the recipient and event endpoint forms show it to staff as they type.
            raise WebhookError(
                ngettext(
                    "the webhook host resolves to %(count)s non-public address (loopback, link-local, "
                    "private or reserved); refused (NOTICE_WEBHOOK_ALLOW_PRIVATE is off)",
                    "the webhook host resolves to %(count)s non-public addresses (loopback, link-local, "
                    "private or reserved); refused (NOTICE_WEBHOOK_ALLOW_PRIVATE is off)",
                    len(refused),
                )
                % {"count": len(refused)}
            )
    return parts.hostname, port, addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, not to whatever the name resolves to next."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _webhook_post(*, notice: RecipientNotice) -> int:
    body = json.dumps(notice_webhook_payload(notice=notice)).encode()
    # One id per (re)sending: a receiver drops a redelivered copy of the same message.
    msg_id = f"msg_notice_{notice.id}_{notice.chase_count}"
    return webhook_post_signed(
        url=notice.recipient.webhook_url,
        body=body,
        secret=notice.recipient.webhook_secret,
        msg_id=msg_id,
        what=f"notice {notice.id}",
    )


def webhook_post_signed(
    *, url: str, body: bytes, secret: str, msg_id: str, what: str, also_signed_by: Sequence[str] = ()
) -> int:
    """POST once to the checked address, signed (Standard Webhooks; ``also_signed_by`` as in
    ``webhook_headers``). Redirects are never followed: a 3xx is a failed delivery. Raises
    WebhookError (naming ``what``, never the URL) on any failure."""
    host, port, address = webhook_addresses_check(url=url)
    parts = urllib.parse.urlsplit(url)
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(host, port, address=address, timeout=settings.NOTICE_WEBHOOK_TIMEOUT)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "facerights-notices/1",
                **webhook_headers(secret=secret, msg_id=msg_id, body=body, also_signed_by=also_signed_by),
            },
        )
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise WebhookError(f"webhook for {what} failed: {exc.__class__.__name__}") from None
    finally:
        connection.close()
    if 300 <= status < 400:
        raise WebhookError(f"webhook for {what} answered a redirect (HTTP {status}): not followed")
    if not 200 <= status < 300:
        raise WebhookError(f"webhook for {what} answered HTTP {status}")
    return status


class NoticeNotFound(Exception):
    pass


def notice_for_token(*, token: str) -> RecipientNotice:
    notice = RecipientNotice.objects.select_related("recipient").filter(ack_token=token).first()
    if notice is None:
        raise NoticeNotFound("no notice for this link")
    return notice


def notice_acknowledge(*, token: str) -> RecipientNotice:
    """Record the recipient's acknowledgement. Idempotent: a second call changes nothing.

    Raises NoticeNotFound for an unknown token.
    """
    with transaction.atomic():
        notice = (
            RecipientNotice.objects.select_for_update()
            .select_related("recipient")
            .filter(ack_token=token)
            .first()
        )
        if notice is None:
            raise NoticeNotFound("no notice for this link")
        if notice.acknowledged_at is None:
            newly = notice_pending_hashes(notice=notice)
            notice.acknowledged_at = timezone.now()
            notice.acknowledged_hashes = list(notice.image_hashes)
            notice.save(update_fields=["acknowledged_at", "acknowledged_hashes"])
            audit_record(
                actor=f"recipient:{notice.recipient_id}",
                action=AuditAction.RECIPIENT_NOTICE_ACKNOWLEDGED,
                request_id=notice.request_id,
                detail={"notice_id": notice.id, "recipient_id": notice.recipient_id, "images": len(newly)},
            )
            logger.info("recipient notice acknowledged notice=%s", notice.id)
    return notice


@dataclass(frozen=True)
class ChaseResult:
    chased: int  # notices sent (again) by this run
    failed: int  # notices whose sending raised (a dead address...): left due, for the next run


def notices_chase(*, now: datetime | None = None) -> ChaseResult:
    """Chase every unacknowledged notice older than NOTICE_CHASE_AFTER.

    A notice sent (or last chased) longer ago than that is sent again as a reminder. A notice never
    sent that long after its creation (its send task failed for good, or its recipient had no
    contact until staff filled it in) is sent a first time. One notice that cannot be sent (its
    recipient's address is dead) is counted and logged, and never stops the others.
    """
    now = now or timezone.now()
    cutoff = now - settings.NOTICE_CHASE_AFTER
    unacknowledged = RecipientNotice.objects.filter(acknowledged_at__isnull=True).order_by("id")
    reminders = list(
        unacknowledged.filter(sent_at__lt=cutoff)
        .filter(Q(last_chased_at__isnull=True) | Q(last_chased_at__lt=cutoff))
        .values_list("id", flat=True)
    )
    never_sent = list(
        unacknowledged.filter(sent_at__isnull=True, created_at__lt=cutoff).values_list("id", flat=True)
    )
    chased = failed = 0
    for notice_id, chase in [(n, True) for n in reminders] + [(n, False) for n in never_sent]:
        try:
            chased += notice_send(notice_id=notice_id, chase=chase)
        except Exception as exc:
            # Nothing was recorded for it (the send rolled back): it stays due and is retried.
            # The error's type only: a mail server's message may quote an address.
            logger.error("chasing recipient notice %s failed (%s)", notice_id, type(exc).__name__)
            failed += 1
    logger.info("recipient notices chased=%s failed=%s", chased, failed)
    return ChaseResult(chased=chased, failed=failed)
