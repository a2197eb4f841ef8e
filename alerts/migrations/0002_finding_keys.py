"""Alerts name their findings by (indicator, record) instead of by finding id, which every
nightly run replaced, so that an alert's reasons outlive the night it was raised."""

from django.db import migrations, models


def ids_to_pairs(apps, schema_editor):
    Alert = apps.get_model("alerts", "Alert")
    RiskFinding = apps.get_model("risk", "RiskFinding")
    for alert in Alert.objects.exclude(finding_ids=[]).iterator():
        pairs = RiskFinding.objects.filter(pk__in=alert.finding_ids).values_list(
            "indicator_id", "record_id"
        )
        pairs = sorted([indicator_id, record_id] for indicator_id, record_id in pairs)
        # A new-event alert names its record; its indicator is the rule's.
        if not pairs and alert.record_id is not None and alert.rule.indicator_id is not None:
            pairs = [[alert.rule.indicator_id, alert.record_id]]
        alert.finding_keys = pairs
        alert.save(update_fields=["finding_keys"])


def pairs_to_ids(apps, schema_editor):
    Alert = apps.get_model("alerts", "Alert")
    RiskFinding = apps.get_model("risk", "RiskFinding")
    for alert in Alert.objects.exclude(finding_keys=[]).iterator():
        alert.finding_ids = [
            pk
            for indicator_id, record_id in alert.finding_keys
            for pk in RiskFinding.objects.filter(
                indicator_id=indicator_id, record_id=record_id
            ).values_list("pk", flat=True)
        ]
        alert.save(update_fields=["finding_ids"])


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0001_rules_alerts"),
        ("risk", "0002_retention_and_withdrawal"),
    ]

    operations = [
        migrations.AddField(
            model_name="alert",
            name="finding_keys",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(ids_to_pairs, pairs_to_ids),
        migrations.RemoveField(model_name="alert", name="finding_ids"),
    ]
