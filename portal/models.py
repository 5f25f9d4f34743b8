"""What the portal keeps about its staff accounts beyond Django's own user: their own choices."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class StaffPreference(models.Model):
    """One staff member's choices, made by themselves on their account page (portal.account_views).

    ``language``: the language of this account's admin pages (portal.middleware's
    StaffLanguageMiddleware) and of the emails only staff receive (reminders, escalations, alerts)
    when they go to this account's address (portal.staff_language)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_preference"
    )
    language = models.CharField(
        _("language of your admin pages and emails"),
        max_length=16,
        choices=settings.LANGUAGES,
        default=settings.LANGUAGE_CODE,
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.language}"
