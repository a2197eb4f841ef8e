"""Journey: an agency admin defines a dataset from a sample file, uploads an extract, watches it
being processed by a real worker, and downloads the rows that were set aside."""

import csv
import io
import re

import pytest
from playwright.sync_api import Page, expect

from agencies.models import Dataset, ExtractStatus, Role, SourceRecord
from tests.browser.test_sign_in import sign_in
from tests.ingest_helpers import csv_bytes, good_row
from tests.workers import celery_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

GOOD_ROWS = 40_000
BAD_ROWS = 25
# A damaged date of birth is not a reason to set a row aside (issue 19): these load with a warning.
DAMAGED_DOB_ROWS = 5


def test_admin_defines_uploads_watches_progress_and_downloads_rejected_rows(
    page: Page, member, agency, tmp_path
):
    admin = member(Role.AGENCY_ADMIN)
    sign_in(page, admin.email)
    page.locator("#navigation").get_by_role("link", name="Datasets").click()
    page.get_by_role("button", name="Define a dataset").click()

    sample = tmp_path / "police-sample.csv"
    sample.write_bytes(
        csv_bytes([good_row(f"S{n}", risk_grade=("high", "medium")[n % 2]) for n in range(20)])
    )
    page.get_by_label("Sample file").set_input_files(sample)
    page.get_by_role("button", name="Propose a mapping").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Check the mapping")
    expect(page.get_by_label("What is forename?")).to_have_value("identifier:forename")
    expect(page.get_by_label("What is dob?")).to_have_value("identifier:date_of_birth")
    expect(page.get_by_label("What is risk_grade?")).to_have_value("type:category")
    expect(page.get_by_label("Record id column")).to_have_value("incident_ref")
    page.get_by_label("Dataset name").fill("Police - domestic abuse incidents")
    page.get_by_label("What is summary?").select_option("type:text")
    page.get_by_role("button", name="Save the mapping").click()

    expect(page.locator(".govuk-notification-banner")).to_contain_text("Mapping saved as version 1")
    expect(page.get_by_role("heading", level=1)).to_have_text("Police - domestic abuse incidents")

    rows = [good_row(f"R{n:06d}") for n in range(GOOD_ROWS)]
    rows += [good_row(f"W{n:03d}", dob="not a date") for n in range(DAMAGED_DOB_ROWS)]
    rows += [good_row(f"B{n:03d}", incident_date="not a date") for n in range(BAD_ROWS)]
    extract_file = tmp_path / "incidents.csv"
    extract_file.write_bytes(csv_bytes(rows))

    with celery_worker():
        page.get_by_role("button", name="Upload an extract").click()
        page.get_by_label("Extract file").set_input_files(extract_file)
        page.get_by_label("Everything: a full refresh").check()
        page.get_by_role("button", name="Upload").click()

        expect(page).to_have_url(re.compile(r"/extracts/\d+/$"))
        # The worker is still reading: the page shows a moving progress bar...
        progress = page.locator("progress.sharehub-progress")
        expect(progress).to_be_visible()
        expect(page.locator("#progress-label")).to_contain_text("rows read")
        # ...and reloads itself with the result when the worker is done.
        expect(page.get_by_role("heading", name="Extract loaded")).to_be_visible(timeout=120_000)

    expect(page.get_by_test_id("extract-counts")).to_contain_text(
        f"{GOOD_ROWS + DAMAGED_DOB_ROWS + BAD_ROWS} read, "
        f"{GOOD_ROWS + DAMAGED_DOB_ROWS} loaded, {DAMAGED_DOB_ROWS} with warnings, "
        f"{BAD_ROWS} rejected"
    )
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the rejected rows (CSV)").click()
    downloaded = download_info.value.path().read_text()
    table = list(csv.reader(io.StringIO(downloaded)))
    assert table[0][:3] == ["row_in_file", "reasons", "incident_ref"]
    assert len(table) == 1 + BAD_ROWS
    assert all("(incident_date) is not a date" in row[1] for row in table[1:])

    dataset = Dataset.objects.get(agency=agency)
    assert dataset.extracts.get().status == ExtractStatus.LOADED
    assert SourceRecord.objects.filter(dataset=dataset).count() == GOOD_ROWS + DAMAGED_DOB_ROWS
