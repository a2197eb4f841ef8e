import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from agencies.models import Agency
from agencies.services import dataset_define
from sharehub_bridge.definitions import DefinitionError, definition_parse


class Command(BaseCommand):
    help = (
        "Create or update a dataset of an agency from a JSON mapping file (format in the README). "
        "An unchanged mapping makes no new version."
    )

    def add_arguments(self, parser):
        parser.add_argument("--agency", required=True, help="Agency code, e.g. POL")
        parser.add_argument("--file", required=True, type=Path, help="The mapping JSON file")

    def handle(self, *args, agency, file, **options):
        found = Agency.objects.filter(code=agency).first()
        if found is None:
            raise CommandError(f"No agency has the code {agency}. Create it with create_agency.")
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError as error:
            raise CommandError(f"No file at {file}.") from error
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CommandError(f"{file} is not valid UTF-8 JSON: {error}") from error
        try:
            definition = definition_parse(data)
        except DefinitionError as error:
            raise CommandError(
                "The mapping was not saved:\n" + "\n".join(f"  - {p}" for p in error.problems)
            ) from error
        version = dataset_define(agency=found, definition=definition)
        self.stdout.write(
            self.style.SUCCESS(f"Dataset '{version.dataset.name}' is at version {version.number}.")
        )
