"""Extract ingestion through the service: rows, row errors, whole-file errors, modes, safety."""

import io
import json
import zipfile
from pathlib import Path

import openpyxl
import pytest
from django.db import connection

from agencies.ingest.quarantine import quarantine_csv_rows
from agencies.ingest.receive import upload_dir
from agencies.models import (
    Extract,
    ExtractStatus,
    QuarantinedRow,
    SourceRecord,
    StagedRow,
)
from agencies.selectors import extract_repair_lines
from agencies.services import dataset_define
from matching.pseudonymise import identity_open
from sharehub_bridge.definitions import definition_parse
from tests.ingest_helpers import (
    HEADER,
    POLICE_DEFINITION,
    csv_bytes,
    dataset_snapshot,
    good_row,
    police_dataset,
    upload,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(agency):
    return police_dataset(agency)


def reasons_by_row(extract) -> dict[int, list[str]]:
    return dict(QuarantinedRow.objects.filter(extract=extract).values_list("row_number", "reasons"))


def test_good_rows_load_with_identifiers_sealed_and_sensitive_fields_typed(dataset):
    extract = upload(dataset, csv_bytes([good_row("I1"), good_row("I2", forename="Bob")]))

    assert extract.status == ExtractStatus.LOADED
    assert (extract.rows_read, extract.rows_loaded, extract.rows_quarantined) == (2, 2, 0)
    record = SourceRecord.objects.get(dataset=dataset, source_id="I1")
    assert record.payload == {
        "incident_date": "2026-01-01",
        "risk_grade": "high",
        "child_present": True,
        "summary": "Verbal argument, child upstairs.",
    }
    assert str(record.event_date) == "2026-01-01"
    identity = identity_open(
        agency_id=dataset.agency_id,
        dataset_id=dataset.pk,
        source_id="I1",
        blob=record.identity,
    )
    assert identity == {
        "forename": "Alice",
        "surname": "Smith",
        "date_of_birth": "2015-02-01",
        "nhs_number": "9434765919",
        "postcode": "LS6 2AB",
    }
    # The sealed identity is bound to its row: it will not open as another record's.
    with pytest.raises(Exception, match="does not open"):
        identity_open(
            agency_id=dataset.agency_id, dataset_id=dataset.pk, source_id="I2", blob=record.identity
        )


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"surname": ""}, "Required identifier surname is missing."),
        ({"forename": "   "}, "Required identifier forename is missing."),
        ({"incident_date": "31/02/2026"}, "Incident date (incident_date) is not a date"),
        ({"incident_date": "2026-13-01"}, "Incident date (incident_date) is not a date"),
        ({"incident_date": ""}, "Required field incident_date is missing."),
        ({"risk_grade": "extreme"}, "is not one of the allowed values: standard, medium, high"),
        ({"child_present": "maybe"}, "Child present (child_present) must be yes or no."),
        ({"incident_ref": ""}, "The record id (incident_ref) is missing."),
    ],
)
def test_each_bad_row_is_set_aside_with_its_reason(dataset, settings, overrides, reason):
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.5
    rows = [good_row("I1"), good_row("I2", **overrides), good_row("I3")]
    extract = upload(dataset, csv_bytes(rows))

    assert extract.status == ExtractStatus.LOADED
    assert (extract.rows_loaded, extract.rows_quarantined) == (2, 1)
    reasons = reasons_by_row(extract)
    assert list(reasons) == [3]  # the header is row 1
    assert any(reason in r for r in reasons[3]), reasons[3]
    assert not SourceRecord.objects.filter(dataset=dataset, source_id="I2").exists()


def test_row_messages_never_repeat_an_identifier_value(dataset, settings):
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.9
    rows = [
        good_row("I1", incident_date="Zebediah-Quux"),
        good_row("I2", forename="", surname="Quuxley"),
    ]
    extract = upload(dataset, csv_bytes(rows + [good_row("I3")]))
    everything = json.dumps(list(QuarantinedRow.objects.values_list("reasons", flat=True)))
    everything += extract.message
    assert "Zebediah" not in everything
    assert "Quuxley" not in everything


