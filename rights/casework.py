"""Models of staff casework on a request: who it is assigned to, internal notes and messages to the
requester. Kept out of models.py (its size); rights.models imports them, so they are its models.

Rows change only through rights.staff.casework, which audits each change.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class Assignment(models.Model):
    """The member of staff a request is assigned to (one at a time; reassigning replaces it)."""

    request = models.OneToOneField("rights.DataRequest", on_delete=models.CASCADE, related_name="assignment")
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assigned_at = models.DateTimeField()

    class Meta:
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        app_label = "rights"

    def __str__(self) -> str:
        return gettext("Request #%(request)s assigned to %(assignee)s") % {
            "request": self.request_id,
            "assignee": self.assignee,
        }


class RequestNote(models.Model):
    """An internal note (staff only) or a message to the requester (emailed, shown on the status page)."""

    class Kind(models.TextChoices):
        INTERNAL = "internal", _("Internal note")
        MESSAGE = "message", _("Message to the requester")

    request = models.ForeignKey("rights.DataRequest", on_delete=models.CASCADE, related_name="notes")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Messages: when the email went (null: not sent, e.g. the mail server refused it; still shown).
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        app_label = "rights"
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return gettext("%(kind)s on request #%(request)s") % {
            "kind": self.get_kind_display(),
            "request": self.request_id,
        }
