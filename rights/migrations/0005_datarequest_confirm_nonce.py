import secrets

from django.db import migrations, models

import rights.models


def nonces_fill(apps, schema_editor):
    # One nonce per existing row (a callable default gives every existing row the same value).
    DataRequest = apps.get_model("rights", "DataRequest")
    for request in DataRequest.objects.filter(confirm_nonce__isnull=True).only("id"):
        DataRequest.objects.filter(id=request.id).update(confirm_nonce=secrets.token_urlsafe(32))


class Migration(migrations.Migration):
    dependencies = [
        ("rights", "0004_datarequest_language"),
    ]

    operations = [
        migrations.AddField(
            model_name="datarequest",
            name="confirm_nonce",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.RunPython(nonces_fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="datarequest",
            name="confirm_nonce",
            field=models.CharField(
                default=rights.models.new_public_token, editable=False, max_length=64, unique=True
            ),
        ),
    ]
