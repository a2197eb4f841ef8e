from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("agencies", "0011_extract_number_backfill")]

    operations = [
        migrations.AlterField(
            model_name="extract",
            name="number",
            field=models.PositiveIntegerField(editable=False),
        ),
        migrations.AddConstraint(
            model_name="extract",
            constraint=models.UniqueConstraint(
                fields=("dataset", "number"), name="extract_unique_number_in_dataset"
            ),
        ),
    ]
