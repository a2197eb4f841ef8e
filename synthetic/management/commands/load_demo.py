import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from agencies.models import Role
from synthetic.demo import DEMO_PASSWORD, DEMO_PEOPLE, demo_load


class Command(BaseCommand):
    help = "Load the demo partnership (agencies and a login per role). Safe to run repeatedly."

    def add_arguments(self, parser):
        parser.add_argument(
            "--people",
            type=int,
            default=DEMO_PEOPLE,
            help="Size of the synthetic population whose extracts are loaded (0 for none).",
        )

    def handle(self, *args, people, **options):
        if settings.PRODUCTION:
            raise CommandError(
                "load_demo creates accounts with a published password; it is refused when "
                "SHAREHUB_PRODUCTION is true."
            )
        logins = demo_load(people=people)
        self.stdout.write(self.style.SUCCESS("Demo partnership loaded."))
        self.stdout.write(f"\nDemo logins (password for all: {DEMO_PASSWORD})\n")
        for login in logins:
            role = Role(login.role).label
            where = login.agency_code or "partnership"
            self.stdout.write(f"  {login.email:<42} {role} ({where})")
        # `make demo HOST=... PORT=...` serves elsewhere; say where it actually serves.
        where = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
        self.stdout.write(f"\nOpen http://{where} and sign in with one of them.\n")
