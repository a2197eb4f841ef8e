"""Free text on the web path: a note naming the person is stored with placeholders, counted in
the extract's result and said on its page and in the API's extract document."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.urls import reverse

from agencies.models import Extract, ExtractStatus, Role, SourceRecord
from agencies.selectors import extract_free_text_line
from tests.ingest_helpers import csv_bytes, good_row, police_dataset, upload

pytestmark = pytest.mark.django_db

NOTE = (
    "Alice Smith (dob 01/02/2015, NHS 943 476 5919) told officers that Alice's mother lives "
    "at LS6 2AB; SMITH was upset."
)
REDACTED = (
    "[name] [name] (dob [date of birth], NHS [NHS number]) told officers that [name]'s mother "
    "lives at [postcode]; [name] was upset."
)


def test_a_web_upload_stores_notes_with_placeholders_and_says_how_many(client, member, agency):
    client.force_login(member(Role.AGENCY_ADMIN))
    dataset = police_dataset(agency)
    rows = [
        good_row("I1", summary=NOTE),
        good_row("I2", summary="Smith and Alice 1/2/15"),
        good_row("I3"),  # "Verbal argument, child upstairs.": nothing of the person
    ]
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            reverse("agencies:extract_upload", args=[dataset.pk]),
            {"file": SimpleUploadedFile("extract.csv", csv_bytes(rows)), "mode": "incremental"},
        )
    extract = Extract.objects.get()
    assert extract.status == ExtractStatus.LOADED
    assert response["Location"] == reverse("agencies:extract_detail", args=[extract.pk])

    summaries = dict(SourceRecord.objects.values_list("source_id", "payload__summary"))
    assert summaries == {
        "I1": REDACTED,
        "I2": "[name] and [name] [date of birth]",
        "I3": "Verbal argument, child upstairs.",
    }
    stored = json.dumps(list(SourceRecord.objects.values_list("payload", flat=True)))
    for identifier in ("Alice", "Smith", "SMITH", "01/02/2015", "943 476 5919", "LS6 2AB"):
        assert identifier not in stored

    assert extract.repairs["free_text"] == {
        "name": 6,
        "date_of_birth": 2,
        "nhs_number": 1,
        "postcode": 1,
        "rows": 2,
    }
    # Redacting a note is no problem with the row: it loads without a warning.
    assert extract.rows_loaded == 3 and extract.rows_warned == 0
    sentence = (
        "Free text: 6 names, 2 dates of birth, 1 NHS number and 1 postcode of the person each "
        "row is about were replaced with placeholders in 2 rows, so they are not kept as "
        "written."
    )
    assert extract_free_text_line(extract) == sentence

    page = client.get(response["Location"]).content.decode()
    assert sentence in page
    assert 'data-testid="extract-free-text"' in page
    progress = client.get(reverse("agencies:extract_progress", args=[extract.pk])).json()
    assert progress["free_text"] == sentence
    assert progress["repair_counts"]["free_text"]["rows"] == 2


def test_a_file_whose_notes_name_no_one_says_nothing_of_free_text(client, member, agency):
    client.force_login(member(Role.AGENCY_ADMIN))
    dataset = police_dataset(agency)
    extract = upload(dataset, csv_bytes([good_row("I1"), good_row("I2")]))
    assert "free_text" not in extract.repairs
    assert extract_free_text_line(extract) == ""
    page = client.get(reverse("agencies:extract_detail", args=[extract.pk])).content.decode()
    assert 'data-testid="extract-free-text"' not in page


def test_one_identifier_in_one_row_is_said_in_the_singular(agency):
    dataset = police_dataset(agency)
    extract = upload(dataset, csv_bytes([good_row("I1", summary="Seen with Alice")]))
    assert extract_free_text_line(extract) == (
        "Free text: 1 name of the person each row is about was replaced with placeholders in "
        "1 row, so it is not kept as written."
    )


def test_a_row_set_aside_is_not_counted(agency, settings):
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.9
    dataset = police_dataset(agency)
    rows = [
        good_row("I1", summary="Alice seen"),
        good_row("I2", summary="Alice seen", incident_date="not a date"),
    ]
    extract = upload(dataset, csv_bytes(rows))
    assert extract.rows_quarantined == 1
    assert extract.repairs["free_text"] == {"name": 1, "rows": 1}
