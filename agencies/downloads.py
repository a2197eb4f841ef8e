"""CSV files ShareHub writes back to people: streamed, and safe to open in a spreadsheet."""

import csv

from django.http import StreamingHttpResponse

from agencies.ingest.quarantine import quarantine_csv_rows
from agencies.models import Extract, SourceRecord
from sharehub_bridge.definitions import csv_cell_safe


class _Echo:
    def write(self, value: str) -> str:
        return value


def quarantine_csv_response(extract: Extract) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in quarantine_csv_rows(extract)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = (
        f'attachment; filename="extract-{extract.number}-rejected-rows.csv"'
    )
    # The rows hold identifiers: never kept in a cache on the way.
    response["Cache-Control"] = "no-store"
    return response


def warnings_csv_response(extract: Extract) -> StreamingHttpResponse:
    """The extract's loaded records that came with warnings (a repaired date of birth, an NHS
    number failing its check digit): the agency's own record id and the warnings, which name
    columns, never values, so the agency can find and fix them in its own system."""
    writer = csv.writer(_Echo())
    records = (
        SourceRecord.objects.filter(last_extract=extract)
        .exclude(warnings=[])
        .order_by("source_id")
        .values_list("source_id", "warnings")
        .iterator(chunk_size=2000)
    )
    rows = (
        [csv_cell_safe(source_id), csv_cell_safe(" ".join(warnings))]
        for source_id, warnings in records
    )
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in [["record_id", "warnings"], *rows]),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = (
        f'attachment; filename="extract-{extract.number}-warnings.csv"'
    )
    response["Cache-Control"] = "no-store"
    return response
