import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from agencies.ingest.receive import extract_receive
from agencies.models import Dataset, ExtractChannel, ExtractMode
from agencies.selectors import extract_free_text_line, extract_repair_lines
from sharehub_bridge.readers import ExtractFileError


class Command(BaseCommand):
    help = (
        "Upload an extract file for a dataset, exactly as an API upload does (for scheduled loads)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--agency", required=True, help="Agency code, e.g. POL")
        parser.add_argument("--dataset", required=True, help="Dataset name")
        parser.add_argument("--mode", choices=ExtractMode.values, default=ExtractMode.INCREMENTAL)
        parser.add_argument(
            "--wait",
            action="store_true",
            help="Wait until the extract is processed, and fail if it is rejected.",
        )
        parser.add_argument("file", type=Path)

    def handle(self, *args, agency, dataset, mode, file, wait, **options):
        found = Dataset.objects.filter(agency__code=agency, name=dataset).first()
        if found is None:
            raise CommandError(f"Agency {agency} has no dataset named '{dataset}'.")
        if not file.is_file():
            raise CommandError(f"No file at {file}.")
        try:
            with file.open("rb") as stream:
                extract = extract_receive(
                    dataset=found,
                    uploaded_by=None,
                    stream=stream,
                    filename=file.name,
                    mode=mode,
                    channel=ExtractChannel.COMMAND,
                )
        except ExtractFileError as error:
            raise CommandError(str(error)) from error
        extract.refresh_from_db()
        while wait and not extract.is_finished:
            time.sleep(1)
            extract.refresh_from_db()
        self.stdout.write(
            f"Extract {extract.number} of {dataset}: {extract.get_status_display()}. "
            f"Rows read {extract.rows_read:,}, loaded {extract.rows_loaded:,}, "
            f"warned {extract.rows_warned:,}, quarantined {extract.rows_quarantined:,}, "
            f"retired {extract.records_retired:,}."
        )
        for line in extract_repair_lines(extract):
            self.stdout.write(line)
        if free_text := extract_free_text_line(extract):
            self.stdout.write(free_text)
        if extract.message:
            self.stdout.write(extract.message)
        if extract.status in ("rejected", "failed"):
            raise CommandError(f"Extract {extract.number} was {extract.status}.")
