import os
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from matching.export import ExportError, export_statement_clean, linkage_export_write


class Command(BaseCommand):
    help = (
        "Write every agency's linked records (agency, dataset, source record id, person and "
        "household pseudonyms, link scores) as CSV, for a platform admin checking linkage. The "
        "admin and the purpose are recorded in the audit trail. Pseudonyms are made under a key "
        "drawn for this export only. Analysts export what their protocols share at "
        "/linkage/export/."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, type=Path, help="CSV file to write")
        parser.add_argument("--purpose", required=True, help="What the export is for (recorded)")
        parser.add_argument(
            "--by", required=True, help="Email of the platform admin making it (recorded)"
        )

    def handle(self, *args, out: Path, purpose: str, by: str, **options):
        try:
            export_statement_clean(purpose)
        except ExportError as error:
            raise CommandError(str(error)) from error
        admin = get_user_model().objects.filter(email__iexact=by.strip()).first()
        if out.exists():
            raise CommandError(f"{out} already exists: choose a new file name.")
        try:
            # Readable by the owner only: the file says which agency records are one person.
            descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as error:
            raise CommandError(f"{out} cannot be written: {error.strerror}.") from error
        try:
            with open(descriptor, "w", newline="", encoding="utf-8") as stream:
                export = linkage_export_write(stream, admin=admin, statement=purpose)
        except ExportError as error:
            out.unlink(missing_ok=True)
            raise CommandError(str(error)) from error
        self.stdout.write(f"Linkage export {export.pk}: {export.rows:,} rows written to {out}.")
