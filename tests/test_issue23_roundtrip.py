"""Issue 23, the round trip a busy agency admin needs: the reasons for rows set aside on the
extract's page and in the API, the set-aside download sent back as it is, and a rejected
extract that says it loaded nothing and asks for the whole file again."""

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.urls import reverse

from agencies.models import Extract, ExtractStatus, Role, SourceRecord
from agencies.selectors import SET_ASIDE_SHOWN
from agencies.tokens import api_token_create
from tests.ingest_helpers import csv_bytes, good_row, police_dataset, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, member):
    client.force_login(member(Role.AGENCY_ADMIN))
    return client


@pytest.fixture
def token(agency, member):
    return api_token_create(agency=agency, name="nightly", created_by=member(Role.AGENCY_ADMIN))[1]


def post_upload(client, dataset, content: bytes, mode="incremental", name="extract.csv"):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(
            reverse("agencies:extract_upload", args=[dataset.pk]),
            {"file": SimpleUploadedFile(name, content), "mode": mode},
        )


def twenty_rows_three_bad() -> list[dict]:
    rows = [good_row(f"R{n:02d}", surname=f"Smith{n}") for n in range(17)]
    rows.insert(4, good_row("B1", incident_date="31/31/2026", surname="Jones"))
    rows.insert(9, good_row("B2", risk_grade="severe", surname="Brown"))
    rows.insert(14, good_row("B3", surname="", summary="-3 visits"))
    return rows


def test_a_rejected_extract_shows_nothing_loaded_everywhere(admin_client, agency, client, token):
    """The file of the issue: 20 rows, 3 bad, over the 10% limit. It said "20 read, 17 loaded"
    and "Loaded 17", and asked for the bad rows as an incremental extract."""
    dataset = police_dataset(agency)
    extract = upload(dataset, csv_bytes(twenty_rows_three_bad()), mode="full")
    assert extract.status == ExtractStatus.REJECTED
    assert (extract.rows_read, extract.rows_loaded, extract.rows_quarantined) == (20, 0, 3)
    assert extract.rows_warned == extract.records_retired == 0
    assert SourceRecord.objects.count() == 0
    assert "upload the whole file again" in extract.message
    assert "incremental" not in extract.message

    page = admin_client.get(reverse("agencies:extract_detail", args=[extract.pk])).content.decode()
    assert "20 read, 0 loaded, 3 with problems" in page
    assert "17" not in page.split('data-testid="extract-counts"')[1].split("</dd>")[0]
    assert "upload the whole file again" in page
    assert "incremental" not in page
    history = admin_client.get(reverse("agencies:dataset_detail", args=[dataset.pk]))
    cells = history.content.decode().split('data-testid="extract-history"')[1]
    assert ">17<" not in cells

    document = client.get(
        reverse("agencies_api:extract_detail", args=[extract.pk]),
        HTTP_AUTHORIZATION=f"Token {token}",
    ).json()
    assert document["rows_loaded"] == 0 and document["status"] == "rejected"
    listed = client.get(
        reverse("agencies_api:dataset_extracts", args=[dataset.pk]),
        HTTP_AUTHORIZATION=f"Token {token}",
    ).json()
    assert [e["rows_loaded"] for e in listed] == [0]


