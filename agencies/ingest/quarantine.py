"""The download of the rows set aside, as they were uploaded, with their reasons first."""

from collections.abc import Iterable

from agencies.models import (
    Extract,
)
from sharehub_bridge.definitions import csv_cell_safe
from sharehub_bridge.validation import (
    SET_ASIDE_COLUMNS,
)

# --- Quarantine download ------------------------------------------------------------------------


def quarantine_csv_rows(extract: Extract) -> Iterable[list[str]]:
    """The rejected rows as they were uploaded, with the reasons first, for the admin to fix."""
    from matching.pseudonymise import quarantine_open

    header = None
    agency_id = extract.dataset.agency_id
    # Rows the IG bridge kept back never left the agency: they are in the bridge's own file there.
    held = extract.quarantine.filter(sealed_row__isnull=False).order_by("row_number")
    for row in held.iterator(chunk_size=2000):
        values = quarantine_open(
            agency_id=agency_id,
            extract_id=extract.pk,
            row_number=row.row_number,
            blob=bytes(row.sealed_row or b""),
        )
        if header is None:
            header = list(values)
            if tuple(header[: len(SET_ASIDE_COLUMNS)]) == SET_ASIDE_COLUMNS:
                # A download sent back and set aside again: its old row_in_file and reasons
                # make way for this extract's.
                header = header[len(SET_ASIDE_COLUMNS) :]
            yield [csv_cell_safe(c) for c in [*SET_ASIDE_COLUMNS, *header]]
        yield [
            csv_cell_safe(c)
            for c in [row.row_number, " ".join(row.reasons), *(values.get(h, "") for h in header)]
        ]
