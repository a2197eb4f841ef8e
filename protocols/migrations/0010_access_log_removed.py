"""protocols.AccessLog goes: the audit trail is the one log of who read what, its rows carried
into it first (audit 0014). Its PROTECT key on matching.Person kept every person ever read as
an empty row after retention; the trail names them by reference only."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("protocols", "0009_sealed_records"),
        ("audit", "0014_access_log_into_trail"),
    ]

    operations = [
        migrations.DeleteModel(name="AccessLog"),
    ]