def test_the_reasons_are_on_the_page_and_in_the_api_never_the_values(
    admin_client, agency, client, token, settings
):
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.5
    dataset = police_dataset(agency)
    extract = upload(dataset, csv_bytes(twenty_rows_three_bad()), mode="full")
    assert extract.status == ExtractStatus.LOADED and extract.rows_loaded == 17

    page = admin_client.get(reverse("agencies:extract_detail", args=[extract.pk])).content.decode()
    table = page.split('data-testid="set-aside-reasons"')[1].split("</table>")[0]
    cells = [
        [cell.split(">", 1)[1].split("</td")[0] for cell in line.split("<td")[1:]]
        for line in table.split("<tr")[2:]
    ]
    # Row 1 is the header, so the file's rows 5, 10 and 15 are its 4th, 9th and 14th records.
    assert [line[:2] for line in cells] == [
        ["6", "incident_date"],
        ["11", "risk_grade"],
        ["16", "surname"],
    ]
    assert cells[0][2].startswith("Incident date (incident_date) is not a date")
    assert cells[2][2] == "Required identifier surname is missing."
    assert "is not one of the allowed values" in cells[1][2]
    for value in ("31/31/2026", "severe", "Jones", "Brown", "-3 visits"):
        assert value not in table
    assert "upload the download as it is, as an incremental extract" in page

    document = client.get(
        reverse("agencies_api:extract_detail", args=[extract.pk]),
        HTTP_AUTHORIZATION=f"Token {token}",
    ).json()
    assert [(line["row"], line["column"]) for line in document["set_aside"]] == [
        (6, "incident_date"),
        (11, "risk_grade"),
        (16, "surname"),
    ]
    assert document["set_aside_complete"] is True
    assert "severe" not in json.dumps(document)


def test_many_rows_set_aside_are_capped_with_their_count(admin_client, agency, client, token):
    dataset = police_dataset(agency)
    rows = [good_row(f"B{n:04d}", incident_date="x") for n in range(SET_ASIDE_SHOWN + 30)]
    extract = upload(dataset, csv_bytes(rows))
    assert extract.status == ExtractStatus.REJECTED
    page = admin_client.get(reverse("agencies:extract_detail", args=[extract.pk])).content.decode()
    assert f"The first {SET_ASIDE_SHOWN} of {SET_ASIDE_SHOWN + 30} rows set aside" in page
    document = client.get(
        reverse("agencies_api:extract_detail", args=[extract.pk]),
        HTTP_AUTHORIZATION=f"Token {token}",
    ).json()
    assert len(document["set_aside"]) == SET_ASIDE_SHOWN
    assert document["set_aside_complete"] is False


def download_rows(client, extract) -> list[list[str]]:
    response = client.get(reverse("agencies:extract_quarantine", args=[extract.pk]))
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_set_aside_download_goes_back_as_it_is_and_loads(admin_client, agency, settings):
    """Upload with bad rows -> download -> fix the cells -> upload the download back -> loads."""
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.5
    dataset = police_dataset(agency)
    post_upload(admin_client, dataset, csv_bytes(twenty_rows_three_bad()), mode="full")
    first = Extract.objects.get()
    assert first.rows_loaded == 17

    table = download_rows(admin_client, first)
    header = table[0]
    assert header[:3] == ["row_in_file", "reasons", "incident_ref"]
    column = {name: index for index, name in enumerate(header)}
    fixes = {"B1": ("incident_date", "2026-01-31"), "B2": ("risk_grade", "high")}
    fixes["B3"] = ("surname", "Khan")
    for row in table[1:]:
        name, value = fixes[row[column["incident_ref"]]]
        row[column[name]] = value
    # The summary "-3 visits" came down as "'-3 visits", safe from spreadsheets' formulas.
    assert [row[column["summary"]] for row in table[1:]][2] == "'-3 visits"
    out = io.StringIO()
    csv.writer(out).writerows(table)

    response = post_upload(admin_client, dataset, out.getvalue().encode(), name="fixed.csv")
    second = Extract.objects.exclude(pk=first.pk).get()
    assert response.status_code == 302
    assert second.status == ExtractStatus.LOADED, second.message
    assert (second.rows_read, second.rows_loaded, second.rows_quarantined) == (3, 3, 0)
    assert SourceRecord.objects.filter(dataset=dataset, is_retired=False).count() == 20
    b3 = SourceRecord.objects.get(source_id="B3")
    assert b3.payload["summary"] == "-3 visits"  # the download's quote is taken off again


def test_the_download_columns_are_recognised_only_as_the_download_writes_them(agency):
    dataset = police_dataset(agency)
    row = good_row("A1")
    # In another place, or under another name, they are columns the dataset does not define.
    for header in (
        ["incident_ref", "row_in_file", "reasons", *list(row)[1:]],
        ["row_in_file", "why", *row],
        ["Row_in_file", "Reasons", *row],
    ):
        cells = [{name: row.get(name, "2") for name in header}]
        extract = upload(dataset, csv_bytes(cells, header=header))
        assert extract.status == ExtractStatus.REJECTED
        assert "columns the dataset does not define" in extract.message


