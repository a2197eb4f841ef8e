"""The usual override length of the versions written before there was one (issue 21).

0006 gives every existing version the new 24 hours, a shorter start than the longest override
practitioners were offered until now; it is only the length the form starts at, never what a
protocol allows, so approved texts keep their meaning. A version whose longest override is
under a day gets that instead, as the form offered it before: the usual length is never more
than the most.
"""

from django.db import migrations
from django.db.models import F


def usual_within_most(apps, schema_editor):
    ProtocolVersion = apps.get_model("protocols", "ProtocolVersion")
    ProtocolVersion.objects.filter(override_max_hours__lt=F("override_default_hours")).update(
        override_default_hours=F("override_max_hours")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("protocols", "0006_override_default_hours"),
    ]

    # Backwards, 0006 drops the column; nothing to undo here first.
    operations = [migrations.RunPython(usual_within_most, migrations.RunPython.noop)]