def test_an_nhs_number_failing_its_check_digit_warns_but_loads(dataset):
    extract = upload(dataset, csv_bytes([good_row("I1", nhs_number="9434765918")]))
    assert (extract.rows_loaded, extract.rows_warned, extract.rows_quarantined) == (1, 1, 0)
    record = SourceRecord.objects.get(source_id="I1")
    assert record.warnings == ["NHS number (nhs_number) fails its check digit."]
    assert extract.repairs == {"nhs_number": {"check_digit": 1}}
    assert extract_repair_lines(extract) == [
        "1 NHS number fails its check digit: its record loaded, but does not link on the NHS "
        "number."
    ]


def test_a_repeated_record_id_keeps_the_first_and_sets_aside_the_rest(dataset, settings):
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.5
    rows = [good_row("I1"), good_row("I2"), good_row("I1", forename="Alicia")]
    extract = upload(dataset, csv_bytes(rows))
    assert reasons_by_row(extract) == {
        4: [
            "The record id is repeated: it is also on row 2. Each record may appear once per "
            "extract."
        ]
    }
    identity = identity_open(
        agency_id=dataset.agency_id,
        dataset_id=dataset.pk,
        source_id="I1",
        blob=SourceRecord.objects.get(source_id="I1").identity,
    )
    assert identity["forename"] == "Alice"


def test_too_many_bad_rows_reject_the_whole_extract_and_change_nothing(dataset):
    upload(dataset, csv_bytes([good_row(f"I{n}") for n in range(5)]))
    before = dataset_snapshot(dataset)

    rows = [good_row(f"N{n}") for n in range(8)] + [
        good_row("B1", incident_date="nonsense"),
        good_row("B2", surname=""),
    ]
    extract = upload(dataset, csv_bytes(rows), mode="full")

    assert extract.status == ExtractStatus.REJECTED
    assert extract.message.startswith("2 of 10 rows (20.0%) have problems")
    assert "over the 10% limit, so no row was loaded" in extract.message
    assert "upload the whole file again" in extract.message
    assert extract.rows_loaded == 0
    assert dataset_snapshot(dataset) == before
    assert StagedRow.objects.count() == 0
    # The bad rows can still be downloaded, so the admin knows what to fix.
    assert extract.rows_quarantined == 2


def test_the_quarantine_download_has_reasons_and_neutralises_formulas(dataset, settings):
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.9
    rows = [
        good_row("I1"),
        good_row('=HYPERLINK("http://x")', surname=""),
        good_row("I3", forename="+SUM(A1)", risk_grade="@risk"),
        good_row("I4", summary="-2+3", incident_date="bad"),
    ]
    extract = upload(dataset, csv_bytes(rows))
    downloaded = list(quarantine_csv_rows(extract))

    assert downloaded[0] == ["row_in_file", "reasons", *HEADER]
    assert [row[0] for row in downloaded[1:]] == ["3", "4", "5"]
    cells = [cell for row in downloaded for cell in row]
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    assert '\'=HYPERLINK("http://x")' in cells
    assert "'+SUM(A1)" in cells
    assert "'-2+3" in cells
    assert "Required identifier surname is missing." in downloaded[1][1]


def test_full_refresh_retires_missing_records_and_incremental_upserts(dataset):
    first = upload(dataset, csv_bytes([good_row("I1"), good_row("I2"), good_row("I3")]))
    assert first.status == ExtractStatus.LOADED

    second = upload(dataset, csv_bytes([good_row("I1"), good_row("I2")]), mode="full")
    assert second.records_retired == 1
    retired = SourceRecord.objects.get(source_id="I3")
    assert retired.is_retired and retired.retired_by_id == second.pk

    third = upload(
        dataset,
        csv_bytes([good_row("I3", risk_grade="medium"), good_row("I4")]),
        mode="incremental",
    )
    assert third.records_retired == 0
    states = dict(SourceRecord.objects.values_list("source_id", "is_retired"))
    assert states == {"I1": False, "I2": False, "I3": False, "I4": False}
    back = SourceRecord.objects.get(source_id="I3")
    assert back.payload["risk_grade"] == "medium"
    assert back.first_extract_id == first.pk and back.last_extract_id == third.pk


def test_the_same_file_twice_is_recognised_and_changes_nothing(dataset):
    content = csv_bytes([good_row("I1"), good_row("I2")])
    first = upload(dataset, content, mode="full")
    before = dataset_snapshot(dataset)
    again = upload(dataset, content, mode="full")

    assert again.status == ExtractStatus.DUPLICATE
    assert again.duplicate_of_id == first.pk
    assert f"identical to extract {first.number}" in again.message
    assert dataset_snapshot(dataset) == before
    assert again.stored_file == ""


