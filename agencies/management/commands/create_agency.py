from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from agencies.models import AgencyKind
from agencies.services import agency_create_or_update


class Command(BaseCommand):
    help = "Create a partner agency, or update the name and kind of the agency with this code."

    def add_arguments(self, parser):
        parser.add_argument("--code", required=True, help="Short code, e.g. POL")
        parser.add_argument("--name", required=True, help="Full name, e.g. 'Northbridge Police'")
        parser.add_argument("--kind", required=True, choices=AgencyKind.values)

    def handle(self, *args, code, name, kind, **options):
        try:
            agency = agency_create_or_update(code=code, name=name, kind=kind)
        except ValidationError as error:
            problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
            raise CommandError(f"Agency not saved: {problems}") from error
        self.stdout.write(self.style.SUCCESS(f"Agency {agency.code} ({agency.name}) saved."))
