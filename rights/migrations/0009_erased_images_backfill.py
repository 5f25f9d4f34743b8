# Ingestion refuses bytes recorded in matching.ErasedImage; erasures made before that record existed
# are only in the erasure ledger. Recorded here from every completed ledger row, named as the erasure
# code names them (the request's id), so that those bytes are refused at ingestion too.

from django.db import migrations


def erased_images_backfill(apps, schema_editor):
    ErasureRecord = apps.get_model("rights", "ErasureRecord")
    ErasedImage = apps.get_model("matching", "ErasedImage")
    completed = (
        ErasureRecord.objects.exclude(removed_from=[])
        .order_by("erased_at", "id")  # the first erasure of the same bytes names them
        .values_list("image_sha256", "erased_at", "request_id")
    )
    for sha256, erased_at, request_id in completed.iterator(chunk_size=2000):
        # get_or_create: a hash already recorded (by a deletion, or a run before) keeps its row.
        ErasedImage.objects.get_or_create(
            sha256=sha256, defaults={"erased_at": erased_at, "reference": str(request_id)}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("rights", "0008_casework"),
        ("matching", "0002_erasedimage"),
    ]

    # Nothing to undo: forgetting an erased image would let its bytes be collected again.
    operations = [migrations.RunPython(erased_images_backfill, migrations.RunPython.noop)]
