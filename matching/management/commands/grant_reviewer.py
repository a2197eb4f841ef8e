from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from matching.review import reviewer_grant, reviewer_revoke


class Command(BaseCommand):
    help = "Let a user review uncertain record links (or, with --revoke, stop them)."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--revoke", action="store_true", help="Take the permission away")

    def handle(self, *args, email: str, revoke: bool, **options):
        user = get_user_model().objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user has the email address {email}.")
        if revoke:
            changed = reviewer_revoke(user=user)
            self.stdout.write(
                f"{user.email} can no longer review links."
                if changed
                else f"{user.email} could not review links; nothing changed."
            )
            return
        changed = reviewer_grant(user=user)
        self.stdout.write(
            f"{user.email} can now review links."
            if changed
            else f"{user.email} could already review links; nothing changed."
        )
