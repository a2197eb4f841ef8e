# The data migration of DataKey's move: its content type, and with it the permissions that name
# it, follow the model to core/ instead of being left behind for a new one to be made beside them.

from django.db import migrations


def _relabel(apps, *, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    if ContentType.objects.filter(app_label=new, model="datakey").exists():
        return
    ContentType.objects.filter(app_label=old, model="datakey").update(app_label=new)


def content_type_to_core(apps, schema_editor):
    _relabel(apps, old="sharehub", new="core")


def content_type_to_sharehub(apps, schema_editor):
    _relabel(apps, old="core", new="sharehub")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0001_datakey_from_sharehub"),
    ]

    operations = [migrations.RunPython(content_type_to_core, content_type_to_sharehub)]
