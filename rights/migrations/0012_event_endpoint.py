"""Event webhook endpoints as data (rights.EventEndpoint), managed by staff instead of the env.

- Roles: the privacy officer adds and changes them (no one deletes one: it is deactivated);
  reviewers and viewers see them (never a secret: it is shown once, to whoever made or rotated it).
- One-time seed: each ``URL whsec_...`` entry of the old API_EVENT_WEBHOOKS setting becomes an
  active endpoint for every event, keeping its secret (the receiver already checks with it). After
  this migration the setting is read by nothing else.
"""

import base64
import binascii
import uuid

from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

import rights.models

PRIVACY_OFFICER = "Privacy officer"
SEE_ONLY = ["Reviewer", "Viewer"]
EVENTS = ["request.received", "request.answered", "request.overdue"]


def _permissions(apps, codenames):
    app_config = apps.get_app_config("rights")
    app_config.models_module = True  # as in 0002: create_permissions needs one on a historical config
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return list(Permission.objects.filter(content_type__app_label="rights", codename__in=codenames))


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    roles = {PRIVACY_OFFICER: ["view_eventendpoint", "add_eventendpoint", "change_eventendpoint"]}
    roles.update({name: ["view_eventendpoint"] for name in SEE_ONLY})
    for name, codenames in roles.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.add(*_permissions(apps, codenames))


def revoke(apps, schema_editor):
    codenames = ["view_eventendpoint", "add_eventendpoint", "change_eventendpoint"]
    for group in apps.get_model("auth", "Group").objects.filter(name__in=[PRIVACY_OFFICER, *SEE_ONLY]):
        group.permissions.remove(*_permissions(apps, codenames))


def legacy_entries(entries):
    """(url, secret) of each well-formed ``URL whsec_<base64>`` entry; a malformed one is skipped."""
    found = []
    for entry in entries:
        url, _, secret = str(entry).strip().partition(" ")
        secret = secret.strip()
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            continue
        if url.startswith(("https://", "http://")) and secret.startswith("whsec_") and key:
            found.append((url, secret))
    return found


def seed(apps, schema_editor):
    EventEndpoint = apps.get_model("rights", "EventEndpoint")
    for url, secret in legacy_entries(getattr(settings, "API_EVENT_WEBHOOKS", [])):
        if not EventEndpoint.objects.filter(url=url).exists():
            EventEndpoint.objects.create(
                url=url, secret=secret, events=EVENTS, active=True, description="API_EVENT_WEBHOOKS"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("rights", "0011_match_group"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.CreateModel(
            name="EventEndpoint",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("public_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("url", models.URLField(max_length=2000, verbose_name="URL")),
                ("description", models.CharField(blank=True, max_length=200, verbose_name="description")),
                (
                    "secret",
                    models.CharField(
                        default=rights.models.new_webhook_secret, editable=False, max_length=100
                    ),
                ),
                ("events", models.JSONField(default=list, verbose_name="events")),
                ("active", models.BooleanField(default=True, verbose_name="active")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("last_delivery_at", models.DateTimeField(blank=True, null=True)),
                ("last_delivery_status", models.CharField(blank=True, max_length=200)),
            ],
        ),
        migrations.RunPython(grant, revoke),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