def test_the_download_of_a_download_has_one_row_in_file_and_reasons(admin_client, agency):
    dataset = police_dataset(agency)
    first = upload(dataset, csv_bytes([good_row("B1", incident_date="x")]))
    table = download_rows(admin_client, first)
    out = io.StringIO()
    csv.writer(out).writerows(table)  # sent back unfixed: set aside again
    second = upload(dataset, out.getvalue().encode())
    assert second.status == ExtractStatus.REJECTED and second.rows_quarantined == 1
    again = download_rows(admin_client, second)
    assert again[0] == table[0]
    assert again[1][0] == "2"


def test_an_api_upload_of_the_download_loads_too(client, token, agency, settings, admin_client):
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.5
    dataset = police_dataset(agency)
    first = upload(dataset, csv_bytes([good_row("A1"), good_row("B1", incident_date="x")]))
    table = download_rows(admin_client, first)
    table[1][table[0].index("incident_date")] = "2026-02-02"
    out = io.StringIO()
    csv.writer(out).writerows(table)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            reverse("agencies_api:dataset_extracts", args=[dataset.pk]),
            {"file": SimpleUploadedFile("fixed.csv", out.getvalue().encode())},
            HTTP_AUTHORIZATION=f"Token {token}",
        )
    assert response.status_code == 202
    extract = Extract.objects.get(pk=response.json()["id"])
    assert extract.status == ExtractStatus.LOADED and extract.rows_loaded == 1


# --- Extracts numbered per dataset ---------------------------------------------------------------


def test_extracts_are_numbered_within_their_dataset(admin_client, agency, client, token):
    from tests.ingest_helpers import POLICE_DEFINITION

    first_dataset = police_dataset(agency)
    upload(first_dataset, csv_bytes([good_row("A1")]))
    upload(first_dataset, csv_bytes([good_row("A2")]))
    other = police_dataset(agency, {**POLICE_DEFINITION, "name": "Police - missing persons"})
    extract = upload(other, csv_bytes([good_row("M1")]))
    assert extract.number == 1 and extract.pk > 2

    page = admin_client.get(reverse("agencies:extract_detail", args=[extract.pk])).content.decode()
    assert '<h1 class="govuk-heading-l">Extract 1</h1>' in page
    history = admin_client.get(reverse("agencies:dataset_detail", args=[other.pk])).content.decode()
    assert ">Extract 1</a>" in history and ">Extract 3</a>" not in history
    again = upload(other, csv_bytes([good_row("M1")]))
    assert again.number == 2
    assert "identical to extract 1," in again.message
    document = client.get(
        reverse("agencies_api:extract_detail", args=[again.pk]),
        HTTP_AUTHORIZATION=f"Token {token}",
    ).json()
    assert (document["id"], document["number"]) == (again.pk, 2)
    download = admin_client.get(reverse("agencies:extract_quarantine", args=[again.pk]))
    assert 'filename="extract-2-rejected-rows.csv"' in download["Content-Disposition"]


def test_existing_extracts_are_numbered_in_upload_order(agency):
    import importlib

    from django.apps import apps

    backfill = importlib.import_module("agencies.migrations.0011_extract_number_backfill")
    dataset = police_dataset(agency)
    extracts = [upload(dataset, csv_bytes([good_row(f"A{n}")])) for n in range(3)]
    rejected = upload(dataset, csv_bytes([good_row("B1", incident_date="x")]))
    # As an extract rejected before the fix was left: the counts of its attempt. The numbers
    # are out of the way of 1 to 4, as they are empty when the migration runs.
    Extract.objects.filter(pk=rejected.pk).update(rows_loaded=17, number=140)
    for n, extract in enumerate(extracts):
        Extract.objects.filter(pk=extract.pk).update(number=107 - n)
    backfill.extracts_number(apps, None)
    backfill.rejected_counts_clear(apps, None)
    numbers = list(Extract.objects.order_by("uploaded_at", "id").values_list("number", flat=True))
    assert numbers == [1, 2, 3, 4]
    assert Extract.objects.get(pk=rejected.pk).rows_loaded == 0


