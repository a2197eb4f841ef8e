"""The linked dataset for analysts: which records are one person, and which persons one household.

Persons and households appear under pseudonyms made for this export only: HMAC-SHA256 of the
reference under a random key drawn for the export and then dropped (never stored, never logged).
Two exports therefore share no pseudonym, and no pseudonym equals a reference, an id or a match
token that ShareHub keeps. Rows are written as they are read, so a million records take the
memory of one chunk.
"""

import csv
import hashlib
import hmac
import io
import secrets
from collections.abc import Iterator
from typing import TextIO

from agencies.ingest import csv_cell_safe
from matching.models import LinkageExport, LinkageRecord

EXPORT_HEADER = (
    "agency_code",
    "dataset",
    "source_record_id",
    "person_pseudonym",
    "household_pseudonym",
    "link_score",
)
PURPOSE_MAX_LENGTH = LinkageExport._meta.get_field("purpose").max_length or 200
CHUNK_ROWS = 5_000


class ExportError(ValueError):
    """An export that cannot be made as asked; the message says what to change."""


def export_purpose_clean(purpose: str | None) -> str:
    purpose = (purpose or "").strip()
    if not purpose:
        raise ExportError(
            "Say what the export is for (purpose), for example "
            '"Evaluation of the early help offer, 2026".'
        )
    if len(purpose) > PURPOSE_MAX_LENGTH:
        raise ExportError(
            f"The purpose is {len(purpose)} characters; shorten it to {PURPOSE_MAX_LENGTH} "
            "or fewer."
        )
    return purpose


def linkage_export_rows() -> Iterator[tuple]:
    """Every live record that belongs to a person, in record order, read in chunks."""
    return (
        LinkageRecord.objects.filter(record__is_retired=False, person__isnull=False)
        .order_by("record_id")
        .values_list(
            "record__dataset__agency__code",
            "record__dataset__name",
            "record__source_id",
            "person__reference",
            "person__household__reference",
            "link_score",
        )
        .iterator(chunk_size=CHUNK_ROWS)
    )


def linkage_export_start(
    *, purpose: str, made_by, channel: str
) -> tuple[LinkageExport, Iterator[str]]:
    """Record an export and return it with its CSV text in chunks, for a file or a response.

    The purpose is checked first (ExportError), so a caller can refuse the request before a
    byte is sent. The row count is written when the last chunk has been read, or when the reader
    stops early: it then says how many rows actually left.
    """
    purpose = export_purpose_clean(purpose)
    export = LinkageExport.objects.create(purpose=purpose, made_by=made_by, channel=channel, rows=0)
    from audit.models import AuditAction
    from audit.services import audit_record

    audit_record(
        action=AuditAction.EXPORT,
        actor=made_by,
        channel=channel,
        detail={"kind": "linkage", "export": export.pk, "purpose": purpose},
    )
    return export, _chunks(export)


def _chunks(export: LinkageExport) -> Iterator[str]:
    key = secrets.token_bytes(32)

    def pseudonym(kind: bytes, reference: str | None) -> str:
        if not reference:
            return ""
        # The kind keeps a person and a household with the same reference apart.
        return hmac.new(key, kind + b":" + reference.encode(), hashlib.sha256).hexdigest()

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    rows = 0
    try:
        writer.writerow(EXPORT_HEADER)
        for agency, dataset, source_id, person, household, score in linkage_export_rows():
            writer.writerow(
                (
                    csv_cell_safe(agency),
                    csv_cell_safe(dataset),
                    csv_cell_safe(source_id),
                    pseudonym(b"person", person),
                    pseudonym(b"household", household),
                    "" if score is None else f"{score:.4f}",
                )
            )
            rows += 1
            if rows % CHUNK_ROWS == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()
    finally:
        LinkageExport.objects.filter(pk=export.pk).update(rows=rows)
        export.rows = rows


def linkage_export_write(stream: TextIO, *, purpose: str, made_by, channel: str) -> LinkageExport:
    """Write the export as CSV to `stream` (a text stream opened with newline=""); returns the
    LinkageExport row that records it."""
    export, chunks = linkage_export_start(purpose=purpose, made_by=made_by, channel=channel)
    for chunk in chunks:
        stream.write(chunk)
    return export
