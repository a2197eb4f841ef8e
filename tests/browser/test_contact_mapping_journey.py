"""Journey: an agency admin marks a column as the lead worker in the mapping form, with the
keyboard alone, and sees it on the dataset's definition page."""

import pytest
from playwright.sync_api import Page, expect

from agencies.models import Role
from tests.browser.conftest import expect_accessible
from tests.browser.test_review_journey import tab_to
from tests.browser.test_sign_in import sign_in
from tests.test_contacts import define, with_column

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_marks_a_column_as_lead_worker_using_only_the_keyboard(page: Page, member, agency):
    dataset = define(agency, with_column({"column": "oic", "type": "text", "label": "OIC"}))
    admin = member(Role.AGENCY_ADMIN)
    sign_in(page, admin.email)
    page.goto(f"/datasets/{dataset.pk}/")
    expect(page.get_by_test_id("contact-columns")).to_have_text(
        "No column is mapped as a contact detail"
    )
    expect_accessible(page)

    tab_to(page, page.get_by_role("button", name="Change the mapping"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Change the mapping")
    expect_accessible(page)

    contact = page.get_by_label("Is oic a contact detail?")
    expect(contact).to_have_value("")
    tab_to(page, contact, limit=200)
    page.keyboard.press("ArrowDown")
    expect(contact).to_have_value("lead_worker")
    expect(contact.locator("option:checked")).to_have_text("Yes, the lead worker's name")
    tab_to(page, page.get_by_role("button", name="Save the mapping"), limit=200)
    page.keyboard.press("Enter")

    expect(page.locator(".govuk-notification-banner")).to_contain_text("Mapping saved as version 2")
    expect(page.get_by_test_id("contact-columns")).to_have_text("Lead worker: oic")
    expect_accessible(page)
    version = dataset.current_version
    assert next(c for c in version.columns if c["column"] == "oic")["contact"] == "lead_worker"

    # A contact detail is never the person's: one on an identifier column is refused, with the
    # error summary leading back to the form.
    tab_to(page, page.get_by_role("button", name="Change the mapping"))
    page.keyboard.press("Enter")
    surname = page.get_by_label("Is surname a contact detail?")
    tab_to(page, surname, limit=200)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(surname).to_have_value("team")
    tab_to(page, page.get_by_role("button", name="Save the mapping"), limit=200)
    page.keyboard.press("Enter")
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_contain_text(
        'Column "surname" is mapped as an identifier, so it cannot also be the team'
    )
    expect_accessible(page)
    assert dataset.versions.count() == 2
