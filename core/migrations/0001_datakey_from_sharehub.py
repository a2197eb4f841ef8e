# DataKey moves from sharehub/ (the top) to core/ (the base), where the key handling that reads it
# now lives. Only Django's picture of the models changes: the table stays as it is, under its
# name, so no row is copied and nothing is locked.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("agencies", "0002_datasets_extracts_records"),
        ("sharehub", "0002_datakey_retired_at"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="DataKey",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("version", models.PositiveIntegerField()),
                        ("wrapped_key", models.BinaryField()),
                        ("master_key_version", models.PositiveIntegerField()),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("retired_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "agency",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="agencies.agency",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "sharehub_datakey",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("agency", "version"), name="datakey_unique_version"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
