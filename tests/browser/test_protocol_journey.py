"""Journey: IG officers write, approve, give and suspend a protocol; a practitioner's case summary
follows it at once.

Each person works in their own browser window (context), as on their own machine: the author and
a second IG officer of children's social care, a police IG officer, and a CSC practitioner who
already holds an older protocol showing her agency's referral names and only that the police
know a person.
"""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from agencies.models import Role
from protocols.models import Protocol, Tier, VersionStatus
from tests.browser.conftest import go_to
from tests.browser.test_sign_in import sign_in
from tests.protocol_helpers import give, linked_people, protocol_in_force

pytestmark = pytest.mark.django_db(transaction=True)

OLD_NAME = "Police involvement notice"
NEW_NAME = "MASH police risk sharing"
RISK_GRADE = '[data-field-key="field:risk_grade"]'
# What the practitioner types to find Alice; none of it may ever travel in a URL.
SURNAME, DOB = "Smith", "01/02/2015"
PLAINTEXT = ("smith", "alice", "2015", "01/02", "01%2f02", "9434765919")


def open_protocol(page: Page, name: str) -> None:
    go_to(page, "Protocols")
    expect(page.get_by_role("heading", level=1)).to_have_text("Data-sharing protocols")
    page.get_by_role("table", name="Protocols of the partnership").get_by_role(
        "link", name=name, exact=True
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def banner(page: Page):
    return page.locator(".govuk-notification-banner")


def find_and_open(page: Page, person_reference: str) -> None:
    """Search by surname and date of birth, then open the person's case summary."""
    go_to(page, "Find a person")
    expect(page.get_by_role("heading", level=1)).to_have_text("Find a person")
    page.get_by_label("Surname").click()
    page.keyboard.type(SURNAME)
    page.keyboard.press("Tab")
    page.get_by_label("Date of birth").fill(DOB)
    page.get_by_label("Date of birth").press("Enter")  # submits, as a keyboard user would
    expect(page.get_by_test_id("result-count")).to_contain_text("found")
    row = (
        page.get_by_test_id("search-results")
        .get_by_role("row")
        .filter(has_text=f"Person {person_reference}")
    )
    expect(row.get_by_role("cell").nth(2)).to_contain_text("POL")  # known to the police
    row.get_by_role("link").click()
    expect_case_summary(page, person_reference)


def expect_case_summary(page: Page, person_reference: str = "") -> None:
    """The page is a case summary (of `person_reference`, when given): its caption says so, its
    heading is the person's name as shared, or that the name is not shared."""
    expect(page.locator(".govuk-caption-m")).to_contain_text(
        f"Case summary, person {person_reference}"
    )
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def known_to_police(page: Page):
    return page.get_by_test_id("known-to").locator('tr[data-agency="POL"]')


def police_records(page: Page):
    return page.get_by_test_id("record").and_(page.locator('[data-agency="POL"]'))


def test_a_protocol_is_drafted_approved_given_and_suspended_and_the_summary_follows(
    page: Page, window, agency, other_agency, member
):
    # --- The world: CSC and police records of Alice, three IG officers, a practitioner.
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    author = member(Role.IG_OFFICER, full_name="Ada Author", email="ada@csc.test")
    approver = member(Role.IG_OFFICER, full_name="Ben Approver", email="ben@csc.test")
    police_ig = member(
        Role.IG_OFFICER, in_agency=other_agency, full_name="Cath Police", email="cath@pol.test"
    )
    practitioner = member(Role.PRACTITIONER, full_name="Priya Shah", email="priya@csc.test")
    old = protocol_in_force(
        author=approver,
        parties=[agency, other_agency],
        rules=[
            {"dataset": linked.police, "tier": Tier.KNOWN_TO},
            # Search matches only on identifiers the practitioner is shown (issue 20): her own
            # agency's referral names Alice.
            {
                "dataset": linked.csc,
                "tier": Tier.SUMMARY,
                "fields": ["identity:forename", "identity:surname", "identity:date_of_birth"],
            },
        ],
        name=OLD_NAME,
    )
    give(old, practitioner)
    alice = linked.alice.reference
    police_legend = f"{other_agency.name}: {linked.police.name}"

    # --- Before: the practitioner sees only that the police know Alice.
    priya = window("practitioner")
    sign_in(priya, practitioner.email)
    find_and_open(priya, alice)
    expect(known_to_police(priya)).to_contain_text(f"Known to {other_agency.name}")
    expect(priya.locator(RISK_GRADE)).to_have_count(0)
    expect(priya.get_by_text("Risk grade", exact=True)).to_have_count(0)
    summary_url = priya.url

    # --- The author drafts the protocol.
    page.context.on("request", lambda r: window.requested.append(r.url))
    sign_in(page, author.email)
    go_to(page, "Protocols")
    page.get_by_role("link", name="Draft a new protocol").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Draft a data-sharing protocol")
    page.get_by_label("Name", exact=True).fill(NEW_NAME)
    page.get_by_label("Purpose", exact=True).select_option(
        label="Safeguarding a child or adult at risk"
    )
    page.get_by_label("What the sharing is for").fill(
        "Police risk grades for children open to social care, for strategy discussions."
    )
    page.get_by_label("Lawful basis").fill("UK GDPR Art 6(1)(e) public task")
    start = page.get_by_label("In force from")
    start.fill("")
    start.press_sequentially(timezone.localdate().strftime("%d/%m/%Y"))
    parties = page.get_by_role("group", name="Parties")
    parties.get_by_role("checkbox", name=agency.name).check()
    parties.get_by_role("checkbox", name=other_agency.name).check()
    page.get_by_role("group", name="Who the protocol serves").get_by_role(
        "checkbox", name="Safeguarding practitioner"
    ).check()
    rule = page.get_by_role("group", name=police_legend)
    rule.get_by_role("radio", name="Summary", exact=True).check()
    rule.get_by_text(re.compile(r"^Fields a summary shares")).click()  # opens the <details>
    risk = rule.get_by_role("checkbox", name="Risk grade", exact=True)
    risk.focus()
    page.keyboard.press("Space")
    expect(risk).to_be_checked()
    page.get_by_role("button", name="Save draft").click()

    expect(banner(page)).to_contain_text("Draft saved")
    expect(page.get_by_role("heading", level=1)).to_have_text(NEW_NAME)
    expect(page.get_by_test_id("open-status")).to_have_text("Draft")
    page.get_by_role("button", name="Submit for approval").click()
    expect(banner(page)).to_contain_text("Submitted for approval by the parties.")
    expect(page.get_by_test_id("open-status")).to_have_text("Awaiting approval")
    expect(page.get_by_test_id("missing-approvals")).to_contain_text(
        f"{agency.name}, {other_agency.name}"
    )
    # The author wrote it, so they cannot approve it.
    expect(page.get_by_role("button", name=re.compile(r"^Approve"))).to_have_count(0)
    protocol = Protocol.objects.get(versions__name=NEW_NAME)
    version = protocol.versions.get()
    assert (version.status, version.author) == (VersionStatus.AWAITING_APPROVAL, author)
    assert [(r.dataset, r.tier, r.fields) for r in version.rules.all()] == [
        (linked.police, Tier.SUMMARY, ["field:risk_grade"])
    ]

    # --- A second CSC IG officer approves, then the police IG officer.
    ben = window("csc-approver")
    sign_in(ben, approver.email)
    open_protocol(ben, NEW_NAME)
    ben.get_by_role("button", name=f"Approve for {agency.name}").click()
    expect(banner(ben)).to_contain_text("Approved for your agency.")
    expect(ben.get_by_test_id("missing-approvals")).to_have_text(
        f"Waiting for approval from: {other_agency.name}."
    )
    expect(ben.get_by_role("button", name=re.compile(r"^Approve"))).to_have_count(0)

    cath = window("police-approver")
    sign_in(cath, police_ig.email)
    open_protocol(cath, NEW_NAME)
    cath.get_by_label("Note (optional)").fill("Agreed at the MASH board.")
    cath.get_by_role("button", name=f"Approve for {other_agency.name}").click()
    expect(banner(cath)).to_contain_text("Approved for your agency.")
    expect(cath.get_by_test_id("live-status")).to_have_text("Active")
    expect(cath.get_by_test_id("missing-approvals")).to_have_count(0)

    # --- The author gives it to the practitioner.
    page.reload()
    expect(page.get_by_test_id("live-status")).to_have_text("Active")
    page.get_by_label("Email address of a colleague in your agency").fill(practitioner.email)
    page.get_by_role("button", name="Give the protocol").click()
    expect(banner(page)).to_contain_text("Protocol given.")
    expect(page.get_by_test_id("holders")).to_contain_text(
        f"{practitioner.full_name} ({practitioner.email})"
    )

    # --- The practitioner searches again: Alice's police risk grades, labelled by the protocol.
    find_and_open(priya, alice)
    new_label = f"{NEW_NAME} (version 1)"
    grades = priya.locator(RISK_GRADE)
    expect(grades).to_have_count(2)  # A1 and A2, Alice's two police records
    assert sorted(grades.all_text_contents()) == ["high", "medium"]
    records = police_records(priya)
    expect(records).to_have_count(2)
    for n in range(2):
        # One line per event; its fields on demand, opened from the keyboard.
        records.nth(n).locator("summary").focus()
        priya.keyboard.press("Enter")
        fields = records.nth(n).locator("[data-field-key]")
        expect(fields).to_have_count(1)
        expect(fields.locator("xpath=preceding-sibling::dt")).to_have_text("Risk grade")
        expect(records.nth(n).locator(RISK_GRADE)).to_be_visible()
    # The protocol is named once, for the police block, not against every field.
    expect(known_to_police(priya)).to_contain_text(new_label)
    expect(known_to_police(priya)).to_contain_text(f"Known to {other_agency.name}")
    # Only the risk grade: no other police field came with it.
    expect(records.locator("[data-field-key]")).to_have_count(2)
    assert priya.url == summary_url

    # --- A CSC IG officer suspends it, on a page that asks first; a reason is required.
    ben.reload()
    expect(ben.get_by_test_id("live-status")).to_have_text("Active")
    ben.get_by_role("link", name="Suspend the protocol").click()
    ben.get_by_role("button", name="Suspend the protocol").click()
    expect(ben.locator(".govuk-error-summary")).to_contain_text(
        "Say why the protocol is suspended, in at least 20 characters."
    )
    ben.get_by_label("Why is the protocol suspended?").fill("Police data quality under review.")
    ben.get_by_role("button", name="Suspend the protocol").click()
    expect(banner(ben)).to_contain_text("Suspended: nothing is disclosed under it from now on.")
    expect(ben.get_by_test_id("live-status")).to_have_text("Suspended")

    # The practitioner's next page load shows no risk grade; the old protocol still applies.
    priya.reload()
    expect_case_summary(priya, alice)
    expect(priya.locator(RISK_GRADE)).to_have_count(0)
    expect(priya.get_by_text("Risk grade", exact=True)).to_have_count(0)
    expect(known_to_police(priya)).to_contain_text(f"Known to {other_agency.name}")
    expect(priya.get_by_test_id("known-to")).not_to_contain_text(NEW_NAME)
    expect(priya.get_by_test_id("known-to")).to_contain_text(f"{OLD_NAME} (version 1)")

    # --- Names, dates of birth and identifiers never went into a URL, in any window.
    assert window.requested
    leaked = [u for u in window.requested if any(p in u.lower() for p in PLAINTEXT)]
    assert leaked == []
