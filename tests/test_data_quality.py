"""Data quality per dataset (issue 23, item 4): counted at loading, the linked share after
linkage, and the page and API that show them to the dataset's own agency admins only."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.urls import reverse

from agencies.models import Extract, ExtractStatus, Role
from agencies.quality import dataset_quality_page, linked_published
from agencies.selectors import extract_label
from agencies.tokens import api_token_create
from matching.linked_share import dataset_linked_counts, extract_linked_share_store
from protocols.models import SealRule
from protocols.seals import seals_mark
from tests.factories import MembershipFactory
from tests.ingest_helpers import csv_bytes, good_row, police_dataset, upload
from tests.protocol_helpers import linked_people
from tests.test_linkage import ALICE, STRANGER, rows_csv

pytestmark = pytest.mark.django_db

# The values a test row carries: none of them may appear on the page or in the API.
SECRET_VALUES = ["Alice", "Smith", "9434765919", "LS6 2AB", "2015-02-01", "01/02/2015"]


def web_upload(client, dataset, content: bytes):
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            reverse("agencies:extract_upload", args=[dataset.pk]),
            {"file": SimpleUploadedFile("extract.csv", content), "mode": "incremental"},
        )
    assert response.status_code == 302
    return Extract.objects.filter(dataset=dataset).latest("pk")


@pytest.fixture
def admin(member):
    return member(Role.AGENCY_ADMIN)


@pytest.fixture
def admin_client(client, admin):
    client.force_login(admin)
    return client


def mixed_rows() -> list[dict]:
    """Ten rows: 2 without an NHS number, 1 failing its check digit, 1 postcode of no UK shape,
    1 date of birth kept only as month and year, 1 placeholder forename; 1 bad row set aside."""
    rows = [good_row(f"R{n}", forename=f"Alice{'abcdefghij'[n]}") for n in range(10)]
    rows[0]["nhs_number"] = ""
    rows[1]["nhs_number"] = ""
    rows[2]["nhs_number"] = "9434765918"
    rows[3]["postcode"] = "Leeds"
    rows[4]["dob"] = "31/02/2015"
    rows[5]["forename"] = "Baby"
    rows.append(good_row("BAD", incident_date="not a date", nhs_number=""))
    return rows


def test_a_web_upload_stores_the_quality_of_the_rows_it_loaded(admin_client, agency, settings):
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.5
    dataset = police_dataset(agency)
    extract = web_upload(admin_client, dataset, csv_bytes(mixed_rows()))

    assert extract.status == ExtractStatus.LOADED and extract.rows_loaded == 10
    # The row set aside is not counted: the figures are of the rows that loaded.
    assert extract.quality == {
        "rows": 10,
        "identifiers": {
            "forename": {"present": 10, "invalid": 1},
            "surname": {"present": 10, "invalid": 0},
            "date_of_birth": {"present": 10, "invalid": 1},
            "nhs_number": {"present": 8, "invalid": 1},
            "postcode": {"present": 10, "invalid": 1},
        },
    }
    # The repairs ingest counted, beside them.
    assert extract.repairs["nhs_number"] == {"check_digit": 1}
    assert extract.repairs["date_of_birth"] == {"impossible_day": 1}


def test_a_second_attempt_counts_afresh(agency):
    """A run that died part way is started again: its counts must not add to the first's."""
    from agencies.ingest.process import extract_ingest

    dataset = police_dataset(agency)
    extract = upload(dataset, csv_bytes([good_row("R1"), good_row("R2", nhs_number="")]))
    assert extract.quality["rows"] == 2
    Extract.objects.filter(pk=extract.pk).update(status=ExtractStatus.PROCESSING)
    # The raw file is gone once loaded, so the second attempt is rejected, and keeps no counts.
    extract_ingest(extract_id=extract.pk)
    extract.refresh_from_db()
    assert extract.status == ExtractStatus.REJECTED and extract.quality is None


