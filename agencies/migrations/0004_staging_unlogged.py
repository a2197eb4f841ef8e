from django.db import migrations


def set_unlogged(apps, schema_editor):
    # Staging is thrown away and rebuilt on every ingest attempt, so writing it to the WAL buys
    # nothing; unlogged, COPY into it costs less. PostgreSQL only; SQLite has no such tables.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE agencies_stagedrow SET UNLOGGED")


def set_logged(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE agencies_stagedrow SET LOGGED")


class Migration(migrations.Migration):
    dependencies = [("agencies", "0003_api_tokens")]

    operations = [migrations.RunPython(set_unlogged, set_logged)]
