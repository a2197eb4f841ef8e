"""Journey (issue 21, item 5): a practitioner reads her alerts inbox, follows an alert to the
person's case summary, and searches, with the keyboard only on the search form.

Her protocol shows children's social care referrals in full and, of police records, the date of
birth and the risk grade only. So Alice, whom social care knows, is named to her; her brother
Bob, known to the police alone, is not, and his row says what is shared instead. Twenty-six more
Smiths known to social care make a search on the surname find more people than a page lists.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from agencies.models import Membership, Role
from alerts.models import Alert
from alerts.rules import RuleInput, rule_save, subscription_set
from matching.search import MAX_RESULTS
from protocols.models import Tier
from risk.models import RiskRun
from risk.services import enrich_run
from tests.browser.conftest import expect_accessible, go_to
from tests.browser.test_consent_journey import NOT_IN_URLS, tab_to
from tests.browser.test_protocol_journey import expect_case_summary
from tests.browser.test_sign_in import sign_in
from tests.protocol_helpers import give, linked_people, more_smiths, protocol_in_force
from tests.test_alerts import DAY, high_risk_indicator

pytestmark = pytest.mark.django_db(transaction=True)

# What the police records show her: no name, no postcode, no NHS number.
POLICE_FIELDS = ["identity:date_of_birth", "field:incident_date", "field:risk_grade"]
# The high-risk indicator adds 30 per high-risk incident, halved every 30 days. On DAY (20
# January 2026) Alice's A1 (10 January) adds 30 x 0.5^(10/30), Bob's B1 (1 January) 30 x
# 0.5^(19/30); thirty days before, neither had happened.
ALICE_SCORE = f"{30 * 0.5 ** (10 / 30):.1f}"
BOB_SCORE = f"{30 * 0.5 ** (19 / 30):.1f}"
DATE_AND_TIME = r"\d{1,2} [A-Z][a-z]+ \d{4}, \d{2}:\d{2}"


def inbox_rows(page: Page) -> Locator:
    return page.get_by_test_id("alerts").locator("tbody tr")


def row_of(page: Page, rule: str, reference: str) -> Locator:
    return (
        inbox_rows(page)
        .filter(has=page.get_by_role("link", name=rule, exact=True))
        .filter(has_text=f"Person {reference}")
    )


def search_by_keyboard(page: Page, **typed: str) -> None:
    """Fill the search form with the keyboard only, each field cleared first, and submit it
    with Enter from the last field typed in."""
    labels = {"surname": "Surname", "date_of_birth": "Date of birth"}
    for name in labels:
        field = page.get_by_label(labels[name], exact=True)
        tab_to(page, field)
        page.keyboard.press("Control+A")
        page.keyboard.press("Delete")
        if name in typed:
            page.keyboard.type(typed[name])
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("result-count")).to_contain_text("found")


def test_a_practitioner_reads_her_inbox_follows_an_alert_and_searches(
    window, agency, other_agency, member
):
    # --- The world.
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    more_smiths(linked, MAX_RESULTS + 1, dataset=linked.csc)
    admin = member(Role.PLATFORM_ADMIN, full_name="Pat Admin", email="pat@platform.test")
    practitioner = member(Role.PRACTITIONER, full_name="Priya Shah", email="priya@csc.test")
    version = protocol_in_force(
        author=admin,
        parties=[agency, other_agency],
        rules=[
            {"dataset": linked.csc, "tier": Tier.FULL},
            {"dataset": linked.police, "tier": Tier.SUMMARY, "fields": POLICE_FIELDS},
        ],
        name="MASH sharing",
    )
    give(version, practitioner)
    high_risk_indicator(admin, linked)
    membership = Membership.objects.get(user=practitioner)
    for name, fields in (
        ("High risk", {"kind": "score_above", "threshold": 20}),
        ("Rising quickly", {"kind": "score_rising", "rise": 15, "window_days": 30}),
    ):
        rule = rule_save(by=admin, data=RuleInput(name=name, **fields))
        subscription_set(membership=membership, rule=rule, subscribed=True)
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=DAY)
    alice, bob = linked.alice.reference, linked.bob.reference
    raised = {("High risk", alice): 3, ("Rising quickly", alice): 3, ("Rising quickly", bob): 1}
    alerts = Alert.objects.select_related("rule", "person")
    assert {(a.rule.name, a.person.reference) for a in alerts} == set(raised)
    for alert in alerts:
        days = raised[(alert.rule.name, alert.person.reference)]
        Alert.objects.filter(pk=alert.pk).update(
            raised_at=timezone.now() - timedelta(days=days, hours=1)
        )

    # --- Her inbox: who each alert is about, as far as she is shown, why, the score, and when.
    priya = window("practitioner")
    sign_in(priya, practitioner.email)
    go_to(priya, "Alerts")
    expect(priya.get_by_role("heading", level=1)).to_have_text("Alerts")
    expect(inbox_rows(priya)).to_have_count(3)
    expect(row_of(priya, "High risk", alice).get_by_role("cell")).to_have_text(
        [
            "High risk",
            re.compile(
                rf"^\s*Alice Smith\s+Person {alice}, born 2015; known to Test Children's Services, "
                rf"Test Police\s+Case summary of person {alice}\s*$"
            ),
            f"Score {ALICE_SCORE} Rule: Above 20",
            re.compile(rf"^\s*Raised 3\sdays ago\s+{DATE_AND_TIME}\s*$"),
            "New",
            "Nobody",
        ]
    )
    bob_row = row_of(priya, "Rising quickly", bob)
    expect(bob_row.get_by_role("cell")).to_have_text(
        [
            "Rising quickly",
            re.compile(
                rf"^\s*Name not shared with you\s+Person {bob}, born 2012; known to Test Police\s+"
                rf"Case summary of person {bob}\s*$"
            ),
            f"Up {BOB_SCORE}, to {BOB_SCORE} Rule: Up by 15 in 30 days",
            re.compile(rf"^\s*Raised 1\sday ago\s+{DATE_AND_TIME}\s*$"),
            "New",
            "Nobody",
        ]
    )
    # The exact moment, for a machine and a screen reader, in a <time> element.
    when = bob_row.locator("time")
    expect(when).to_have_attribute("datetime", re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}"))
    expect(priya.get_by_test_id("alerts")).not_to_contain_text("Bob")
    expect_accessible(priya)

    # She follows the alert about Alice to her case summary.
    row_of(priya, "High risk", alice).get_by_role(
        "link", name=f"Case summary of person {alice}"
    ).click()
    expect_case_summary(priya, alice)
    expect(priya.get_by_role("heading", level=1)).to_have_text("Alice Smith")
    expect(priya).to_have_url(re.compile(rf"/persons/{alice}/\?purpose=safeguarding$"))

    # --- She searches on the surname alone: more people match than a page lists.
    go_to(priya, "Find a person")
    search_by_keyboard(priya, surname="Smith")
    expect(priya.get_by_test_id("result-count")).to_have_text(
        f"More than {MAX_RESULTS} people found"
    )
    expect(priya.get_by_test_id("results-capped")).to_have_text(
        f"Showing the {MAX_RESULTS} closest matches: more people match. Add a date of birth or a "
        "postcode to bring the person you are looking for to the top."
    )
    results = priya.get_by_test_id("search-results").locator("tbody tr")
    expect(results).to_have_count(MAX_RESULTS)
    bands = priya.get_by_test_id("match-band")
    expect(bands).to_have_count(MAX_RESULTS)
    for band in bands.all_inner_texts():
        assert band in ("Strong match", "Possible match")
    # No match weight anywhere in the results.
    assert not re.search(r"\d\.\d", priya.locator("main").inner_text())
    expect_accessible(priya)

    # With Bob's date of birth instead she finds him: his name is not shared, his row says what is.
    search_by_keyboard(priya, date_of_birth="03/04/2012")
    expect(priya.get_by_test_id("result-count")).to_have_text("1 person found")
    expect(priya.get_by_test_id("results-capped")).to_have_count(0)
    expect(results.get_by_role("cell")).to_have_text(
        [
            re.compile(rf"^\s*Person {bob}\s*Name not shared with you\s*$"),
            "3 April 2012",
            re.compile(r"^\s*POL\s*\(Test Police\)\s*$"),
            "Possible match",
        ]
    )
    expect_accessible(priya)

    # --- Names, dates of birth and identifiers never went into a URL.
    leaked = [u for u in window.requested if any(p in u.lower() for p in NOT_IN_URLS)]
    assert window.requested and leaked == []