# --- Retention in years and months ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "words"),
    [
        (2190, "6 years"),
        (548, "1 year and 6 months"),
        (395, "1 year and 1 month"),
        (30, "1 month"),
        (20, "20 days"),
        (1, "1 day"),
        (100, "3 months and 9 days"),
        (36500, "100 years"),
    ],
)
def test_a_period_reads_in_years_and_months(days, words):
    from agencies.periods import period_in_words

    assert period_in_words(days) == words


def test_the_retention_period_is_shown_in_years_and_months(admin_client, agency):
    from agencies.models import Dataset

    dataset = police_dataset(agency)
    page = admin_client.get(reverse("agencies:dataset_detail", args=[dataset.pk])).content.decode()
    assert "6 years after the last extract that included a record" in page
    assert "2190" not in page
    Dataset.objects.filter(pk=dataset.pk).update(retention_days=548)
    period = admin_client.get(reverse("retention:retention_period", args=[dataset.pk]))
    assert "Now: 1 year and 6 months." in period.content.decode()
    saved = admin_client.post(
        reverse("retention:retention_period", args=[dataset.pk]), {"days": "2190"}, follow=True
    )
    assert "are now kept for 6 years." in saved.content.decode()


# --- A file with no record id column -------------------------------------------------------------

NO_ID_HEADER = ["forename", "surname", "dob", "postcode", "referral_date", "outcome"]


def no_id_row(forename="Alice", surname="Smith", **overrides) -> dict:
    row = {
        "forename": forename,
        "surname": surname,
        "dob": "01/02/2015",
        "postcode": "LS6 2AB",
        "referral_date": "2026-01-05",
        "outcome": "open",
    }
    row.update(overrides)
    return row


NO_ID_DEFINITION = {
    "name": "Housing - referrals",
    "source_id_column": "",
    "columns": [
        {"column": "forename", "identifier": "forename", "required": True},
        {"column": "surname", "identifier": "surname", "required": True},
        {"column": "dob", "identifier": "date_of_birth"},
        {"column": "postcode", "identifier": "postcode"},
        {"column": "referral_date", "type": "date", "label": "Referral date", "required": True},
        {"column": "outcome", "type": "category", "label": "Outcome", "values": ["open", "shut"]},
    ],
}


def no_id_file(rows) -> bytes:
    return csv_bytes(rows, header=NO_ID_HEADER)


def test_the_definition_may_have_no_record_id_column():
    from sharehub_bridge.definitions import DefinitionError, definition_parse

    definition = definition_parse(NO_ID_DEFINITION)
    assert definition.source_id_column == "" and not definition.has_record_id
    assert definition.to_json()["source_id_column"] == ""
    assert definition_parse({**NO_ID_DEFINITION, "source_id_column": None}).source_id_column == ""
    without = {k: v for k, v in NO_ID_DEFINITION.items() if k != "source_id_column"}
    with pytest.raises(DefinitionError) as error:
        definition_parse(without)
    assert 'or "" if the file has none' in str(error.value)


def test_the_validator_derives_nothing_and_finds_no_missing_record_id():
    from sharehub_bridge.definitions import definition_parse
    from sharehub_bridge.readers import Row
    from sharehub_bridge.validation import RowValidator, header_check

    definition = definition_parse(NO_ID_DEFINITION)
    header_check(definition, NO_ID_HEADER)
    outcome = RowValidator(definition, NO_ID_HEADER).validate(Row(2, no_id_row()))
    assert outcome.errors == [] and outcome.source_id == ""
    assert set(outcome.identifiers) == {"forename", "surname", "date_of_birth", "postcode"}


