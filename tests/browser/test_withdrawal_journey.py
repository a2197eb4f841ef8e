"""Journey: an agency admin withdraws an extract sent in error, with the keyboard alone; a real
worker erases its records while the page shows how far it has got."""

import re

import pytest
from playwright.sync_api import Page, expect

from agencies.models import ExtractStatus, Role, SourceRecord
from matching.models import LinkageRecord
from retention.models import ErasureRun, ErasureStatus
from tests.browser.test_review_journey import tab_to
from tests.browser.test_sign_in import sign_in
from tests.ingest_helpers import csv_bytes, good_row, police_dataset, upload
from tests.workers import celery_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

ROWS = 3_000


def test_admin_withdraws_an_extract_and_watches_it_erased(page: Page, member, agency):
    dataset = police_dataset(agency)
    kept = upload(dataset, csv_bytes([good_row("K1", forename="Kept")]))
    wrong = upload(dataset, csv_bytes([good_row(f"W{n:05d}") for n in range(ROWS)]))
    assert wrong.status == ExtractStatus.LOADED
    admin = member(Role.AGENCY_ADMIN, full_name="Ada Admin")

    sign_in(page, admin.email)
    page.goto(f"/extracts/{wrong.pk}/")
    tab_to(page, page.get_by_role("button", name="Withdraw this extract"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Withdraw extract {wrong.number}")
    expect(page.get_by_test_id("withdraw-count")).to_contain_text(f"{ROWS} records")

    # Without the confirmation: the summary takes the focus and leads to the checkbox.
    submit = page.get_by_role("button", name="Withdraw the extract and erase its records")
    tab_to(page, submit)
    page.keyboard.press("Enter")
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Confirm that you understand the records will be erased.")
    assert SourceRecord.objects.filter(dataset=dataset).count() == ROWS + 1
    tab_to(page, summary.get_by_role("link"))
    page.keyboard.press("Enter")
    confirm = page.get_by_label(re.compile("^I understand that the records"))
    expect(confirm).to_be_focused()
    page.keyboard.press("Space")
    expect(confirm).to_be_checked()

    with celery_worker():
        tab_to(page, submit)
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"/erasures/\d+/$"))
        expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Erasure \d+$"))
        # The page reloads itself with the result once the worker is done.
        expect(page.get_by_role("heading", name="Erased", exact=True)).to_be_visible(
            timeout=120_000
        )

    expect(page.get_by_test_id("erasure-records")).to_contain_text(f"{ROWS} records")
    figures = page.get_by_test_id("erasure-figures")
    expect(
        figures.get_by_role("row", name=re.compile("^Keyed tokens and encodings"))
    ).to_contain_text(str(ROWS))
    run = ErasureRun.objects.get()
    assert run.status == ErasureStatus.DONE and run.figures["records"] == ROWS
    assert list(
        SourceRecord.objects.filter(dataset=dataset).values_list("source_id", flat=True)
    ) == ["K1"]
    assert LinkageRecord.objects.count() == 1

    page.goto(f"/extracts/{wrong.pk}/")
    expect(page.get_by_test_id("extract-message")).to_contain_text(f"{ROWS:,} records it loaded")
    page.goto(f"/extracts/{kept.pk}/")
    expect(page.get_by_role("button", name="Withdraw this extract")).to_be_visible()