def test_the_linked_share_after_linkage_with_two_agencies(agency, other_agency):
    ours = police_dataset(agency, {**_with_address(), "name": "Ours"})
    theirs = police_dataset(other_agency, {**_with_address(), "name": "Theirs"})
    first = upload(ours, rows_csv([good_row("P1", **ALICE), good_row("P2", **STRANGER)]))
    # Linkage followed the upload (in-process here) and left its counts: nobody else yet.
    assert (first.records_after_linkage, first.records_linked_elsewhere) == (2, 0)

    second = upload(theirs, rows_csv([good_row("O1", **{**ALICE, "forename": "Alise"})]))
    assert (second.records_after_linkage, second.records_linked_elsewhere) == (1, 1)

    # Measured again (a redelivered task), the first extract's figure is as linkage now stands.
    extract_linked_share_store(extract_id=first.pk)
    first.refresh_from_db()
    assert (first.records_after_linkage, first.records_linked_elsewhere) == (2, 1)
    extract_linked_share_store(extract_id=first.pk)
    first.refresh_from_db()
    assert (first.records_after_linkage, first.records_linked_elsewhere) == (2, 1)

    # A record the other agency retires (a full refresh without it) no longer counts.
    nobody_we_know = {
        "forename": "Zed",
        "surname": "Novak",
        "dob": "05/05/1990",
        "postcode": "LS1 1AA",
        "address": "9 Park Row, Leeds",
        "nhs_number": "",
    }
    upload(theirs, rows_csv([good_row("O2", **nobody_we_know)]), mode="full")
    extract_linked_share_store(extract_id=first.pk)
    first.refresh_from_db()
    assert (first.records_after_linkage, first.records_linked_elsewhere) == (2, 0)


def _with_address() -> dict:
    from tests.test_linkage import WITH_ADDRESS

    return WITH_ADDRESS


def test_the_linked_count_is_published_to_the_nearest_ten():
    assert linked_published(records=2, linked=1) == {
        "records": 2,
        "linked": 0,
        "linked_percent": 0.0,
    }
    assert linked_published(records=1000, linked=347)["linked"] == 350
    assert linked_published(records=1000, linked=347)["linked_percent"] == 35.0
    assert linked_published(records=8, linked=8)["linked"] == 8  # never more than there are
    assert linked_published(records=0, linked=0)["linked_percent"] is None


def test_the_page_shows_each_extract_with_counts_and_old_extracts_as_not_measured(
    admin_client, agency, settings
):
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.5
    dataset = police_dataset(agency)
    old = upload(dataset, csv_bytes([good_row("OLD1")]))
    # Loaded before data quality was counted: nothing, not zero.
    Extract.objects.filter(pk=old.pk).update(
        quality=None, records_after_linkage=None, records_linked_elsewhere=None
    )
    web_upload(admin_client, dataset, csv_bytes(mixed_rows()))

    detail = admin_client.get(reverse("agencies:dataset_detail", args=[dataset.pk]))
    quality_url = reverse("agencies:dataset_quality", args=[dataset.pk])
    assert quality_url in detail.content.decode()

    response = admin_client.get(quality_url)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Data quality" in page
    assert "80% (8 of 10)" in page  # NHS numbers present
    assert "87.5% (7 of 8)" in page  # of those, passing the check digit
    assert "90% (9 of 10)" in page  # forenames that are names, postcodes of UK shape
    assert page.count("Not measured") >= 3  # the old extract: its identifiers and repairs
    assert 'data-chart="chart-completeness"' in page and 'id="chart-completeness"' in page
    assert "10 digits passing the NHS number check digit" in page
    for value in SECRET_VALUES:
        assert value not in page, value

    chart = response.context["quality"]["completeness_chart"]
    nhs = next(s for s in chart["series"] if s["label"] == "NHS number")
    assert nhs["values"] == [None, 80.0]  # the old extract is a gap, not a zero
    assert chart["value_max"] == 100 and chart["value_suffix"] == "%"