def test_the_raw_file_is_deleted_once_processed(dataset):
    loaded = upload(dataset, csv_bytes([good_row("I1")]))
    rejected = upload(dataset, b"")
    assert loaded.stored_file == rejected.stored_file == ""
    assert list(upload_dir().iterdir()) == []


def test_a_header_only_full_refresh_is_refused_instead_of_retiring_everything(dataset):
    upload(dataset, csv_bytes([good_row("I1")]))
    before = dataset_snapshot(dataset)
    extract = upload(dataset, csv_bytes([]), mode="full")
    assert extract.status == ExtractStatus.REJECTED
    assert "a full refresh with no rows would retire every record" in extract.message
    assert dataset_snapshot(dataset) == before


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"", "x.csv", "The file is empty"),
        (
            csv_bytes([good_row("I1")], header=[*HEADER, "extra_col"]),
            "x.csv",
            "it has columns the dataset does not define: extra_col",
        ),
        (
            csv_bytes(
                [{k: v for k, v in good_row("I1").items() if k != "dob"}],
                header=[h for h in HEADER if h != "dob"],
            ),
            "x.csv",
            "it lacks the columns dob",
        ),
        (
            csv_bytes([good_row("I1")], delimiter="|"),
            "x.csv",
            "Columns must be separated by commas, semicolons or tabs",
        ),
        (b"\x00\x01\x02binary\xff\xfe" * 50, "x.csv", "not a text file"),
        (b"PK\x03\x04not really a zip", "x.xlsx", "not a valid Excel .xlsx file"),
    ],
    ids=["empty", "unknown-column", "missing-column", "wrong-delimiter", "binary", "bad-xlsx"],
)
def test_whole_file_problems_get_one_clear_message_and_change_nothing(
    dataset, content, filename, message
):
    upload(dataset, csv_bytes([good_row("I1")]))
    before = dataset_snapshot(dataset)
    extract = upload(dataset, content, filename=filename, mode="full")
    assert extract.status == ExtractStatus.REJECTED
    assert message in extract.message, extract.message
    assert dataset_snapshot(dataset) == before
    assert QuarantinedRow.objects.filter(extract=extract).count() == 0


def test_a_file_over_the_size_limit_is_refused_before_anything_is_stored(dataset, settings):
    from agencies.ingest.receive import extract_receive
    from sharehub_bridge.readers import ExtractFileError

    content = csv_bytes([good_row("I1")])
    settings.SHAREHUB_UPLOAD_MAX_BYTES = len(content) - 1
    with pytest.raises(ExtractFileError, match="larger than the"):
        extract_receive(
            dataset=dataset,
            uploaded_by=None,
            stream=io.BytesIO(content),
            filename="x.csv",
            mode="full",
        )
    assert Extract.objects.count() == 0
    assert list(upload_dir().iterdir()) == []
    settings.SHAREHUB_UPLOAD_MAX_BYTES = len(content)
    assert upload(dataset, content).status == ExtractStatus.LOADED


def test_an_xlsx_zip_bomb_is_refused(dataset, tmp_path):
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(200):
                member.write(chunk)
    extract = upload(dataset, bomb.getvalue(), filename="bomb.xlsx", mode="full")
    assert extract.status == ExtractStatus.REJECTED
    assert "compress" in extract.message.lower() or "too large" in extract.message.lower()


def test_semicolon_cp1252_csv_with_bom_variants_load(dataset):
    rows = [good_row("I1", surname="Zoë-Brontë"), good_row("I2", summary="£5 owed")]
    for n, (encoding, delimiter) in enumerate(
        [("cp1252", ";"), ("utf-8-sig", ","), ("utf-8", "\t")]
    ):
        extract = upload(
            dataset,
            csv_bytes(
                [dict(r, incident_ref=f"{r['incident_ref']}-{n}") for r in rows],
                delimiter=delimiter,
                encoding=encoding,
            ),
        )
        assert extract.status == ExtractStatus.LOADED, extract.message
        record = SourceRecord.objects.get(source_id=f"I2-{n}")
        assert record.payload["summary"] == "£5 owed"
        identity = identity_open(
            agency_id=dataset.agency_id,
            dataset_id=dataset.pk,
            source_id=f"I1-{n}",
            blob=SourceRecord.objects.get(source_id=f"I1-{n}").identity,
        )
        assert identity["surname"] == "Zoë-Brontë"


