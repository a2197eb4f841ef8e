import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from matching.export import ExportError, export_purpose_clean, linkage_export_write


class Command(BaseCommand):
    help = (
        "Write the linked dataset (records, person and household pseudonyms, link scores) as CSV. "
        "Pseudonyms are made under a key drawn for this export only."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, type=Path, help="CSV file to write")
        parser.add_argument("--purpose", required=True, help="What the export is for (recorded)")

    def handle(self, *args, out: Path, purpose: str, **options):
        try:
            export_purpose_clean(purpose)
        except ExportError as error:
            raise CommandError(str(error)) from error
        if out.exists():
            raise CommandError(f"{out} already exists: choose a new file name.")
        # Readable by the owner only: the file says which agency records are one person.
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(descriptor, "w", newline="", encoding="utf-8") as stream:
            export = linkage_export_write(stream, purpose=purpose, made_by=None, channel="command")
        self.stdout.write(f"Linkage export {export.pk}: {export.rows:,} rows written to {out}.")
