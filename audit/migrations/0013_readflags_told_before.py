"""Flags stored before told_at existed were stored only when told (audit.reads.unusual_reads_tell
stored and told them together): mark them told, so none is told a second time."""

from django.db import migrations
from django.db.models import F


def mark_told(apps, schema_editor):
    ReadFlag = apps.get_model("audit", "ReadFlag")
    ReadFlag.objects.filter(told_at__isnull=True).update(told_at=F("at"))


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0012_readflag_told_at"),
    ]

    operations = [
        # Reversing leaves the column to be dropped by 0012's reversal: nothing to undo here.
        migrations.RunPython(mark_told, migrations.RunPython.noop),
    ]
