# DataKey now belongs to core/ (core/migrations/0001_datakey_from_sharehub.py): sharehub/ lets
# go of it in Django's picture of the models only; the table stays, and core/ reads it.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("sharehub", "0002_datakey_retired_at"),
        ("core", "0001_datakey_from_sharehub"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="DataKey")],
            database_operations=[],
        ),
    ]
