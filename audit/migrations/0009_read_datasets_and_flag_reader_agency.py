"""Issue 22: a read names the owner's datasets it read or opened; a flag keeps the agency the
reader acted for, whose IG officers can be asked to explain it."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0008_link_report_action"),
    ]

    operations = [
        migrations.AddField(
            model_name="readflag",
            name="reader_agency_id",
            field=models.IntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="recordread",
            name="datasets",
            field=models.JSONField(default=list),
        ),
    ]
