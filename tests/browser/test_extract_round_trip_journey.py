"""Journeys (issue 23, item 3), keyboard only after signing in: an agency admin defines a dataset
from a file with no record id column and loads a full refresh; uploads a file with bad rows,
reads why on the extract's page, downloads them, fixes them and uploads the download back; and
reads a rejected extract's page, which says nothing loaded and asks for the whole file again.

Files are chosen as a keyboard user does: Space on the file input opens the chooser. The world
is one agency, set up through the services: no demo load.
"""

import csv
import io
import re

import pytest
from playwright.sync_api import Locator, Page, expect

from agencies.models import Dataset, Extract, ExtractStatus, Role, SourceRecord
from tests.browser.conftest import expect_accessible
from tests.browser.test_sign_in import sign_in
from tests.ingest_helpers import csv_bytes, good_row, police_dataset

pytestmark = pytest.mark.django_db(transaction=True)


def press(page: Page, target: Locator, key: str = "Enter") -> None:
    """Move the keyboard focus to `target` and press a key, as Tab would bring it there."""
    target.focus()
    expect(target).to_be_focused()
    page.keyboard.press(key)


def choose_file(page: Page, field: Locator, path) -> None:
    """Space on a focused file input opens the file chooser, as it does for a keyboard user."""
    with page.expect_file_chooser() as chooser:
        press(page, field, "Space")
    chooser.value.set_files(path)


def open_datasets(page: Page) -> None:
    press(page, page.locator("#navigation").get_by_role("link", name="Datasets", exact=True))
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Datasets"))


def twenty_rows_three_bad() -> list[dict]:
    rows = [good_row(f"R{n:02d}") for n in range(17)]
    rows.insert(4, good_row("B1", incident_date="31/31/2026"))
    rows.insert(9, good_row("B2", risk_grade="severe"))
    rows.insert(14, good_row("B3", surname=""))
    return rows


