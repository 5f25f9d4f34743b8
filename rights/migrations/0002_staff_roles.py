"""Staff roles as Django groups: privacy officer, reviewer, viewer.

- Privacy officer: everything on requests (approve, extend, refuse, review, link, export the
  compliance report), recipients and releases; the audit trail stays read-only for everyone.
- Reviewer: confirms or rejects candidate matches, and sees everything; no approval, extension or
  refusal.
- Viewer: sees everything, changes nothing.

Permissions are normally created after all migrations have run (post_migrate); they are created
here first so that the groups can be given them on a fresh database.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

PRIVACY_OFFICER = "Privacy officer"
REVIEWER = "Reviewer"
VIEWER = "Viewer"

RIGHTS_MODELS = [
    "datarequest",
    "selfie",
    "match",
    "answer",
    "erasurerecord",
    "purgerecord",
    "auditevent",
    "recipient",
    "release",
    "recipientnotice",
]
MATCHING_MODELS = ["image", "face", "suppressedface", "ingestionskip"]
STAFF_ACTIONS = [
    "review_match",
    "approve_request",
    "extend_request",
    "refuse_request",
    "export_compliance_report",
]
# What the privacy officer may edit directly in the admin (everything else goes through services).
OFFICER_EDITS = [
    ("change", "datarequest"),  # linking requests
    ("add", "recipient"),
    ("change", "recipient"),
    ("add", "release"),
    ("change", "release"),
]


def _views() -> list[tuple[str, str]]:
    return [("rights", f"view_{m}") for m in RIGHTS_MODELS] + [
        ("matching", f"view_{m}") for m in MATCHING_MODELS
    ]


def create_roles(apps, schema_editor):
    for label in ("rights", "matching"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True  # historical app configs carry none; create_permissions needs one
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def permissions(pairs):
        found = []
        for app_label, codename in pairs:
            permission = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if permission is not None:  # a model added later gets its permissions in its own migration
                found.append(permission)
        return found

    views = _views()
    roles = {
        VIEWER: views,
        REVIEWER: [*views, ("rights", "review_match")],
        PRIVACY_OFFICER: [
            *views,
            *[("rights", codename) for codename in STAFF_ACTIONS],
            *[("rights", f"{verb}_{model}") for verb, model in OFFICER_EDITS],
        ],
    }
    for name, pairs in roles.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(permissions(pairs))


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[PRIVACY_OFFICER, REVIEWER, VIEWER]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("matching", "0001_initial"),
        ("rights", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
