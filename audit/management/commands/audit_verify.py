"""manage.py audit_verify: check the audit trail's hash chain; exit 1 at the first broken link."""

from django.core.management.base import BaseCommand, CommandError

from audit.services import audit_verify


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain and report the first broken link."

    def handle(self, *args, **options):
        result = audit_verify()
        if result.broken is not None:
            raise CommandError(
                f"Audit trail broken at entry {result.broken.entry_id} "
                f"({result.broken.reason}); {result.entries} entries before it are intact."
            )
        self.stdout.write(f"Audit trail intact: {result.entries} entries.")