def upload_by_keyboard(page: Page, path, *, mode_label: str | None) -> None:
    press(page, page.get_by_role("button", name="Upload an extract"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Upload an extract")
    choose_file(page, page.get_by_label("Extract file"), path)
    if mode_label:
        press(page, page.get_by_label(mode_label), "Space")
    press(page, page.get_by_role("button", name="Upload", exact=True))
    expect(page).to_have_url(re.compile(r"/extracts/\d+/$"))


def test_a_file_with_no_record_id_column_is_defined_and_loaded_as_a_full_refresh(
    page: Page, member, agency, tmp_path
):
    sign_in(page, member(Role.AGENCY_ADMIN).email)
    open_datasets(page)
    press(page, page.get_by_role("button", name="Define a dataset"))

    header = ["forename", "surname", "dob", "postcode", "referral_date", "outcome"]
    outcomes = ["open", "closed", "stepped down", "escalated", "no further action", "transferred"]
    people = [
        {
            "forename": f"Name{n}",
            "surname": "Smith",
            "dob": "01/02/2015",
            "postcode": "LS6 2AB",
            "referral_date": "2026-01-05",
            "outcome": outcomes[n % len(outcomes)],
        }
        for n in range(24)
    ]
    sample = tmp_path / "referrals.csv"
    sample.write_bytes(csv_bytes(people, header=header))
    choose_file(page, page.get_by_label("Sample file"), sample)
    press(page, page.get_by_role("button", name="Propose a mapping"))

    expect(page.get_by_role("heading", level=1)).to_have_text("Check the mapping")
    # No column holds a record id: none is forced on the file (it was "forename").
    record_id = page.get_by_label("Record id column")
    expect(record_id).to_have_value("")
    expect(record_id.locator("option:checked")).to_have_text("No record id column")
    expect(page.locator("#id_source_id_column-hint")).to_contain_text(
        "Corrected details make a new record and retire the old one"
    )
    # Allowed values only for the category, every value read from the sample shown.
    expect(page.get_by_label("Allowed values for outcome")).to_be_visible()
    expect(page.get_by_label("Allowed values for outcome")).to_have_value(
        "\n".join(sorted(outcomes))
    )
    expect(page.get_by_label("Allowed values for surname")).to_be_hidden()
    # Made a category by the keyboard, a column's box appears; made text again, it goes.
    # (A focused select takes its option from what is typed, as a keyboard user picks one.)
    date_role = page.get_by_label("What is referral_date?")
    press(page, date_role, "S")
    page.keyboard.type("ensitive field: Category")
    expect(date_role).to_have_value("type:category")
    expect(page.get_by_label("Allowed values for referral_date")).to_be_visible()
    page.keyboard.press("Escape")
    page.wait_for_timeout(1100)  # the browser's type-ahead starts afresh after a pause
    page.keyboard.type("Sensitive field: Date")
    expect(date_role).to_have_value("type:date")
    expect(page.get_by_label("Allowed values for referral_date")).to_be_hidden()
    expect_accessible(page)

    press(page, page.get_by_label("Dataset name"), "End")
    page.keyboard.type("Housing - referrals")
    press(page, page.get_by_role("button", name="Save the mapping"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Housing - referrals")
    expect(page.get_by_test_id("record-id-column")).to_contain_text("takes full refreshes only")
    expect(page.get_by_test_id("retention-days")).to_contain_text("6 years")

    extract_file = tmp_path / "referrals-full.csv"
    extract_file.write_bytes(csv_bytes([*people, people[0]], header=header))
    press(page, page.get_by_role("button", name="Upload an extract"))
    # Only a full refresh is offered, and the page says why.
    expect(page.get_by_label(re.compile("^Changes only"))).to_have_count(0)
    expect(
        page.get_by_text(re.compile("Only a full refresh: this dataset has no record id"))
    ).to_be_visible()
    expect_accessible(page)
    choose_file(page, page.get_by_label("Extract file"), extract_file)
    press(page, page.get_by_role("button", name="Upload", exact=True))

    expect(page.get_by_role("heading", name="Extract loaded")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Extract 1")
    expect(page.get_by_test_id("extract-counts")).to_contain_text("25 read, 25 loaded")
    dataset = Dataset.objects.get(name="Housing - referrals")
    ids = set(SourceRecord.objects.filter(dataset=dataset).values_list("source_id", flat=True))
    assert len(ids) == 25  # the repeated first row is told apart by its order
    assert not any("name" in source_id.lower() for source_id in ids)


def test_rows_set_aside_are_explained_downloaded_fixed_and_uploaded_back(
    page: Page, member, agency, tmp_path, settings
):
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.5
    dataset = police_dataset(agency)
    sign_in(page, member(Role.AGENCY_ADMIN).email)
    open_datasets(page)
    press(page, page.get_by_role("link", name=dataset.name))

    first_file = tmp_path / "incidents.csv"
    first_file.write_bytes(csv_bytes(twenty_rows_three_bad()))
    upload_by_keyboard(page, first_file, mode_label=None)
    expect(page.get_by_role("heading", name="Extract loaded")).to_be_visible()
    expect(page.get_by_test_id("extract-counts")).to_contain_text("20 read, 17 loaded")

    reasons = page.get_by_test_id("set-aside-reasons")
    expect(reasons.locator("tbody tr")).to_have_count(3)
    expect(reasons.locator("tbody tr").nth(0).locator("td")).to_have_text(
        ["6", "incident_date", re.compile(r"^Incident date \(incident_date\) is not a date")]
    )
    expect(reasons.locator("tbody tr").nth(1)).to_contain_text("is not one of the allowed values")
    expect(reasons.locator("tbody tr").nth(2)).to_contain_text("Required identifier surname")
    expect(reasons).not_to_contain_text("severe")
    expect(page.get_by_test_id("set-aside-advice")).to_contain_text("upload the download as it is")
    expect_accessible(page)

    with page.expect_download() as download:
        press(page, page.get_by_role("link", name="Download the rejected rows (CSV)"))
    table = list(csv.reader(io.StringIO(download.value.path().read_text())))
    column = {name: index for index, name in enumerate(table[0])}
    fixes = {"B1": ("incident_date", "2026-01-31"), "B2": ("risk_grade", "high")}
    fixes["B3"] = ("surname", "Khan")
    for row in table[1:]:
        name, value = fixes[row[column["incident_ref"]]]
        row[column[name]] = value
    fixed = tmp_path / "extract-1-rejected-rows.csv"
    out = io.StringIO()
    csv.writer(out).writerows(table)
    fixed.write_text(out.getvalue())

    press(page, page.get_by_role("link", name=f"Back to {dataset.name}"))
    upload_by_keyboard(page, fixed, mode_label=None)
    expect(page.get_by_role("heading", name="Extract loaded")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Extract 2")
    expect(page.get_by_test_id("extract-counts")).to_contain_text("3 read, 3 loaded")
    assert SourceRecord.objects.filter(dataset=dataset, is_retired=False).count() == 20


def test_a_rejected_extracts_page_says_nothing_loaded_and_asks_for_the_whole_file(
    page: Page, member, agency, tmp_path
):
    dataset = police_dataset(agency)
    sign_in(page, member(Role.AGENCY_ADMIN).email)
    open_datasets(page)
    press(page, page.get_by_role("link", name=dataset.name))
    rejected_file = tmp_path / "incidents.csv"
    rejected_file.write_bytes(csv_bytes(twenty_rows_three_bad()))
    upload_by_keyboard(page, rejected_file, mode_label="Everything: a full refresh")

    expect(page.get_by_role("heading", name="The extract was rejected")).to_be_visible()
    expect(page.get_by_test_id("extract-message")).to_contain_text("upload the whole file again")
    expect(page.get_by_test_id("extract-counts")).to_have_text("20 read, 0 loaded, 3 with problems")
    expect(page.get_by_test_id("set-aside-advice")).to_contain_text("upload the whole file again")
    expect(page.locator("main")).not_to_contain_text("incremental")
    expect_accessible(page)
    # The error summary's link takes the keyboard to the rows and their reasons.
    press(page, page.get_by_role("link", name="See the rows with problems, and why"))
    expect(page).to_have_url(re.compile("#set-aside$"))
    expect(page.get_by_test_id("set-aside-reasons").locator("tbody tr")).to_have_count(3)

    press(page, page.get_by_role("link", name=f"Back to {dataset.name}"))
    history = page.get_by_test_id("extract-history")
    expect(history.locator("tbody tr").first).to_contain_text("Extract 1")
    expect(history.locator("tbody tr td").nth(6)).to_have_text("0")
    extract = Extract.objects.get()
    assert extract.status == ExtractStatus.REJECTED and extract.rows_loaded == 0
