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
    assert extract.number == 1 and extract.pk == 3

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

    backfill = importlib.import_module(
        "agencies.migrations.0010_i23_roundtrip_extract_number_backfill"
    )
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
