"""A member of the public, not signed in and using only the keyboard, finds the transparency
register from the footer and goes on to the privacy notice (issue 22, item 7)."""

import pytest
from playwright.sync_api import Locator, Page, expect

from agencies.models import Role
from alerts.models import AlertRule, RuleKind
from protocols.models import ConsentRule, Tier
from risk.models import IndicatorKind, RiskIndicator
from tests.browser.conftest import expect_accessible
from tests.ingest_helpers import police_dataset
from tests.protocol_helpers import protocol_in_force

pytestmark = pytest.mark.django_db(transaction=True)


def tab_to(page: Page, target: Locator, *, most: int = 60) -> None:
    """Press Tab until `target` has the focus, as a keyboard user would."""
    for _ in range(most):
        if target.evaluate("el => el === document.activeElement"):
            return
        page.keyboard.press("Tab")
    expect(target).to_be_focused()


def test_a_visitor_reads_the_register_and_the_privacy_notice_by_keyboard(
    page: Page, agency, other_agency, member
):
    police = police_dataset(other_agency)
    protocol_in_force(
        author=member(Role.IG_OFFICER, full_name="Zebedee Quillfeather"),
        parties=[agency, other_agency],
        rules=[
            {
                "dataset": police,
                "tier": Tier.SUMMARY,
                "fields": ["field:incident_date", "field:risk_grade"],
                "consent": ConsentRule.NEEDED,
            }
        ],
        name="Joint triage protocol",
    )
    indicator = RiskIndicator.objects.create(
        name="High-risk incident",
        kind=IndicatorKind.STRUCTURED,
        conditions=[{"column": "risk_grade", "op": "is", "value": "high"}],
        weight=3,
        half_life_days=90,
    )
    indicator.datasets.set([police])
    AlertRule.objects.create(name="High score", kind=RuleKind.SCORE_ABOVE, threshold=40.0)

    page.goto("/")  # a visitor lands on the sign-in page
    footer_link = page.locator("footer").get_by_role("link", name="Transparency register")
    tab_to(page, footer_link)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "How partner agencies share information about families"
    )
    expect(page.get_by_role("heading", name="Joint triage protocol")).to_be_visible()
    shared = page.get_by_role("table", name="What Joint triage protocol shares")
    expect(shared).to_contain_text("Summary: incident date, risk grade")
    expect(shared).to_contain_text("Shared only with the person's consent")
    expect(page.get_by_test_id("register-indicators")).to_contain_text(
        "Counts for 3 points, halving every 90 days"
    )
    expect(page.get_by_test_id("register-alert-rules")).to_contain_text("Score above 40")
    expect(page.locator("main")).not_to_contain_text("Quillfeather")
    expect_accessible(page)

    notice_link = page.locator("main").get_by_role("link", name="privacy notice")
    tab_to(page, notice_link)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Privacy notice")
    expect(page.get_by_test_id("privacy-controllers")).to_contain_text("Test Police")
    expect(page.get_by_test_id("privacy-lawful-bases")).to_contain_text("UK GDPR Art 6(1)(e)")
    expect_accessible(page)
