"""The privacy officer records requests received by email, post, phone or an agent
(rights.add_datarequest: the dashboard's intake page and the API's submit)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

PRIVACY_OFFICER = "Privacy officer"


def _permission(apps):
    app_config = apps.get_app_config("rights")
    app_config.models_module = True  # as in 0002: create_permissions needs one on a historical config
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(content_type__app_label="rights", codename="add_datarequest").first()


def grant(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name=PRIVACY_OFFICER).first()
    permission = _permission(apps)
    if group is not None and permission is not None:
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name=PRIVACY_OFFICER).first()
    permission = _permission(apps)
    if group is not None and permission is not None:
        group.permissions.remove(permission)


class Migration(migrations.Migration):
    dependencies = [("rights", "0009_erased_images_backfill")]
    operations = [migrations.RunPython(grant, revoke)]
