"""Journey: an agency admin reaches a dataset's data quality page with the keyboard alone, and
finds each chart described for a screen reader, with the table of its figures beside it."""

import re

import pytest
from playwright.sync_api import Page, expect

from agencies.models import Extract, Role
from tests.browser.conftest import axe_violations
from tests.browser.test_review_journey import tab_to
from tests.browser.test_sign_in import sign_in
from tests.ingest_helpers import csv_bytes, good_row, police_dataset, upload

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_reaches_data_quality_by_keyboard_and_reads_chart_and_table(
    page: Page, member, agency
):
    dataset = police_dataset(agency)
    before = upload(dataset, csv_bytes([good_row("A1"), good_row("A2")]))
    # Loaded before data quality was counted.
    Extract.objects.filter(pk=before.pk).update(quality=None)
    upload(
        dataset,
        csv_bytes(
            [
                good_row("B1"),
                good_row("B2", nhs_number=""),
                good_row("B3", nhs_number="9434765918"),  # fails its check digit
                good_row("B4", postcode="Leeds"),
            ]
        ),
    )
    admin = member(Role.AGENCY_ADMIN)
    sign_in(page, admin.email)

    tab_to(page, page.locator("#navigation").get_by_role("link", name="Datasets"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Datasets"))
    tab_to(page, page.get_by_role("link", name=dataset.name))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(dataset.name)
    tab_to(page, page.get_by_role("link", name="See the data quality of each extract"))
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text("Data quality")
    # Each chart is drawn, and says what it is and where its figures are in words.
    chart = page.locator('canvas[data-chart="chart-completeness"]')
    expect(chart).to_have_attribute("data-drawn", "true")
    expect(chart).to_have_attribute("role", "img")
    expect(chart).to_have_attribute(
        "aria-label", "Rows with a value, by identifier. Chart; the table below gives the figures."
    )
    for title in ("Values that pass their check", "Records linked"):
        expect(page.get_by_role("img", name=re.compile(f"^{title}"))).to_be_visible()

    table = page.get_by_test_id("table-completeness")
    expect(table.get_by_role("columnheader", name="NHS number")).to_be_visible()
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Not measured")
    expect(rows.nth(1)).to_contain_text("75% (3 of 4)")  # NHS numbers present
    validity = page.get_by_test_id("table-validity")
    expect(validity.locator("tbody tr").nth(1)).to_contain_text("66.7% (2 of 3)")

    # The tables that scroll sideways take the focus, so a keyboard user can scroll them.
    tab_to(page, page.get_by_role("region", name="Rows with a value for each identifier"))
    assert axe_violations(page) == []
