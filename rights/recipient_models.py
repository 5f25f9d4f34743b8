"""The models of what was handed to whom and who is told: recipients of the collection's images,
their releases and erasure notices, and the event endpoints of other systems. Kept out of models.py
(its size); rights.models re-exports them, so ``from rights.models import Recipient`` keeps working.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from rights.tokens import new_public_token, new_webhook_secret


class Recipient(models.Model):
    """An organisation the collection's images were handed to (Art. 17(2), Art. 19)."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    contact_email = models.EmailField(_("contact email"))
    webhook_url = models.URLField(_("webhook URL"), blank=True)
    # Standard Webhooks signing secret ("whsec_" + base64): every notice POST is signed with it.
    webhook_secret = models.CharField(max_length=100, default=new_webhook_secret, editable=False)

    class Meta:
        app_label = "rights"
        verbose_name = _("recipient")
        verbose_name_plural = _("recipients")

    def __str__(self) -> str:
        return self.name


class EventType(models.TextChoices):
    RECEIVED = "request.received", _("A request was received")
    ANSWERED = "request.answered", _("A request was answered")
    OVERDUE = "request.overdue", _("A request is overdue")


class EventEndpoint(models.Model):
    """Another system told of request events, signed with its own secret (rights.recipients.events)."""

    # The API's name for it.
    public_id = models.UUIDField(_("public ID"), default=uuid.uuid4, unique=True, editable=False)
    url = models.URLField(_("URL"), max_length=2000)
    description = models.CharField(_("description"), max_length=200, blank=True)
    # Standard Webhooks secret made by us, shown once (on creation and on each rotation).
    secret = models.CharField(max_length=100, default=new_webhook_secret, editable=False)
    # The secret a rotation replaced: it signs every delivery beside the new one until
    # ``previous_secret_until``, so the receiver can switch without losing one (events.py).
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_until = models.DateTimeField(
        _("previous secret signs until"), null=True, blank=True, editable=False
    )
    events = models.JSONField(_("events"), default=list)  # values of EventType
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    last_delivery_at = models.DateTimeField(_("last delivery at"), null=True, blank=True)
    # "HTTP 204" or why it failed, as the worker wrote it (stored text: shown as written).
    last_delivery_status = models.CharField(_("last delivery status"), max_length=200, blank=True)

    class Meta:
        app_label = "rights"
        verbose_name = _("event endpoint")
        verbose_name_plural = _("event endpoints")

    def __str__(self) -> str:
        return self.description or self.url

    def wants(self, event: str) -> bool:
        """The one rule of who gets an event: active, and subscribed to it (checked again at send)."""
        return self.active and event in self.events


class Release(models.Model):
    """Which image was handed to which recipient, and when. Outlives the image (hash kept)."""

    recipient = models.ForeignKey(
        Recipient, verbose_name=_("recipient"), on_delete=models.PROTECT, related_name="releases"
    )
    image = models.ForeignKey(
        "matching.Image",
        verbose_name=_("image"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="releases",
    )
    image_sha256 = models.CharField(_("image SHA-256"), max_length=64, db_index=True)
    released_at = models.DateTimeField(_("released at"))

    class Meta:
        app_label = "rights"
        verbose_name = _("release")
        verbose_name_plural = _("releases")
        constraints = [
            models.UniqueConstraint(fields=["recipient", "image_sha256"], name="one_release_per_image")
        ]

    def __str__(self) -> str:
        return gettext("%(image)s released to %(recipient)s") % {
            "image": self.image_sha256[:12],
            "recipient": self.recipient,
        }


class RecipientNotice(models.Model):
    """An erasure notice to one recipient, listing the hashes of the erased images it held."""

    request = models.ForeignKey(
        "rights.DataRequest", verbose_name=_("request"), on_delete=models.PROTECT, related_name="notices"
    )
    recipient = models.ForeignKey(
        Recipient, verbose_name=_("recipient"), on_delete=models.PROTECT, related_name="notices"
    )
    image_hashes = models.JSONField(_("image hashes"), default=list)
    ack_token = models.CharField(
        _("acknowledgement token"), max_length=64, unique=True, default=new_public_token, editable=False
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    webhook_delivered_at = models.DateTimeField(_("webhook delivered at"), null=True, blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    # The hashes the recipient has acknowledged: kept when an extension adds hashes (and clears
    # acknowledged_at), so the record of the first acknowledgement is never lost.
    acknowledged_hashes = models.JSONField(_("acknowledged hashes"), default=list, blank=True)
    last_chased_at = models.DateTimeField(_("last chased at"), null=True, blank=True)
    chase_count = models.PositiveIntegerField(_("chase count"), default=0)

    class Meta:
        app_label = "rights"
        verbose_name = _("recipient notice")
        verbose_name_plural = _("recipient notices")
        constraints = [
            models.UniqueConstraint(fields=["request", "recipient"], name="one_notice_per_recipient")
        ]

    def __str__(self) -> str:
        return gettext("Notice to %(recipient)s for request #%(request)s") % {
            "recipient": self.recipient,
            "request": self.request_id,
        }