def test_admin_defines_a_dataset_with_no_record_id_column(admin_client, agency):
    sample = no_id_file([no_id_row(f"Name{n}", outcome=("open", "shut")[n % 2]) for n in range(10)])
    response = admin_client.post(
        reverse("agencies:dataset_new"), {"sample": SimpleUploadedFile("sample.csv", sample)}
    )
    form = response.context["form"]
    assert form.initial["source_id_column"] == ""
    html = response.content.decode()
    assert '<option value="" selected>No record id column</option>' in html
    assert "two rows for the same person in one file are told apart only by their order" in html

    data = {k: v for k, v in form.initial.items() if v not in (None, False)}
    data.update({"name": "Housing - referrals", "columns": NO_ID_HEADER, "source_id_column": ""})
    saved = admin_client.post(reverse("agencies:dataset_create"), data)
    assert saved.status_code == 302, saved.content.decode()[-3000:]
    from agencies.models import Dataset

    dataset = Dataset.objects.get(name="Housing - referrals")
    assert dataset.current_version.source_id_column == ""
    page = admin_client.get(saved["Location"]).content.decode()
    record_id = page.split('data-testid="record-id-column"')[1].split("</dd>")[0]
    assert "takes full refreshes only" in record_id
    assert "makes a new record for them and retires the old one" in record_id


def no_id_dataset(agency):
    return police_dataset(agency, NO_ID_DEFINITION)


def test_a_full_refresh_derives_record_ids_that_reveal_nothing(agency):
    import hashlib

    dataset = no_id_dataset(agency)
    rows = [no_id_row(), no_id_row("Bob", "Jones"), no_id_row(), no_id_row("Cara", "Khan")]
    extract = upload(dataset, no_id_file(rows), mode="full")
    assert extract.status == ExtractStatus.LOADED, extract.message
    ids = set(SourceRecord.objects.filter(dataset=dataset).values_list("source_id", flat=True))
    assert len(ids) == 4
    # The second row for Alice Smith is told apart by its order.
    repeated = [source_id for source_id in ids if source_id.endswith("-2")]
    assert len(repeated) == 1
    alice = repeated[0].removesuffix("-2")
    assert alice in ids and len(alice) == 64
    for source_id in ids:
        assert all(name not in source_id.lower() for name in ("alice", "smith", "bob", "2015"))
    # Keyed, not a plain hash anyone could recompute from a guessed name and birth date.
    outcome_json = json.dumps(
        [dataset.pk, sorted({"forename": "alice", "surname": "smith"}.items())]
    )
    assert hashlib.sha256(outcome_json.encode()).hexdigest() != alice

    # The same people next time have the same ids: nothing retired, nothing new.
    again = upload(dataset, no_id_file([*rows, no_id_row("Dan", "Lee")]), mode="full")
    assert again.status == ExtractStatus.LOADED and again.records_retired == 0
    assert SourceRecord.objects.filter(dataset=dataset).count() == 5

    # Corrected details make a new record and retire the old one.
    corrected = [no_id_row(), no_id_row("Bob", "Jonas"), no_id_row(), no_id_row("Cara", "Khan")]
    corrected.append(no_id_row("Dan", "Lee"))
    third = upload(dataset, no_id_file(corrected), mode="full")
    assert third.records_retired == 1
    assert SourceRecord.objects.filter(dataset=dataset, is_retired=False).count() == 5
    assert SourceRecord.objects.filter(dataset=dataset, is_retired=True).count() == 1


def test_a_row_set_aside_keeps_its_record_in_a_full_refresh(agency, settings):
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.5
    dataset = no_id_dataset(agency)
    rows = [no_id_row(), no_id_row("Bob", "Jones"), no_id_row("Cara", "Khan")]
    upload(dataset, no_id_file(rows), mode="full")
    rows[1] = no_id_row("Bob", "Jones", referral_date="not a date")
    second = upload(dataset, no_id_file(rows), mode="full")
    assert second.status == ExtractStatus.LOADED and second.rows_quarantined == 1
    assert second.records_retired == 0


