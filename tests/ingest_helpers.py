"""Building blocks for the ingestion tests: a police-style dataset and extract files."""

import csv
import io
import json

from django.test import TestCase

from agencies.ingest.receive import extract_receive
from agencies.models import Dataset, ExtractChannel, SourceRecord
from agencies.services import dataset_define
from sharehub_bridge.definitions import definition_parse

POLICE_DEFINITION = {
    "name": "Police - domestic abuse incidents",
    "source_id_column": "incident_ref",
    "event_date_column": "incident_date",
    "columns": [
        {"column": "incident_ref", "ignore": True},
        {"column": "forename", "identifier": "forename", "required": True},
        {"column": "surname", "identifier": "surname", "required": True},
        {"column": "dob", "identifier": "date_of_birth"},
        {"column": "nhs_number", "identifier": "nhs_number"},
        {"column": "postcode", "identifier": "postcode"},
        {"column": "incident_date", "type": "date", "label": "Incident date", "required": True},
        {
            "column": "risk_grade",
            "type": "category",
            "label": "Risk grade",
            "values": ["standard", "medium", "high"],
        },
        {"column": "child_present", "type": "boolean", "label": "Child present"},
        {"column": "summary", "type": "text", "label": "Summary"},
    ],
}
HEADER = [c["column"] for c in POLICE_DEFINITION["columns"]]


def good_row(ref: str, **overrides) -> dict:
    row = {
        "incident_ref": ref,
        "forename": "Alice",
        "surname": "Smith",
        "dob": "01/02/2015",
        "nhs_number": "9434765919",
        "postcode": "ls6 2ab",
        "incident_date": "2026-01-01",
        "risk_grade": "high",
        "child_present": "yes",
        "summary": "Verbal argument, child upstairs.",
    }
    row.update(overrides)
    return row


def csv_bytes(rows: list[dict], *, header=HEADER, delimiter=",", encoding="utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, delimiter=delimiter, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def police_dataset(agency, definition=POLICE_DEFINITION) -> Dataset:
    return dataset_define(agency=agency, definition=definition_parse(definition)).dataset


def upload(dataset, content: bytes, *, mode="incremental", filename="extract.csv", user=None):
    """Receive and ingest a file (the task runs in-process once the upload commits)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        extract = extract_receive(
            dataset=dataset,
            uploaded_by=user,
            stream=io.BytesIO(content),
            filename=filename,
            mode=mode,
            channel=ExtractChannel.COMMAND,
        )
    extract.refresh_from_db()
    return extract


def dataset_snapshot(dataset) -> list[tuple]:
    """Everything a dataset's records say, to prove a failed extract changed nothing."""
    return list(
        SourceRecord.objects.filter(dataset=dataset)
        .order_by("source_id")
        .values_list(
            "source_id", "payload", "event_date", "is_retired", "last_extract_id", "warnings"
        )
    )


def definition_json() -> str:
    return json.dumps(POLICE_DEFINITION)