def test_the_page_is_for_the_datasets_own_agency_admins_only(
    client, admin, member, agency, other_agency
):
    dataset = police_dataset(agency)
    upload(dataset, csv_bytes([good_row("R1")]))
    url = reverse("agencies:dataset_quality", args=[dataset.pk])

    client.force_login(member(Role.PRACTITIONER))
    assert client.get(url).status_code == 403
    stranger = MembershipFactory(agency=other_agency, role=Role.AGENCY_ADMIN).user
    client.force_login(stranger)
    assert client.get(url).status_code == 404
    assert client.get(reverse("agencies_api:dataset_quality", args=[dataset.pk])).status_code == 404
    client.force_login(admin)
    assert client.get(url).status_code == 200


def test_the_api_gives_the_series_as_json(client, admin, agency, other_agency):
    dataset = police_dataset(agency)
    upload(dataset, csv_bytes([good_row("R1"), good_row("R2", nhs_number="")]))
    _, token = api_token_create(agency=agency, name="reports", created_by=admin)
    url = reverse("agencies_api:dataset_quality", args=[dataset.pk])

    response = client.get(url, HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200
    body = response.json()
    assert body["dataset"] == dataset.pk
    assert [i["identifier"] for i in body["identifiers"]] == [
        "forename",
        "surname",
        "date_of_birth",
        "postcode",
        "nhs_number",
    ]
    (extract,) = body["extracts"]
    assert extract["measured"] is True and extract["rows_measured"] == 2
    nhs = next(i for i in extract["identifiers"] if i["identifier"] == "nhs_number")
    assert nhs == {
        "identifier": "nhs_number",
        "present": 1,
        "complete_percent": 50.0,
        "valid": 1,
        "valid_percent": 100.0,
    }
    assert extract["linked"] == {"records": 2, "linked": 0, "linked_percent": 0.0}
    assert extract["repairs"]["nhs_number_check_digit"] == 0
    for value in SECRET_VALUES:
        assert value not in response.content.decode()

    theirs = police_dataset(other_agency)
    other_url = reverse("agencies_api:dataset_quality", args=[theirs.pk])
    assert client.get(other_url, HTTP_AUTHORIZATION=f"Token {token}").status_code == 404
    assert client.get(url).status_code in (401, 403)


def test_another_agencys_sealed_record_links_nobody(agency, other_agency):
    """The figure is read by the dataset's own agency: a record sealed from it (sexual health,
    adoption) must not move it, or it would say who is known where."""
    linked = linked_people(other_agency, agency)  # Alice: police A1 and A2, social care S1
    assert dataset_linked_counts(dataset_id=linked.csc.pk, agency_id=agency.pk) == (2, 1)
    for value in ("high", "medium"):  # every police record of Alice
        SealRule.objects.create(
            dataset=linked.police, field_key="field:risk_grade", value=value, reason="Test seal"
        )
    seals_mark(dataset_id=linked.police.pk)
    assert dataset_linked_counts(dataset_id=linked.csc.pk, agency_id=agency.pk) == (2, 0)
    # The police's own figure still counts their records linked to social care's, unsealed.
    assert dataset_linked_counts(dataset_id=linked.police.pk, agency_id=other_agency.pk) == (3, 2)


def test_the_series_costs_one_query_however_many_extracts(agency, django_assert_num_queries):
    dataset = police_dataset(agency)
    for n in range(3):
        upload(dataset, csv_bytes([good_row(f"R{n}")]))
    with django_assert_num_queries(1):
        quality = dataset_quality_page(dataset)
    assert len(quality["extracts"]) == 3
    assert [row["extract"]["label"] for row in quality["completeness_rows"]] == [
        extract_label(extract) for extract in dataset.extracts.order_by("uploaded_at", "id")
    ]