def test_no_record_id_means_full_refresh_only_on_web_and_api(admin_client, agency, client, token):
    dataset = no_id_dataset(agency)
    page = admin_client.get(reverse("agencies:extract_upload", args=[dataset.pk])).content.decode()
    assert "Changes only" not in page
    assert "Only a full refresh: this dataset has no record id column" in page

    response = post_upload(admin_client, dataset, no_id_file([no_id_row()]), mode="incremental")
    assert response.status_code == 400
    assert "takes full refreshes only" in response.content.decode()
    assert Extract.objects.count() == 0

    with TestCase.captureOnCommitCallbacks(execute=True):
        refused = client.post(
            reverse("agencies_api:dataset_extracts", args=[dataset.pk]),
            {"file": SimpleUploadedFile("a.csv", no_id_file([no_id_row()])), "mode": "incremental"},
            HTTP_AUTHORIZATION=f"Token {token}",
        )
    assert refused.status_code == 400
    assert "takes full refreshes only" in refused.json()["file"][0]
    assert Extract.objects.count() == 0

    loaded = post_upload(admin_client, dataset, no_id_file([no_id_row()]), mode="full")
    assert loaded.status_code == 302
    assert Extract.objects.get().status == ExtractStatus.LOADED


# --- The mapping form's allowed values -----------------------------------------------------------


def test_allowed_values_are_asked_only_of_categories_and_shown_in_full(admin_client):
    from tests.ingest_helpers import HEADER

    grades = ["critical", "high", "low", "medium", "none", "standard"]
    sample = csv_bytes([good_row(f"I{n}", risk_grade=grades[n % 6]) for n in range(24)])
    response = admin_client.post(
        reverse("agencies:dataset_new"), {"sample": SimpleUploadedFile("sample.csv", sample)}
    )
    html = response.content.decode()

    def box(column):
        return html.split(f'data-testid="values-{column}"')[1].split("</textarea>")[0]

    risk = box("risk_grade")
    assert not risk.startswith(" hidden") and not risk.lstrip('"').startswith(" hidden")
    assert "\n".join(grades) in risk
    assert f'rows="{len(grades) + 1}"' in risk
    for column in ("forename", "surname", "dob", "nhs_number", "incident_date"):
        assert box(column).split(">", 1)[0].endswith(" hidden"), column
    assert len(HEADER) == html.count("data-category-for=")
    assert "sharehub/mapping.mjs" in html


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    __import__("django.db").db.connection.vendor != "postgresql",
    reason="two connections at once: PostgreSQL's concurrency, not the embedded SQLite's",
)
def test_uploads_at_the_same_moment_get_different_numbers(agency):
    """Each thread reads the same highest number inside its own transaction, then inserts; the
    unique constraint refuses all but one, and the others take the next numbers."""
    import threading

    from django.db import connection, transaction

    dataset = police_dataset(agency)
    version = dataset.current_version
    threads = 4
    start = threading.Barrier(threads)
    numbers: list[int] = []
    errors: list[BaseException] = []

    def receive(n: int) -> None:
        try:
            with transaction.atomic():
                start.wait()
                extract = Extract.objects.create(
                    dataset=dataset,
                    version=version,
                    mode="full",
                    channel="api",
                    filename=f"{n}.csv",
                    size_bytes=1,
                    checksum=f"{n:064d}",
                    status=ExtractStatus.LOADED,
                )
                numbers.append(extract.number)
        except BaseException as error:  # reported by the test below
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=receive, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert sorted(numbers) == [1, 2, 3, 4]


def test_the_download_sent_back_as_a_full_refresh_is_refused(admin_client, agency, settings):
    """It holds only the rows set aside: as a full refresh it would retire every other record."""
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.5
    dataset = police_dataset(agency)
    first = upload(dataset, csv_bytes([good_row("A1"), good_row("B1", incident_date="x")]))
    table = download_rows(admin_client, first)
    table[1][table[0].index("incident_date")] = "2026-02-02"
    out = io.StringIO()
    csv.writer(out).writerows(table)
    again = upload(dataset, out.getvalue().encode(), mode="full")
    assert again.status == ExtractStatus.REJECTED
    assert "would retire every other record" in again.message
    assert SourceRecord.objects.get(dataset=dataset).is_retired is False
