"""Journeys: consent sought through another agency, and a safeguarding override reviewed by IG.

Each person works in their own browser window (context), as on their own machine:

1. A children's social care practitioner meets police risk grades withheld for want of consent,
   asks the police to seek it, and a police practitioner records consent obtained; the risk
   grades appear on the case summary, and a withdrawal recorded on the consent page holds them
   back again at once.
2. Another practitioner uses a safeguarding override where the rule yields to one; an IG officer
   of the police finds it not justified, and the records are withheld again.
"""

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from agencies.models import Role
from consent.models import (
    ConsentRecord,
    ConsentRequest,
    ConsentState,
    RequestStatus,
    ReviewOutcome,
    SafeguardingOverride,
)
from protocols.models import ConsentRule, Tier
from tests.browser.conftest import go_to
from tests.browser.test_protocol_journey import PLAINTEXT, expect_case_summary, find_and_open
from tests.browser.test_sign_in import sign_in
from tests.protocol_helpers import give, linked_people, protocol_in_force

pytestmark = pytest.mark.django_db(transaction=True)

RISK_GRADE = '[data-field-key="field:risk_grade"]'
POLICE_DATASET = "Police - domestic abuse incidents"
# Bob, Alice's brother, is screened for too: nothing of him may travel in a URL either.
NOT_IN_URLS = (*PLAINTEXT, "bob", "2012", "03/04", "03%2f04", "ls62ab", "ls6+2ab", "ls6%202ab")
REASON = "Strategy discussion this week; the police risk picture decides the plan."
JUSTIFICATION = (
    "Police report a high risk incident at the home; asking the family first would alert the "
    "alleged abuser before the strategy meeting."
)


def banner(page: Page) -> Locator:
    return page.locator(".govuk-notification-banner--success")


def unread(page: Page) -> Locator:
    return page.get_by_test_id("notifications-unread")