def test_xlsx_and_json_lines_extracts_load(dataset, tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    row = good_row("X1")
    sheet.append([row[h] for h in HEADER])
    path = tmp_path / "extract.xlsx"
    workbook.save(path)
    extract = upload(dataset, path.read_bytes(), filename="extract.xlsx")
    assert extract.status == ExtractStatus.LOADED, extract.message
    assert extract.file_format == "xlsx"

    lines = "\n".join(json.dumps(good_row(f"J{n}")) for n in range(3)).encode()
    extract = upload(dataset, lines, filename="extract.jsonl")
    assert extract.status == ExtractStatus.LOADED, extract.message
    assert extract.rows_loaded == 3


def test_an_extract_records_the_definition_version_it_was_read_with(agency):
    dataset = police_dataset(agency)
    first = upload(dataset, csv_bytes([good_row("I1")]))
    assert first.version.number == 1
    same = dataset_define(agency=agency, definition=definition_parse(POLICE_DEFINITION))
    assert same.number == 1
    changed = dict(POLICE_DEFINITION)
    changed["columns"] = [
        dict(c, values=["standard", "medium", "high", "very high"])
        if c["column"] == "risk_grade"
        else c
        for c in POLICE_DEFINITION["columns"]
    ]
    second_version = dataset_define(agency=agency, definition=definition_parse(changed))
    assert second_version.number == 2
    second = upload(dataset, csv_bytes([good_row("I2", risk_grade="very high")]))
    assert second.version.number == 2
    assert second.status == ExtractStatus.LOADED
    first.refresh_from_db()
    assert first.version.number == 1


def test_a_crash_part_way_leaves_the_dataset_as_it_was_and_a_retry_loads_it(
    dataset, monkeypatch, settings
):
    from agencies.ingest import staging, validation
    from agencies.ingest.process import extract_ingest

    upload(dataset, csv_bytes([good_row(f"OLD{n}") for n in range(3)]))
    before = dataset_snapshot(dataset)
    monkeypatch.setattr(validation, "BATCH_ROWS", 10)
    original_flush = staging.StagingWriter.flush
    calls = {"n": 0}

    def dying_flush(self):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk went away")
        original_flush(self)

    monkeypatch.setattr(staging.StagingWriter, "flush", dying_flush)
    rows = [good_row(f"NEW{n}") for n in range(55)]
    extract = upload(dataset, csv_bytes(rows), mode="full")

    # Eager tasks do not retry: the extract is marked failed and nothing changed.
    assert extract.status == ExtractStatus.FAILED
    assert "Nothing was changed" in extract.message
    assert dataset_snapshot(dataset) == before
    assert StagedRow.objects.count() == 0
    assert extract.stored_file == "" and list(upload_dir().iterdir()) == []

    # Had the file still been there (a worker killed rather than an error), a redelivered
    # task starts the same extract again from the start and loads every row exactly once.
    monkeypatch.setattr(staging.StagingWriter, "flush", original_flush)
    content = csv_bytes(rows)
    stored = upload_dir() / "retry.upload"
    stored.write_bytes(content)
    Extract.objects.filter(pk=extract.pk).update(
        status=ExtractStatus.PROCESSING, stored_file="retry.upload", message=""
    )
    StagedRow.objects.create(
        extract=extract, row_number=2, source_id="NEW0", identity=b"x", payload={}
    )
    extract_ingest(extract_id=extract.pk)
    extract.refresh_from_db()
    assert extract.status == ExtractStatus.LOADED
    assert extract.attempts == 2
    live = SourceRecord.objects.filter(dataset=dataset, is_retired=False)
    assert sorted(live.values_list("source_id", flat=True)) == sorted(
        r["incident_ref"] for r in rows
    )
    assert extract.records_retired == 3


def test_no_plaintext_identifier_reaches_any_table(dataset, settings):
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.9
    markers = {
        "forename": "Xanthippe",
        "surname": "Quetzalcoatl",
        "nhs_number": "9434765870",
        "postcode": "ZE2 9QQ",
    }
    rows = [
        good_row("I1", **markers),
        good_row("I2", **markers, incident_date="not a date"),  # quarantined: sealed too
    ]
    upload(dataset, csv_bytes(rows))
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                text = " ".join(
                    bytes(v).decode("latin-1") if isinstance(v, bytes | memoryview) else str(v)
                    for v in row
                )
                for value in markers.values():
                    if value in text or value.replace(" ", "") in text:
                        found.append((table, value))
    assert found == []


def test_the_same_rows_through_different_files_give_identical_records(dataset, tmp_path):
    """CSV and JSON Lines carrying the same rows produce the same payloads (format-blind)."""
    rows = [good_row("A1"), good_row("A2", child_present="no", summary="")]
    upload(dataset, csv_bytes(rows))
    from_csv = dataset_snapshot(dataset)
    SourceRecord.objects.all().delete()
    upload(dataset, "\n".join(json.dumps(r) for r in rows).encode(), filename="x.jsonl")
    from_jsonl = dataset_snapshot(dataset)
    assert [r[:4] for r in from_csv] == [r[:4] for r in from_jsonl]
    assert Path(upload_dir()).exists()


def test_a_file_without_its_header_row_is_refused_without_echoing_its_first_row(dataset):
    headerless = csv_bytes([good_row("I1", forename="Philomena")]).split(b"\r\n", 1)[1]
    extract = upload(dataset, headerless, mode="full")
    assert extract.status == ExtractStatus.REJECTED
    assert "first row may be data rather than the column names" in extract.message
    assert "Philomena" not in extract.message and "Smith" not in extract.message


def test_a_nul_character_sets_the_row_aside_instead_of_failing_the_extract(dataset, settings):
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.5
    lines = [
        json.dumps(good_row("J1")),
        json.dumps(good_row("J2", summary="Jane\x00Smith notes")),
        json.dumps(good_row("J3")),
    ]
    extract = upload(dataset, "\n".join(lines).encode(), filename="x.jsonl")
    assert extract.status == ExtractStatus.LOADED
    assert (extract.rows_loaded, extract.rows_quarantined) == (2, 1)
    reasons = reasons_by_row(extract)[2]
    assert reasons == ["Column summary holds a control character (NUL) or broken text."]


# --- Found in review -----------------------------------------------------------------------


def test_the_record_id_column_cannot_be_a_national_identifier():
    from sharehub_bridge.definitions import DefinitionError, definition_parse

    bad = dict(POLICE_DEFINITION, source_id_column="nhs_number")
    with pytest.raises(DefinitionError, match="national identifiers are never stored"):
        definition_parse(bad)


def test_a_full_refresh_does_not_retire_records_whose_rows_were_set_aside(dataset, settings):
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.5
    upload(dataset, csv_bytes([good_row(f"I{n}") for n in range(4)]))
    rows = [good_row("I0"), good_row("I1"), good_row("I2", incident_date="not a date")]
    extract = upload(dataset, csv_bytes(rows), mode="full")
    assert extract.status == ExtractStatus.LOADED
    states = dict(SourceRecord.objects.values_list("source_id", "is_retired"))
    # I2 was in the file (set aside): kept as it was. I3 was not in the file: retired.
    assert states == {"I0": False, "I1": False, "I2": False, "I3": True}
    assert extract.records_retired == 1


def test_a_full_refresh_with_no_good_row_changes_nothing(dataset, settings):
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 1.0
    upload(dataset, csv_bytes([good_row("I1")]))
    before = dataset_snapshot(dataset)
    extract = upload(dataset, csv_bytes([good_row("I9", incident_date="bad")]), mode="full")
    assert extract.status == ExtractStatus.REJECTED
    assert "would retire every record" in extract.message
    assert dataset_snapshot(dataset) == before


def test_an_older_extract_is_not_applied_over_a_newer_one(dataset):
    from agencies.ingest.process import extract_ingest
    from agencies.ingest.receive import extract_receive

    older = extract_receive(  # queued, but its task has not run yet
        dataset=dataset,
        uploaded_by=None,
        stream=io.BytesIO(csv_bytes([good_row("I1", risk_grade="medium")])),
        filename="monday.csv",
        mode="full",
    )
    newer = upload(dataset, csv_bytes([good_row("I1", risk_grade="high")]), mode="incremental")
    assert newer.status == ExtractStatus.LOADED
    extract_ingest(extract_id=older.pk)
    older.refresh_from_db()
    assert older.status == ExtractStatus.REJECTED
    assert f"Extract {newer.number}, uploaded after this one, was loaded first" in older.message
    assert SourceRecord.objects.get(source_id="I1").payload["risk_grade"] == "high"


def test_an_extract_whose_worker_keeps_dying_is_failed_after_three_attempts(dataset):
    from agencies.ingest.process import extract_ingest
    from agencies.ingest.receive import extract_receive

    extract = extract_receive(
        dataset=dataset,
        uploaded_by=None,
        stream=io.BytesIO(csv_bytes([good_row("I1")])),
        filename="x.csv",
        mode="full",
    )
    Extract.objects.filter(pk=extract.pk).update(status=ExtractStatus.PROCESSING, attempts=3)
    extract_ingest(extract_id=extract.pk)
    extract.refresh_from_db()
    assert extract.status == ExtractStatus.FAILED
    assert "3 attempts did not finish" in extract.message
    assert extract.stored_file == "" and list(upload_dir().iterdir()) == []


def test_the_same_file_in_the_other_mode_or_after_a_newer_file_is_a_new_extract(dataset):
    first = csv_bytes([good_row("I1"), good_row("I2")])
    second = csv_bytes([good_row("I1", risk_grade="medium")])
    assert upload(dataset, first, mode="incremental").status == ExtractStatus.LOADED
    assert upload(dataset, first, mode="full").status == ExtractStatus.LOADED
    assert upload(dataset, first, mode="full").status == ExtractStatus.DUPLICATE
    assert upload(dataset, second, mode="incremental").status == ExtractStatus.LOADED
    rollback = upload(dataset, first, mode="full")
    assert rollback.status == ExtractStatus.LOADED
    assert SourceRecord.objects.get(source_id="I1").payload["risk_grade"] == "high"


def test_stalled_extracts_are_sent_again_and_orphaned_files_removed(dataset):
    import os
    import time
    from datetime import timedelta

    from django.utils import timezone

    from agencies.ingest.housekeeping import extracts_stalled_requeue, uploads_orphaned_sweep
    from agencies.ingest.receive import extract_receive

    stalled = extract_receive(  # its task was never delivered
        dataset=dataset,
        uploaded_by=None,
        stream=io.BytesIO(csv_bytes([good_row("S1")])),
        filename="x.csv",
        mode="full",
    )
    orphan = upload_dir() / "orphan.upload"
    orphan.write_bytes(b"forename,surname\nJane,Smith\n")
    old = time.time() - 2 * 3600
    os.utime(orphan, (old, old))
    os.utime(upload_dir() / stalled.stored_file, (old, old))

    assert uploads_orphaned_sweep() == 1
    assert not orphan.exists()
    assert (upload_dir() / stalled.stored_file).exists()  # still wanted: its extract waits

    assert extracts_stalled_requeue() == 0  # not stalled yet
    later = timezone.now() + timedelta(minutes=11)
    assert extracts_stalled_requeue(now=later) == 1  # sent again, run in-process here
    stalled.refresh_from_db()
    assert stalled.status == ExtractStatus.LOADED


# --- Damaged dates of birth load, with what was repaired counted ---------------------------------


def test_a_damaged_date_of_birth_loads_with_a_warning_and_is_counted(dataset, settings):
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.2  # one unreadable date in six is under it
    rows = [
        good_row("I1"),
        good_row("I2", dob="07/23/1971"),  # month first in a day-first file
        good_row("I3", dob="|7/0G/1964"),  # OCR
        good_row("I4", dob="31/02/1990"),  # no such day
        good_row("I5", dob="1968"),
        good_row("I6", dob="no idea"),
    ]
    extract = upload(dataset, csv_bytes(rows))

    assert extract.status == ExtractStatus.LOADED
    assert (extract.rows_loaded, extract.rows_warned, extract.rows_quarantined) == (6, 5, 0)
    assert extract.repairs == {
        "date_of_birth": {
            "swapped": 1, "ocr": 1, "impossible_day": 1, "year_only": 1, "unreadable": 1
        }
    }  # fmt: skip
    stored = {
        record.source_id: identity_open(
            agency_id=dataset.agency_id, dataset_id=dataset.pk, source_id=record.source_id,
            blob=record.identity,
        ).get("date_of_birth")
        for record in SourceRecord.objects.filter(dataset=dataset)
    }  # fmt: skip
    assert stored == {
        "I1": "2015-02-01", "I2": "1971-07-23", "I3": "1964-06-17", "I4": "1990-02",
        "I5": "1968", "I6": None,
    }  # fmt: skip
    warnings = SourceRecord.objects.get(source_id="I2").warnings
    assert warnings == [
        "Date of birth (dob) has day and month the other way round from the rest of the file; "
        "it was read with them swapped back."
    ]
    # The result says it in words, and never repeats a value.
    lines = extract_repair_lines(extract)
    assert "1 date of birth could not be read at all" in " ".join(lines)
    assert not any("1971" in line or "1964" in line for line in lines)


def test_a_file_written_month_first_is_read_month_first(dataset):
    dates = ["06/19/1968", "12/25/1990", "01/02/2000", "03/30/2001", "05/04/1977",
             "07/23/1982", "11/14/2010", "02/28/1999"]  # fmt: skip
    rows = [good_row(f"I{n}", dob=written) for n, written in enumerate(dates)]
    extract = upload(dataset, csv_bytes(rows))

    assert extract.repairs == {"date_of_birth_order": "mdy"}
    assert extract.rows_warned == 0
    record = SourceRecord.objects.get(source_id="I2")
    identity = identity_open(
        agency_id=dataset.agency_id, dataset_id=dataset.pk, source_id="I2", blob=record.identity
    )
    assert identity["date_of_birth"] == "2000-01-02"  # January the 2nd, as the file means
    assert "written month first" in extract_repair_lines(extract)[0]


def test_a_file_whose_dates_of_birth_cannot_be_read_changes_nothing(dataset):
    upload(dataset, csv_bytes([good_row(f"I{n}") for n in range(20)]))
    before = dataset_snapshot(dataset)
    identities = list(SourceRecord.objects.order_by("pk").values_list("identity", flat=True))

    # Dates exported as spreadsheet day numbers: loaded, they would wipe every stored date.
    extract = upload(
        dataset, csv_bytes([good_row(f"I{n}", dob="42037") for n in range(20)]), filename="b.csv"
    )

    assert extract.status == ExtractStatus.REJECTED
    assert extract.message.startswith("20 of 20 dates of birth (100.0%) could not be read")
    assert "spreadsheet day numbers" in extract.message
    assert "42037" not in extract.message
    assert dataset_snapshot(dataset) == before
    assert list(SourceRecord.objects.order_by("pk").values_list("identity", flat=True)) == (
        identities
    )


def test_one_american_date_in_a_small_file_does_not_turn_the_file(dataset):
    rows = [good_row("I1", dob="05/06/2007"), good_row("I2", dob="06/19/1968")]
    extract = upload(dataset, csv_bytes(rows))

    assert extract.repairs == {"date_of_birth": {"swapped": 1}}
    identity = identity_open(
        agency_id=dataset.agency_id, dataset_id=dataset.pk, source_id="I1",
        blob=SourceRecord.objects.get(source_id="I1").identity,
    )  # fmt: skip
    assert identity["date_of_birth"] == "2007-06-05"  # 5 June, as the rest of the file is written


def test_repairs_count_only_the_rows_loaded(dataset, settings):
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.9
    rows = [good_row("I1", dob="31/02/1990"), good_row("I2", dob="31/02/1990", surname="")]
    extract = upload(dataset, csv_bytes(rows))

    assert extract.rows_quarantined == 1
    assert extract.repairs == {"date_of_birth": {"impossible_day": 1}}


def test_the_agency_admin_downloads_the_records_that_came_with_warnings(dataset, client, member):
    from django.urls import reverse

    from agencies.models import Role

    rows = [good_row("I1"), good_row("=I2", dob="|7/0G/1964"), good_row("I3", nhs_number="1")]
    extract = upload(dataset, csv_bytes(rows))
    client.force_login(member(Role.AGENCY_ADMIN))
    response = client.get(reverse("agencies:extract_warnings", args=[extract.pk]))

    assert response["Cache-Control"] == "no-store"
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "record_id,warnings"
    assert lines[1].startswith("'=I2,Date of birth (dob) has letters or marks")  # no formula
    assert lines[2].startswith("I3,NHS number (nhs_number) fails its check digit.")
    assert len(lines) == 3
    assert "1964" not in "\n".join(lines)
