from django.db import migrations, models


class Migration(migrations.Migration):
    """Extracts numbered within their dataset: the field, empty until 0010 fills it."""

    dependencies = [("agencies", "0009_sealed_uploads")]

    operations = [
        migrations.AddField(
            model_name="extract",
            name="number",
            field=models.PositiveIntegerField(editable=False, null=True),
        ),
    ]
