"""Staff accounts, roles and second-factor devices: every change made through the admin is written to
the audit trail."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from rights.lifecycle.audit import actor_for, audit_record
from rights.models import AuditAction

# --- Staff accounts and roles: every change through the admin is in the audit trail -------------


def _names(queryset: QuerySet) -> set[str]:
    return {str(item) for item in queryset}


def _permission_names(queryset: QuerySet) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in queryset.select_related("content_type")}


class _AuditedAccountsAdmin:
    """Adds an audit row to every addition, change and deletion of a staff account or role.

    Who gets which role is a staff action like any other (issue 4, item 9). The row is written in
    the transaction of the change (the admin's add, change and delete views are atomic; the
    password and bulk-delete paths are made so here), with the actor, the object and what changed:
    roles and permissions added or removed, and the flags before and after.
    """

    audit_noun = ""
    audit_flags: tuple[str, ...] = ()

    def audit_snapshot(self, obj: Any) -> dict[str, Any]:
        raise NotImplementedError

    def audit_identity(self, obj: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _audit(self, request: HttpRequest, obj: Any, verb: str, detail: dict[str, Any]) -> None:
        audit_record(
            actor=actor_for(request.user),
            action=AuditAction(f"{self.audit_noun}_{verb}"),
            reason=f"{self.audit_noun.replace('_', ' ')} {verb} in the admin",
            detail={**self.audit_identity(obj), **detail},
        )

    def _difference(self, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        detail: dict[str, Any] = {}
        for key, now in after.items():
            was = before.get(key, set() if isinstance(now, set) else None)
            if isinstance(now, set):
                if now - was:
                    detail[f"{key}_added"] = sorted(now - was)
                if was - now:
                    detail[f"{key}_removed"] = sorted(was - now)
            elif was != now:
                detail[key] = {"from": was, "to": now}
        return detail

    @staticmethod
    def _as_recorded(snapshot: dict[str, Any]) -> dict[str, Any]:
        """What the account or role was when deleted."""
        return {key: sorted(value) if isinstance(value, set) else value for key, value in snapshot.items()}

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        obj._audit_before = self.audit_snapshot(obj) if change and obj.pk else {}
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        obj = form.instance
        obj._audit_detail = self._difference(getattr(obj, "_audit_before", {}), self.audit_snapshot(obj))

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        entry = super().log_addition(request, obj, message)
        self._audit(request, obj, "added", getattr(obj, "_audit_detail", {}))
        return entry

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        entry = super().log_change(request, obj, message)
        changed = [field for part in message or [] for field in part.get("changed", {}).get("fields", [])]
        self._audit(request, obj, "changed", {"fields": changed, **getattr(obj, "_audit_detail", {})})
        return entry

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            self._audit(request, obj, "deleted", self._as_recorded(self.audit_snapshot(obj)))
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with transaction.atomic():
            for obj in queryset:
                self._audit(request, obj, "deleted", self._as_recorded(self.audit_snapshot(obj)))
            super().delete_queryset(request, queryset)


class AuditedUserAdmin(_AuditedAccountsAdmin, UserAdmin):
    audit_noun = "staff_user"

    def audit_identity(self, obj: Any) -> dict[str, Any]:
        return {"user_id": obj.pk, "username": obj.get_username()}

    def audit_snapshot(self, obj: Any) -> dict[str, Any]:
        if not obj.pk:
            return {}
        fresh = type(obj)._default_manager.get(pk=obj.pk)
        return {
            "is_active": fresh.is_active,
            "is_staff": fresh.is_staff,
            "is_superuser": fresh.is_superuser,
            "groups": _names(fresh.groups.all()),
            "permissions": _permission_names(fresh.user_permissions.all()),
        }

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        # The new password and its audit row (written by log_change) in one transaction.
        with transaction.atomic():
            return super().user_change_password(request, id, form_url)


class AuditedGroupAdmin(_AuditedAccountsAdmin, GroupAdmin):
    audit_noun = "staff_role"

    def audit_identity(self, obj: Any) -> dict[str, Any]:
        return {"group_id": obj.pk, "group": obj.name}

    def audit_snapshot(self, obj: Any) -> dict[str, Any]:
        if not obj.pk:
            return {}
        fresh = type(obj)._default_manager.get(pk=obj.pk)
        return {"name": fresh.name, "permissions": _permission_names(fresh.permissions.all())}


# django-otp marks none of its texts for translation: the second-factor screens get ours. Only what is
# shown changes: a field's display name (verbose_name, not the _verbose_name its migrations compare)
# and its help text (the very English text, so makemigrations, which runs untranslated, sees no change).
DEVICE_FIELDS = {
    "user": (_("user"), _("The user that this device belongs to.")),
    "name": (_("name"), _("The human-readable name of this device.")),
    "confirmed": (_("confirmed"), _("Is this device ready for use?")),
    "throttling_failure_timestamp": (
        _("throttling failure timestamp"),
        _("A timestamp of the last failed verification attempt. Null if last attempt succeeded."),
    ),
    "throttling_failure_count": (_("throttling failure count"), _("Number of successive failed attempts.")),
    "created_at": (
        _("created at"),
        _("The date and time when this device was initially created in the system."),
    ),
    "last_used_at": (_("last used at"), _("The most recent date and time this device was used.")),
    "key": (_("key"), _("A hex-encoded secret key of up to 40 bytes.")),
    "step": (_("step"), _("The time step in seconds.")),
    "t0": (_("t0"), _("The Unix time at which to begin counting steps.")),
    "digits": (_("digits"), _("The number of digits to expect in a token.")),
    "tolerance": (_("tolerance"), _("The number of time steps in the past or future to allow.")),
    "drift": (_("drift"), _("The number of time steps the prover is known to deviate from our clock.")),
    "last_t": (
        _("last t"),
        _("The t value of the latest verified token. The next token must be at a higher time step."),
    ),
}
DEVICE_FIELDSETS = {
    "Identity": _("Identity"),
    "Timestamps": _("Timestamps"),
    "Configuration": _("Configuration"),
    "State": _("State"),
    "Throttling": _("Throttling"),
}


def _device_texts_translate() -> None:
    for name, (label, help_text) in DEVICE_FIELDS.items():
        field = TOTPDevice._meta.get_field(name)
        with translation.override(None):  # the msgid itself
            if str(help_text) != field.help_text:  # django-otp changed its text: keep its own
                continue
        field.verbose_name, field.help_text = label, help_text
    TOTPDevice._meta.verbose_name = _("TOTP device")
    TOTPDevice._meta.verbose_name_plural = _("TOTP devices")


_device_texts_translate()


class AuditedDeviceAdmin(_AuditedAccountsAdmin, TOTPDeviceAdmin):
    """A staff member's second factor added, changed or removed by another in the admin."""

    audit_noun = "staff_second_factor"
    search_help_text = _("Search by the user's username or email address.")

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        return [
            (DEVICE_FIELDSETS.get(title, title) if title else title, options)
            for title, options in super().get_fieldsets(request, obj)
        ]

    @admin.display(description=_("QR code"))
    def qrcode_link(self, device: TOTPDevice) -> str:
        return super().qrcode_link(device)

    def audit_identity(self, obj: Any) -> dict[str, Any]:
        return {"device_id": obj.pk, "device": obj.name, "user_id": obj.user_id}

    def audit_snapshot(self, obj: Any) -> dict[str, Any]:
        if not obj.pk:
            return {}
        fresh = type(obj)._default_manager.get(pk=obj.pk)  # never the key: it is the secret
        return {"user_id": fresh.user_id, "name": fresh.name, "confirmed": fresh.confirmed}


_AUDITED = ((User, AuditedUserAdmin), (Group, AuditedGroupAdmin), (TOTPDevice, AuditedDeviceAdmin))
for _model, _admin_class in _AUDITED:
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _admin_class)
