"""Issue 22: questions to the reader's agency about a flagged read, and their answers."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0009_read_datasets_and_flag_reader_agency"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditentry",
            name="action",
            field=models.CharField(
                choices=[
                    ("search", "Search"),
                    ("summary", "Case summary"),
                    ("unlock", "Assessment step recorded"),
                    ("override", "Safeguarding override"),
                    ("consent", "Consent read or recorded"),
                    ("consent_request", "Consent request"),
                    ("risk", "Risk score and reasons"),
                    ("alert", "Alert"),
                    ("drilldown", "Dashboard drill-down"),
                    ("export", "Export"),
                    ("protocol", "Protocol change"),
                    ("review", "Link review decision"),
                    ("upload", "Extract uploaded"),
                    ("login", "Signed in"),
                    ("login_failed", "Sign-in failed"),
                    ("subject_access", "Subject access report"),
                    ("retention", "Retention period changed"),
                    ("withdrawal", "Withdrawal requested"),
                    ("erasure", "Records erased"),
                    ("relink", "Re-link of everything requested"),
                    ("review_read", "Link review item read"),
                    ("release", "Subject access part released"),
                    ("grant", "Protocol given or taken back"),
                    ("link_report", "Wrong or missed link reported"),
                    ("read_question", "Reading explained: asked or answered"),
                ],
                max_length=20,
            ),
        ),
        migrations.CreateModel(
            name="ReadQuestion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("owner_agency_id", models.IntegerField()),
                ("reader_agency_id", models.IntegerField()),
                ("asked_at", models.DateTimeField()),
                ("question", models.TextField()),
                ("answered_at", models.DateTimeField(blank=True, null=True)),
                ("answer", models.TextField(blank=True)),
                (
                    "answered_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "asked_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "flag",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="questions",
                        to="audit.readflag",
                    ),
                ),
            ],
            options={
                "ordering": ["-asked_at", "-pk"],
                "indexes": [
                    models.Index(
                        fields=["owner_agency_id", "asked_at"],
                        name="audit_readq_owner_a_33f7ab_idx",
                    ),
                    models.Index(
                        fields=["reader_agency_id", "asked_at"],
                        name="audit_readq_reader__53b8a7_idx",
                    ),
                ],
            },
        ),
    ]
