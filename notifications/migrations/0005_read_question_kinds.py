"""Issue 22: notifications of a question about a flagged read, and of its answer."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0004_link_report_kind"),
    ]

    operations = [
        migrations.AlterField(
            model_name="notification",
            name="kind",
            field=models.CharField(
                choices=[
                    ("consent_requested", "Consent request"),
                    ("consent_answered", "Consent request answered"),
                    ("consent_recorded", "Consent recorded about your records"),
                    ("override_to_review", "Safeguarding override to review"),
                    ("override_ended", "Safeguarding override ended"),
                    ("override_reviewed", "Safeguarding override reviewed"),
                    ("alert_raised", "New alerts"),
                    ("alert_assigned", "Alert assigned to you"),
                    ("release_requested", "Subject access: your agency's part to review"),
                    ("release_done", "Subject access: another agency released its part"),
                    ("consent_to_confirm", "Consent recorded by another agency to confirm"),
                    ("unusual_read", "Unusual reading of your agency's records"),
                    ("link_report_decided", "Link you reported decided"),
                    ("read_question", "Another agency asks about your staff's reading"),
                    ("read_answered", "Reading of your agency's records explained"),
                ],
                max_length=32,
            ),
        ),
    ]
