"""Journey (issue 22, item 1): an IG officer previews a submitted version, first for the example
person and then for a child their agency knows, sees what is new, and approves it from the
preview page; keyboard only, and axe finds nothing on the page either way."""

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from agencies.models import Role
from protocols.models import Tier, VersionStatus
from tests.browser.conftest import expect_accessible
from tests.browser.test_sign_in import sign_in
from tests.protocol_helpers import linked_people, protocol_in_force

pytestmark = pytest.mark.django_db(transaction=True)


def press(page: Page, locator) -> None:
    """Activate a link or button as a keyboard user does."""
    locator.focus()
    page.keyboard.press("Enter")


def test_an_approver_previews_a_version_and_approves_it_from_the_preview(
    page: Page, agency, other_agency, member
):
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    author = member(Role.IG_OFFICER, full_name="Ada Author", email="ada@csc.test")
    approver = member(Role.IG_OFFICER, full_name="Ben Approver", email="ben@csc.test")
    live = protocol_in_force(
        author=author,
        parties=[agency, other_agency],
        rules=[{"dataset": linked.police, "tier": Tier.KNOWN_TO}],
        name="MASH sharing",
    )
    submitted = protocol_in_force(
        author=author,
        parties=[agency, other_agency],
        rules=[
            {"dataset": linked.police, "tier": Tier.SUMMARY, "fields": ["field:risk_grade"]},
            {"dataset": linked.csc, "tier": Tier.SUMMARY, "fields": ["identity:forename"]},
        ],
        status=VersionStatus.AWAITING_APPROVAL,
        name="MASH sharing",
    )
    spare = submitted.protocol
    submitted.protocol, submitted.number = live.protocol, 2
    submitted.save()
    spare.delete()

    sign_in(page, approver.email)
    page.goto(reverse("protocols:version_detail", args=[live.protocol.reference, 2]))
    # The changes page names the new field by its label.
    expect(page.get_by_test_id("rule-changes")).to_contain_text("Added: Risk grade")
    press(page, page.get_by_role("link", name="Preview what this version shows"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Preview what version 2 shows")

    # The example person: every field a placeholder, what is new tagged in words.
    this = page.get_by_test_id("preview-this")
    in_force = page.get_by_test_id("preview-in-force")
    expect(this.locator('[data-field-key="field:risk_grade"]').first).to_have_text("[Risk grade]")
    expect(in_force.locator('[data-field-key="field:risk_grade"]')).to_have_count(0)
    expect(this.get_by_test_id("preview-change").first).to_have_text("New in this version")
    expect(page.get_by_test_id("preview-changes")).to_contain_text("Added: Risk grade")
    expect_accessible(page)

    # A child social care knows: Alice. Her two police records show which field a holder would
    # see, by name only: the police have not agreed to this version and the officer holds
    # neither side, so police values and dates never reach them in a preview.
    person = page.get_by_label("ShareHub reference of a person (optional)")
    person.focus()
    page.keyboard.type(linked.alice.reference)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("preview-for")).to_contain_text(
        f"reading person {linked.alice.reference}"
    )
    grades = this.locator('[data-field-key="field:risk_grade"]')
    expect(grades).to_have_count(2)
    assert grades.all_text_contents() == ["[Risk grade]", "[Risk grade]"]
    expect(this).not_to_contain_text("medium")
    # Her social care record is the officer's own agency's: its value shows.
    expect(this.locator('[data-field-key="identity:forename"]').first).to_contain_text("Alice")
    expect(in_force.get_by_test_id("known-to")).to_contain_text(other_agency.name)
    expect_accessible(page)

    # Approve from the preview page.
    press(page, page.get_by_role("button", name=f"Approve for {agency.name}"))
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Approved for your agency.")
    expect(page.get_by_test_id("missing-approvals")).to_have_text(
        f"Waiting for approval from: {other_agency.name}."
    )