def open_notification(page: Page, kind: str, text: str) -> None:
    """From the account bar: the list of notifications, then the one unread of `kind`."""
    page.get_by_test_id("notifications-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    item = page.locator(f'[data-testid="notification"][data-kind="{kind}"]')
    expect(item).to_have_count(1)
    expect(item).to_have_attribute("data-read", "no")
    expect(item).to_contain_text("New")
    expect(item).to_contain_text(text)
    item.get_by_role("link").click()


def police_withheld(page: Page) -> Locator:
    return page.locator('[data-testid="withheld"][data-reason="consent"]').filter(
        has_text=POLICE_DATASET
    )


def tab_to(page: Page, target: Locator, *, most: int = 40) -> None:
    """Press Tab until `target` has the focus, as a keyboard user would."""
    for _ in range(most):
        if target.evaluate("el => el === document.activeElement"):
            return
        page.keyboard.press("Tab")
    expect(target).to_be_focused()


# An object's id as a whole path segment (/overrides/2015/) is the database's counter, not a
# value from a record: with sequences that keep counting across tests (PostgreSQL, several test
# processes) one can equal a birth year. A value in a query string, or inside a segment, counts.
_ID_SEGMENT = re.compile(r"/\d{1,6}(?=/|$|\?)")


def without_ids(url: str) -> str:
    return _ID_SEGMENT.sub("/<id>", url)


def assert_no_plaintext_in_urls(window) -> None:
    assert window.requested
    leaked = [u for u in window.requested if any(p in without_ids(u).lower() for p in NOT_IN_URLS)]
    assert leaked == []


def test_consent_is_sought_by_the_owning_agency_then_withdrawn(
    window, agency, other_agency, member
):
    # --- The world: Alice known to the police and to children's social care; the protocol shares
    # police risk grades only with her consent.
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    practitioner = member(Role.PRACTITIONER, full_name="Priya Shah", email="priya@csc.test")
    police_practitioner = member(
        Role.PRACTITIONER, in_agency=other_agency, full_name="Dan Police", email="dan@pol.test"
    )
    police_ig = member(
        Role.IG_OFFICER, in_agency=other_agency, full_name="Cath Police", email="cath@pol.test"
    )
    # Search matches only on identifiers the practitioner is shown (issue 20, finding 4): she
    # finds Alice through her own agency's referral.
    csc_names = {
        "dataset": linked.csc,
        "tier": Tier.SUMMARY,
        "fields": ["identity:forename", "identity:surname", "identity:date_of_birth"],
    }
    version = protocol_in_force(
        author=police_ig,
        parties=[agency, other_agency],
        rules=[
            {
                "dataset": linked.police,
                "tier": Tier.SUMMARY,
                "fields": ["field:risk_grade"],
                "consent": ConsentRule.NEEDED,
            },
            csc_names,
        ],
        name="Police risk with consent",
    )
    give(version, practitioner)
    alice = linked.alice.reference
    label = "Police risk with consent (version 1)"

    # --- The practitioner finds Alice: the risk grades are withheld, consent needed.
    priya = window("practitioner")
    sign_in(priya, practitioner.email)
    expect(priya.get_by_role("heading", level=1)).to_have_text("Safeguarding practitioner")
    expect(priya.get_by_test_id("notifications-link")).to_have_text("Notifications")  # none unread
    find_and_open(priya, alice)
    summary_url = priya.url
    expect(priya.locator(RISK_GRADE)).to_have_count(0)
    withheld = police_withheld(priya)
    expect(withheld).to_have_count(1)
    # Said in the police's block of "Known to", by label, with the reason.
    expect(
        priya.get_by_test_id("known-to").locator('tr[data-agency="POL"]').locator(withheld)
    ).to_have_count(1)
    expect(withheld).to_contain_text(f"from {POLICE_DATASET}: Consent needed: Risk grade.")
    # Consent "needed" without exception: no override is offered.
    expect(priya.get_by_test_id("override-link")).to_have_count(0)

    # --- She asks the police to seek consent, with the keyboard only.
    ask = priya.get_by_test_id("request-consent")
    expect(ask).to_have_text(f"Ask {other_agency.name} to seek consent for {POLICE_DATASET}")
    ask.focus()
    priya.keyboard.press("Enter")
    expect(priya.get_by_role("heading", level=1)).to_have_text("Ask for consent to be sought")
    expect(priya.get_by_text(f"Person {alice}")).to_be_visible()
    reason = priya.get_by_label("Why do you need to see the record?")
    send = priya.get_by_role("button", name="Send the request")
    # A reason naming the family is refused, without quoting it back.
    tab_to(priya, reason)
    priya.keyboard.type("Smith family strategy discussion this week.")
    priya.keyboard.press("Tab")
    expect(send).to_be_focused()
    priya.keyboard.press("Enter")
    summary = priya.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("Take the person's surname out of the reason")
    expect(summary).to_be_focused()
    expect(priya).to_have_title(re.compile(r" - Error - ShareHub$"))
    priya.keyboard.press("Tab")  # the link in the error summary leads to the field
    priya.keyboard.press("Enter")
    expect(reason).to_be_focused()
    priya.keyboard.press("ControlOrMeta+a")
    priya.keyboard.type(REASON)
    priya.keyboard.press("Tab")
    expect(send).to_be_focused()
    priya.keyboard.press("Enter")
    expect(banner(priya)).to_contain_text(
        "Request sent. You will get a notification when the agency answers."
    )
    expect(priya).to_have_url(summary_url)
    request = ConsentRequest.objects.get()
    assert (request.person, request.owner_agency, request.status, request.reason) == (
        linked.alice,
        other_agency,
        RequestStatus.OPEN,
        REASON,
    )

    # --- A police practitioner sees the count in the account bar and opens the request.
    dan = window("police-practitioner")
    sign_in(dan, police_practitioner.email)
    expect(unread(dan)).to_have_text("1 unread")
    open_notification(
        dan,
        "consent_requested",
        f"{agency.name} asks you to seek consent to share your records of person {alice}.",
    )
    expect(dan.get_by_role("heading", level=1)).to_have_text("Consent request")
    expect(unread(dan)).to_have_count(0)
    details = dan.get_by_test_id("request-details")
    expect(dan.get_by_test_id("request-status")).to_have_text("Waiting for an answer")
    expect(details).to_contain_text(f"{practitioner.full_name}, {agency.name}")
    expect(details).to_contain_text(REASON)
    # Their own record references, to find Alice in their own system: the police's only.
    expect(dan.get_by_test_id("own-references").locator("li")).to_have_text(
        [f"{POLICE_DATASET}: A1", f"{POLICE_DATASET}: A2"]
    )

    # He records consent obtained, with the keyboard only: radios by Space and arrow keys.
    obtained = dan.get_by_role("radio", name="Consent obtained")
    tab_to(dan, obtained)
    dan.keyboard.press("Space")
    expect(obtained).to_be_checked()
    dan.keyboard.press("Tab")
    expect(dan.get_by_role("radio", name="Verbally")).to_be_focused()
    dan.keyboard.press("ArrowDown")
    expect(dan.get_by_role("radio", name="In writing")).to_be_checked()
    dan.keyboard.press("Tab")
    expect(dan.get_by_role("radio", name="The person themselves")).to_be_focused()
    dan.keyboard.press("ArrowDown")
    expect(dan.get_by_role("radio", name="A parent or carer, for a child")).to_be_checked()
    dan.keyboard.press("Tab")
    expect(dan.get_by_label("Evidence reference")).to_be_focused()
    dan.keyboard.type("DOC-4471")
    record = dan.get_by_role("button", name="Record the outcome")
    tab_to(dan, record)
    dan.keyboard.press("Enter")
    expect(banner(dan)).to_contain_text("Answer recorded; the requester has been told.")
    expect(dan.get_by_test_id("request-status")).to_have_text("Consent obtained")
    expect(dan.get_by_test_id("answer-form")).to_have_count(0)
    expect(dan.get_by_test_id("own-references")).to_have_count(0)
    go_to(dan, "Consent requests")
    expect(dan.get_by_text("No request is waiting for your agency.")).to_be_visible()
    expect(dan.get_by_test_id("received-done")).to_contain_text(
        f"{alice} {practitioner.full_name}, {agency.name} Consent obtained"
    )
    given = ConsentRecord.objects.get()
    assert (given.state, given.method, given.given_by, given.evidence_reference) == (
        ConsentState.GIVEN,
        "written",
        "parent_or_carer",
        "DOC-4471",
    )
    assert list(given.agencies.all()) == [other_agency]

    # --- The practitioner is told, follows the notification, and sees the risk grades.
    priya.reload()
    expect(unread(priya)).to_have_text("1 unread")
    open_notification(
        priya,
        "consent_answered",
        f"{other_agency.name} answered your consent request for person {alice}: consent obtained.",
    )
    expect(priya.get_by_role("heading", level=1)).to_have_text("Consent request")
    expect(priya.get_by_test_id("request-status")).to_have_text("Consent obtained")
    expect(priya.get_by_test_id("own-references")).to_have_count(0)  # the police's, not hers
    priya.get_by_test_id("back-to-summary").click()
    expect_case_summary(priya)
    expect(priya).to_have_url(summary_url)
    grades = priya.locator(RISK_GRADE)
    expect(grades).to_have_count(2)  # A1 and A2
    assert sorted(grades.all_text_contents()) == ["high", "medium"]
    expect(priya.get_by_test_id("known-to")).to_contain_text(label)
    expect(police_withheld(priya)).to_have_count(0)
    expect(unread(priya)).to_have_count(0)

    # --- The consent page shows what the police recorded; she records a withdrawal there.
    priya.get_by_test_id("consent-link").click()
    expect(priya.get_by_role("heading", level=1)).to_have_text("Consent to share")
    rows = priya.get_by_test_id("consent-record")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-state", "given")
    expect(rows.first).to_contain_text("Given")
    expect(rows.first).to_contain_text(f"Protocol {version.protocol.reference}")
    expect(rows.first).to_contain_text(other_agency.name)
    expect(rows.first).to_contain_text("In writing, a parent or carer, for a child")
    expect(rows.first).to_contain_text("Evidence: DOC-4471")
    expect(rows.first).to_contain_text(f"{police_practitioner.full_name}, {other_agency.name}")
    rows.first.get_by_role("button", name=re.compile(r"^Record withdrawal")).click()
    expect(banner(priya)).to_contain_text(
        "Withdrawal recorded. The records are withheld again now."
    )
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-state", "withdrawn")
    expect(rows.nth(1)).to_have_attribute("data-state", "given")
    expect(priya.get_by_role("button", name=re.compile(r"^Record withdrawal"))).to_have_count(1)

    # The summary holds the risk grades back again at once.
    priya.get_by_role("link", name="Back to the case summary").click()
    expect_case_summary(priya)
    expect(priya.locator(RISK_GRADE)).to_have_count(0)
    expect(police_withheld(priya)).to_contain_text(
        re.compile(r"Consent needed \(Consent withdrawn on \d{1,2} [A-Z][a-z]+ \d{4}\)")
    )
    assert ConsentRecord.objects.filter(state=ConsentState.WITHDRAWN, replaces=given).count() == 1

    # --- Names, dates of birth and identifiers never went into a URL, in any window.
    assert_no_plaintext_in_urls(window)


def test_a_safeguarding_override_shows_at_once_and_ig_finds_it_not_justified(
    window, agency, other_agency, member
):
    # --- The world: police risk grades shared with consent, or under a safeguarding override of
    # up to 48 hours; a practitioner and an IG officer of the police.
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    practitioner = member(Role.PRACTITIONER, full_name="Omar Khan", email="omar@csc.test")
    police_ig = member(
        Role.IG_OFFICER, in_agency=other_agency, full_name="Cath Police", email="cath@pol.test"
    )
    # Search matches only on identifiers the practitioner is shown (issue 20, finding 4): she
    # finds Alice through her own agency's referral.
    csc_names = {
        "dataset": linked.csc,
        "tier": Tier.SUMMARY,
        "fields": ["identity:forename", "identity:surname", "identity:date_of_birth"],
    }
    version = protocol_in_force(
        author=police_ig,
        parties=[agency, other_agency],
        rules=[
            {
                "dataset": linked.police,
                "tier": Tier.SUMMARY,
                "fields": ["field:risk_grade"],
                "consent": ConsentRule.UNLESS_OVERRIDE,
            },
            csc_names,
        ],
        name="MASH police risk",
    )
    version.override_max_hours = 48
    version.save(update_fields=["override_max_hours"])
    give(version, practitioner)
    alice = linked.alice.reference

    # --- The practitioner finds Alice: withheld, but an override is offered.
    omar = window("practitioner")
    sign_in(omar, practitioner.email)
    find_and_open(omar, alice)
    summary_url = omar.url
    expect(omar.locator(RISK_GRADE)).to_have_count(0)
    expect(police_withheld(omar)).to_have_count(1)
    expect(omar.get_by_test_id("override-banner")).to_have_count(0)
    omar.get_by_test_id("override-link").click()
    expect(omar.get_by_role("heading", level=1)).to_have_text("Safeguarding override")
    expect(omar.get_by_test_id("override-opens")).to_contain_text(
        f"{other_agency.name}, {POLICE_DATASET}: Risk grade (MASH police risk (version 1))"
    )
    form = omar.get_by_test_id("override-form")
    protocol_choice = form.get_by_role("radio", name=re.compile(r"^MASH police risk"))
    expect(protocol_choice).to_have_count(1)
    expect(protocol_choice).to_be_checked()  # the only protocol, chosen already
    hours = omar.get_by_label("For how many hours?")
    # The protocol's usual length is offered, not the 48 hours it allows at most.
    expect(hours).to_have_value("24")

    # Nothing filled in: GOV.UK's error summary says what to fix and takes the focus.
    override_button = omar.get_by_role("button", name="Override and show the records")
    override_button.click()
    errors = omar.locator(".govuk-error-summary")
    expect(errors).to_be_visible()
    expect(errors).to_be_focused()
    expect(errors).to_contain_text("Choose why consent cannot be sought.")
    expect(errors).to_contain_text("Write the justification.")
    expect(omar).to_have_title("Safeguarding override - Error - ShareHub")
    errors.get_by_role("link", name="Write the justification.").click()
    expect(omar.get_by_label("Justification")).to_be_focused()
    assert SafeguardingOverride.objects.count() == 0

    # Too short a justification.
    omar.get_by_role("radio", name=re.compile(r"^Seeking consent would increase the risk")).check()
    omar.get_by_label("Justification").fill("Risk to the child tonight.")
    override_button.click()
    expect(errors).to_be_visible()
    expect(errors).to_contain_text("Explain in at least 50 characters")
    expect(omar.locator("#id_justification-error")).to_be_visible()
    assert SafeguardingOverride.objects.count() == 0

    # Then a proper one, keeping the default hours: the risk grades show at once.
    expect(
        omar.get_by_role("radio", name=re.compile(r"^Seeking consent would increase the risk"))
    ).to_be_checked()
    expect(hours).to_have_value("24")
    omar.get_by_label("Justification").fill(JUSTIFICATION)
    override_button.click()
    expect(banner(omar)).to_contain_text("Safeguarding override in force until")
    expect(banner(omar)).to_contain_text("An IG officer will review it.")
    expect(omar).to_have_url(summary_url)
    expect(omar.get_by_test_id("override-banner")).to_be_visible()
    expect(omar.get_by_test_id("override-banner")).to_contain_text(
        "Records shared only with consent are shown under your override until"
    )
    grades = omar.locator(RISK_GRADE)
    expect(grades).to_have_count(2)
    assert sorted(grades.all_text_contents()) == ["high", "medium"]
    expect(omar.get_by_test_id("known-to")).to_contain_text("under your safeguarding override")
    expect(police_withheld(omar)).to_have_count(0)
    override = SafeguardingOverride.objects.get()
    assert (override.user, override.hours, override.review) == (
        practitioner,
        24,
        ReviewOutcome.AWAITING,
    )

    # --- The police IG officer is told, and finds it in the review queue.
    cath = window("police-ig")
    sign_in(cath, police_ig.email)
    expect(unread(cath)).to_have_text("1 unread")
    go_to(cath, "Overrides to review")
    expect(cath.get_by_role("heading", level=1)).to_have_text("Safeguarding overrides")
    queue = cath.get_by_test_id("review-queue").get_by_test_id("override-row")
    expect(queue).to_have_count(1)
    expect(queue).to_contain_text(f"{practitioner.full_name}, {agency.name}")
    expect(queue).to_contain_text(alice)
    expect(queue).to_contain_text("Active")
    expect(queue).to_contain_text("Awaiting IG review")
    queue.get_by_role("link").click()
    expect(cath.get_by_role("heading", level=1)).to_have_text("Safeguarding override")
    expect(cath.get_by_test_id("justification")).to_have_text(JUSTIFICATION)
    expect(cath.get_by_test_id("override-details")).to_contain_text(
        f"{other_agency.name}, {POLICE_DATASET}: Risk grade"
    )
    expect(cath.get_by_test_id("override-details")).to_contain_text("for 24 hours")
    review = cath.get_by_test_id("review-form")
    review.get_by_role("radio", name="Not justified").check()
    review.get_by_label("Note").fill("Consent could have been sought safely through the school.")
    review.get_by_role("button", name="Record the review").click()
    expect(banner(cath)).to_contain_text("Review recorded; the practitioner has been told.")
    expect(cath.get_by_role("heading", level=1)).to_have_text("Safeguarding overrides")
    expect(cath.get_by_test_id("review-queue")).to_have_count(0)
    expect(cath.get_by_text("No override is waiting for review.")).to_be_visible()
    reviewed = cath.get_by_test_id("reviewed").get_by_test_id("override-row")
    expect(reviewed).to_have_count(1)
    expect(reviewed).to_contain_text("Not justified")
    expect(reviewed).to_contain_text("Ended")

    # --- The practitioner's next page load withholds the risk grades again; she is told why.
    omar.reload()
    expect_case_summary(omar)
    expect(omar.locator(RISK_GRADE)).to_have_count(0)
    expect(omar.get_by_test_id("override-banner")).to_have_count(0)
    expect(police_withheld(omar)).to_have_count(1)
    expect(unread(omar)).to_have_text("1 unread")
    open_notification(
        omar,
        "override_reviewed",
        f"An IG officer reviewed your safeguarding override for person {alice}: not justified.",
    )
    expect(omar.get_by_role("heading", level=1)).to_have_text("Safeguarding override")
    expect(omar.get_by_test_id("review-outcome")).to_contain_text(
        f"Not justified, by {police_ig.full_name}"
    )
    expect(omar.get_by_test_id("review-outcome")).to_contain_text("through the school")
    expect(omar.get_by_test_id("override-state")).to_contain_text("ended")
    expect(omar.get_by_role("button", name="End the override now")).to_have_count(0)
    expect(omar.get_by_test_id("review-form")).to_have_count(0)  # not hers to review
    override.refresh_from_db()
    assert override.review == ReviewOutcome.NOT_JUSTIFIED
    assert override.ended_at is not None and override.ended_by == police_ig

    # --- Names, dates of birth and identifiers never went into a URL, in any window.
    assert_no_plaintext_in_urls(window)
