"""manage.py audit_anchor: write the audit trail's head hash and entry count outside the
database now (beat does it every few minutes through audit.tasks.anchor)."""

from django.core.management.base import BaseCommand

from audit.anchors import audit_anchor


class Command(BaseCommand):
    help = "Anchor the audit trail's head hash and entry count in SHAREHUB_AUDIT_ANCHOR_PATH."

    def handle(self, *args, **options):
        anchor = audit_anchor()
        if anchor is None:
            self.stdout.write("Nothing new to anchor.")
        else:
            self.stdout.write(f"Anchored {anchor.entries} entries, head entry {anchor.entry}.")
