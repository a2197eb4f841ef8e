"""manage.py audit_verify: check the audit trail's keyed hash chain against its anchors; exit 1
at the first broken link, at a tail shorter than anchored, or at an anchor line that is not ours."""

from django.core.management.base import BaseCommand, CommandError

from audit.services import audit_verify

REASONS = {
    "changed": "its content no longer gives its hash",
    "forged": "its hash is the plain SHA-256 anyone can compute, not the keyed one: recomputed",
    "downgraded": "it claims to be written before keys, after keyed entries: recomputed",
    "unlinked": "it does not point at the entry before it: an entry was changed or removed",
    "no_key": "its audit key version is not in SHAREHUB_AUDIT_KEY",
    "anchor": "it differs from what an anchor outside the database recorded: recomputed",
    "missing": "an anchored entry is gone",
    "gap": "its id does not follow the entry before it: entries before it were deleted",
}


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain against its anchors and report the first fault."

    def handle(self, *args, **options):
        result = audit_verify()
        if result.broken is not None:
            raise CommandError(
                f"Audit trail broken at entry {result.broken.entry_id} ({result.broken.reason}: "
                f"{REASONS.get(result.broken.reason, '')}); {result.entries} entries before it "
                "are intact."
            )
        if result.truncated is not None:
            raise CommandError(
                f"Audit trail truncated: an anchor counted {result.truncated.anchored} entries "
                f"up to entry {result.truncated.anchored_entry}; the table holds "
                f"{result.truncated.found}."
            )
        if result.bad_anchors:
            raise CommandError(
                f"{result.bad_anchors} anchor line(s) do not carry a valid MAC under "
                "SHAREHUB_AUDIT_KEY: the anchor file was written to by someone else."
            )
        if not result.anchors:
            self.stderr.write(
                "No anchors found: a cut tail cannot be detected. Check that "
                "SHAREHUB_AUDIT_ANCHOR_PATH is written (audit.tasks.anchor runs on beat)."
            )
        self.stdout.write(
            f"Audit trail intact: {result.entries} entries, checked against "
            f"{result.anchors} anchors."
        )
