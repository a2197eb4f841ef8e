"""CSV files ShareHub writes back to people: streamed, and safe to open in a spreadsheet."""

import csv

from django.http import StreamingHttpResponse

from agencies.ingest import quarantine_csv_rows
from agencies.models import Extract


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
        f'attachment; filename="extract-{extract.pk}-rejected-rows.csv"'
    )
    # The rows hold identifiers: never kept in a cache on the way.
    response["Cache-Control"] = "no-store"
    return response
