from django.db import migrations

FINISHED_WITHOUT_LOADING = ["rejected", "failed"]


def extracts_number(apps, schema_editor):
    """Number each dataset's extracts 1, 2, 3 ... in upload order."""
    Extract = apps.get_model("agencies", "Extract")
    numbered = []
    dataset_id, number = None, 0
    for extract in Extract.objects.order_by("dataset_id", "uploaded_at", "id").only(
        "id", "dataset_id"
    ):
        if extract.dataset_id != dataset_id:
            dataset_id, number = extract.dataset_id, 0
        number += 1
        extract.number = number
        numbered.append(extract)
    Extract.objects.bulk_update(numbered, ["number"], batch_size=1000)


def rejected_counts_clear(apps, schema_editor):
    """A rejected or failed extract loaded nothing, but kept the counts of the attempt ("17
    loaded"): they read as if its rows were in the dataset."""
    Extract = apps.get_model("agencies", "Extract")
    Extract.objects.filter(status__in=FINISHED_WITHOUT_LOADING).update(
        rows_loaded=0, rows_warned=0, records_retired=0, repairs={}
    )


class Migration(migrations.Migration):
    dependencies = [("agencies", "0010_extract_number")]

    operations = [
        migrations.RunPython(extracts_number, migrations.RunPython.noop),
        migrations.RunPython(rejected_counts_clear, migrations.RunPython.noop),
    ]
