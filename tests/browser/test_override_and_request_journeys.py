"""Journeys of issue 21: an override that survives a new version of its protocol, and a consent
request that is not sent twice.

1. A practitioner uses a safeguarding override, by keyboard; while it runs, the police IG
   officer approves version 2 of the protocol (which allows shorter overrides). Her summary
   still shows the override banner and the records; the override's page says it was carried
   over and ends sooner; "Use a safeguarding override" links to it, with a way to end it and
   start again, instead of a dead end.
2. A practitioner asks the police to seek consent. A colleague had the same page open and sends
   his request after hers: it is refused, pointing to hers, which he can open. She comes back to
   the page and is shown her request instead of the form.

Each person works in their own browser window; forms are filled with the keyboard only, and
every page these changes touch is checked with axe-core.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from agencies.models import Membership, Role
from consent.models import ConsentRequest, OverrideCarryOver, SafeguardingOverride
from protocols.models import ConsentRule, Tier
from protocols.services import (
    protocol_approve,
    protocol_draft_update,
    protocol_revise,
    protocol_submit,
    version_input,
)
from tests.browser.conftest import expect_accessible
from tests.browser.test_consent_journey import (
    JUSTIFICATION,
    POLICE_DATASET,
    REASON,
    RISK_GRADE,
    assert_no_plaintext_in_urls,
    banner,
    open_notification,
    police_withheld,
    tab_to,
    unread,
)
from tests.browser.test_protocol_journey import expect_case_summary, find_and_open, open_protocol
from tests.browser.test_sign_in import sign_in
from tests.protocol_helpers import give, linked_people, protocol_in_force

pytestmark = pytest.mark.django_db(transaction=True)

# Search matches only on identifiers the practitioner is shown (issue 20): her own agency's
# referral names Alice.
CSC_NAMES = {
    "tier": Tier.SUMMARY,
    "fields": ["identity:forename", "identity:surname", "identity:date_of_birth"],
}


def press(page: Page, key: str) -> None:
    page.keyboard.press(key)


def test_an_override_is_carried_over_when_a_new_version_is_approved(
    window, agency, other_agency, member
):
    # --- The world: police risk grades shared with consent or under an override of up to 72
    # hours; CSC IG officers who write and approve, a police IG officer, a practitioner.
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    practitioner = member(Role.PRACTITIONER, full_name="Omar Khan", email="omar@csc.test")
    author = member(Role.IG_OFFICER, full_name="Ada Author", email="ada@csc.test")
    approver = member(Role.IG_OFFICER, full_name="Ben Approver", email="ben@csc.test")
    police_ig = member(
        Role.IG_OFFICER, in_agency=other_agency, full_name="Cath Police", email="cath@pol.test"
    )
    version = protocol_in_force(
        author=author,
        parties=[agency, other_agency],
        rules=[
            {
                "dataset": linked.police,
                "tier": Tier.SUMMARY,
                "fields": ["field:risk_grade"],
                "consent": ConsentRule.UNLESS_OVERRIDE,
            },
            {"dataset": linked.csc, **CSC_NAMES},
        ],
        name="MASH police risk",
    )
    give(version, practitioner)
    alice = linked.alice.reference

    # --- The practitioner overrides, with the keyboard only, keeping the usual 24 hours.
    omar = window("practitioner")
    sign_in(omar, practitioner.email)
    find_and_open(omar, alice)
    summary_url = omar.url
    expect(police_withheld(omar)).to_have_count(1)
    link = omar.get_by_test_id("override-link")
    link.focus()
    press(omar, "Enter")
    expect(omar.get_by_role("heading", level=1)).to_have_text("Safeguarding override")
    expect(omar.get_by_label("For how many hours?")).to_have_value("24")
    expect_accessible(omar)
    harm = omar.get_by_role("radio", name="Risk of significant harm to a child")
    tab_to(omar, harm)
    press(omar, "Space")
    expect(harm).to_be_checked()
    press(omar, "Tab")
    expect(omar.get_by_label("Justification")).to_be_focused()
    omar.keyboard.type(JUSTIFICATION)
    press(omar, "Tab")
    expect(omar.get_by_label("For how many hours?")).to_be_focused()
    press(omar, "Tab")
    expect(omar.get_by_role("button", name="Override and show the records")).to_be_focused()
    press(omar, "Enter")
    expect(banner(omar)).to_contain_text("Safeguarding override in force until")
    expect(omar).to_have_url(summary_url)
    expect(omar.get_by_test_id("override-banner")).to_be_visible()
    expect(omar.locator(RISK_GRADE)).to_have_count(2)
    override = SafeguardingOverride.objects.get()
    assert (override.hours, override.version) == (24, version)
    until = timezone.localtime(override.expires_at)

    # --- Version 2 allows overrides of up to 12 hours; CSC wrote and approved it.
    ada = Membership.objects.get(user=author)
    draft = protocol_revise(membership=ada, protocol=version.protocol)
    content = version_input(draft)
    protocol_draft_update(
        membership=ada,
        version=draft,
        data=type(content)(
            **{
                **content.__dict__,
                "override_max_hours": 12,
                "override_default_hours": 4,
                "change_note": "Shorter overrides, as agreed at the MASH board.",
            }
        ),
    )
    protocol_submit(membership=ada, version=draft)
    protocol_approve(membership=Membership.objects.get(user=approver), version=draft)

    # --- The police IG officer approves it, by keyboard: it is in force at once.
    cath = window("police-ig")
    sign_in(cath, police_ig.email)
    open_protocol(cath, "MASH police risk")
    expect(cath.get_by_test_id("override-default-hours")).to_have_text("24 hours")  # version 1
    expect_accessible(cath)
    # She reads what changed first: shorter overrides, a shorter usual length.
    cath.get_by_role("link", name="Read version 2 and what changed").click()
    diff = cath.get_by_test_id("version-diff")
    expect(
        diff.get_by_role("row", name=re.compile(r"^Longest safeguarding override"))
    ).to_have_text(re.compile(r"Was: 72 hours\s*Now: 12 hours"))
    expect(
        diff.get_by_role("row", name=re.compile(r"^Usual length of a safeguarding override"))
    ).to_have_text(re.compile(r"Was: 24 hours\s*Now: 4 hours"))
    expect(cath.get_by_test_id("override-default-hours")).to_have_text("4 hours")
    expect_accessible(cath)
    cath.get_by_role("link", name="Back to the protocol").click()
    approve = cath.get_by_role("button", name=f"Approve for {other_agency.name}")
    approve.focus()
    press(cath, "Enter")
    expect(banner(cath)).to_contain_text("Approved for your agency.")
    expect(cath.get_by_test_id("live-status")).to_have_text("Active")
    step = OverrideCarryOver.objects.get()
    assert (step.override, step.to_version, step.ended) == (override, draft, "")
    override.refresh_from_db()
    assert override.version == draft
    assert override.expires_at == override.started_at + timedelta(hours=12)

    # --- The practitioner's summary still shows the override and the records, under version 2.
    omar.reload()
    expect_case_summary(omar)
    override_banner = omar.get_by_test_id("override-banner")
    expect(override_banner).to_be_visible()
    ends = timezone.localtime(override.expires_at)
    expect(override_banner).to_contain_text(f"{ends:%H:%M} on {ends.day} {ends:%B %Y}")
    expect(omar.locator(RISK_GRADE)).to_have_count(2)
    expect(omar.get_by_test_id("known-to")).to_contain_text(
        "MASH police risk (version 2), under your safeguarding override"
    )
    expect(police_withheld(omar)).to_have_count(0)

    # The override's page says it was carried over, and why it now ends sooner.
    override_banner.get_by_role("link", name="See the override or end it now").click()
    expect(omar.get_by_role("heading", level=1)).to_have_text("Safeguarding override")
    details = omar.get_by_test_id("override-details")
    expect(details).to_contain_text(
        f"MASH police risk (version 2), protocol {version.protocol.reference} "
        "(made under version 1)"
    )
    carried = omar.get_by_test_id("carry-over")
    expect(carried).to_have_attribute("data-outcome", "carried")
    expect(carried).to_contain_text(
        re.compile(r"^Carried over to version 2 on \d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d")
    )
    expect(carried).to_contain_text(
        f"it now ends at {ends.day} {ends:%B %Y}, {ends:%H:%M} instead of "
        f"{until.day} {until:%B %Y}, {until:%H:%M}, as version 2 allows overrides of up to "
        "12 hours."
    )
    expect(omar.get_by_test_id("override-state")).to_have_text("Active")
    expect_accessible(omar)

    # --- "Use a safeguarding override" links to the one in force, with a way to start again.
    omar.goto(f"/persons/{alice}/override/")
    active = omar.get_by_test_id("override-active")
    expect(active).to_contain_text(
        f"You already have an override for this person under MASH police risk (version 2) "
        f"until {ends:%H:%M} on {ends.day} {ends:%B %Y}."
    )
    expect(omar.get_by_test_id("no-override")).to_contain_text(
        "Your override already opens everything withheld from you"
    )
    expect_accessible(omar)
    restart = active.get_by_role("button", name=re.compile(r"^End it and start a new override"))
    tab_to(omar, restart)
    press(omar, "Enter")
    expect(banner(omar)).to_contain_text("Override ended; the records are withheld again.")
    expect(omar.get_by_test_id("override-active")).to_have_count(0)
    # The form again, at version 2's usual length.
    expect(omar.get_by_label("For how many hours?")).to_have_value("4")
    version_2 = omar.get_by_role("radio", name=re.compile(r"^MASH police risk \(version 2\)"))
    expect(version_2).to_be_checked()
    expect_accessible(omar)
    override.refresh_from_db()
    assert override.ended_at is not None and override.ended_by == practitioner

    # --- Names, dates of birth and identifiers never went into a URL, in any window.
    assert_no_plaintext_in_urls(window)


def test_a_second_request_for_consent_is_refused_and_points_to_the_first(
    window, agency, other_agency, member
):
    # --- The world: police risk grades shared only with consent; two CSC practitioners.
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    practitioner = member(Role.PRACTITIONER, full_name="Priya Shah", email="priya@csc.test")
    colleague = member(Role.PRACTITIONER, full_name="Sam Jones", email="sam@csc.test")
    member(Role.PRACTITIONER, in_agency=other_agency, full_name="Dan Police", email="dan@pol.test")
    version = protocol_in_force(
        author=member(Role.IG_OFFICER),
        parties=[agency, other_agency],
        rules=[
            {
                "dataset": linked.police,
                "tier": Tier.SUMMARY,
                "fields": ["field:risk_grade"],
                "consent": ConsentRule.NEEDED,
            },
            {"dataset": linked.csc, **CSC_NAMES},
        ],
        name="Police risk with consent",
    )
    give(version, practitioner)
    give(version, colleague)
    alice = linked.alice.reference

    # --- Her colleague opens the request page first, and leaves it while he takes a call.
    sam = window("colleague")
    sign_in(sam, colleague.email)
    find_and_open(sam, alice)
    sam.get_by_test_id("request-consent").click()
    expect(sam.get_by_role("heading", level=1)).to_have_text("Ask for consent to be sought")

    # --- She asks the police, with the keyboard only.
    priya = window("practitioner")
    sign_in(priya, practitioner.email)
    find_and_open(priya, alice)
    summary_url = priya.url
    ask = priya.get_by_test_id("request-consent")
    ask.focus()
    press(priya, "Enter")
    expect(priya.get_by_role("heading", level=1)).to_have_text("Ask for consent to be sought")
    expect_accessible(priya)
    request_url = priya.url
    reason = priya.get_by_label("Why do you need to see the record?")
    tab_to(priya, reason)
    priya.keyboard.type(REASON)
    press(priya, "Tab")
    expect(priya.get_by_role("button", name="Send the request")).to_be_focused()
    press(priya, "Enter")
    expect(banner(priya)).to_contain_text("Request sent.")
    expect(priya).to_have_url(summary_url)
    first = ConsentRequest.objects.get()
    today = timezone.localdate()
    asked_on = f"{today.day} {today:%B %Y}"

    # --- Her colleague sends his request from the page he opened before hers went: refused,
    # with the request already waiting to follow instead.
    sam_reason = sam.get_by_label("Why do you need to see the record?")
    tab_to(sam, sam_reason)
    sam.keyboard.type("Core group on Friday; the police risk picture is needed for it.")
    press(sam, "Tab")
    press(sam, "Enter")
    refused = sam.get_by_test_id("request-refused")
    expect(refused).to_be_visible()
    expect(refused).to_be_focused()
    expect(refused).to_contain_text(
        f"{practitioner.full_name}, of your agency, already asked {other_agency.name} to seek "
        f"consent for this person on {asked_on}; the request is waiting for an answer."
    )
    expect(sam).to_have_title(re.compile(r" - Error - ShareHub$"))
    expect(sam.get_by_test_id("request-form")).to_have_count(0)
    expect_accessible(sam)
    assert ConsentRequest.objects.count() == 1
    press(sam, "Tab")  # the error's link leads to the request already sent
    press(sam, "Enter")
    existing = sam.get_by_test_id("existing-request")
    expect(existing).to_contain_text(
        f"{practitioner.full_name}, of your agency, asked {other_agency.name} to seek consent for "
        f"this person on {asked_on}. The request is waiting for an answer."
    )
    link = existing.get_by_role("link", name=re.compile(r"^See the request"))
    tab_to(sam, link)
    press(sam, "Enter")
    expect(sam.get_by_role("heading", level=1)).to_have_text("Consent request")
    expect(sam.get_by_test_id("request-status")).to_have_text("Waiting for an answer")
    expect(sam.get_by_test_id("request-details")).to_contain_text(
        f"{practitioner.full_name}, {agency.name}"
    )
    # Her reason is for her and the police; he sees that it was asked and how it stands.
    expect(sam.get_by_test_id("request-details")).not_to_contain_text(REASON)
    expect(sam.get_by_test_id("colleagues-request")).to_be_visible()
    expect(sam.get_by_role("button", name="Cancel the request")).to_have_count(0)
    expect_accessible(sam)
    assert sam.url.endswith(f"/consent-requests/{first.pk}/")

    # --- She comes back to the request page: her request, not the form again.
    priya.goto(request_url)
    expect(priya.get_by_role("heading", level=1)).to_have_text("Ask for consent to be sought")
    expect(priya.get_by_test_id("request-form")).to_have_count(0)
    expect(priya.get_by_test_id("request-refused")).to_have_count(0)
    existing = priya.get_by_test_id("existing-request")
    expect(existing).to_contain_text(
        f"You asked {other_agency.name} to seek consent for this person on {asked_on}. The "
        "request is waiting for an answer, which will come to your notifications."
    )
    expect_accessible(priya)
    existing.get_by_role("link", name=re.compile(r"^See the request")).click()
    expect(priya.get_by_test_id("request-details")).to_contain_text(REASON)
    expect(priya.get_by_role("button", name="Cancel the request")).to_be_visible()
    # The police were asked once, however many times CSC tried.
    dan = window("police")
    sign_in(dan, "dan@pol.test")
    expect(unread(dan)).to_have_text("1 unread")
    open_notification(
        dan,
        "consent_requested",
        f"{agency.name} asks you to seek consent to share your records of person {alice}.",
    )
    expect(dan.get_by_test_id("request-details")).to_contain_text(POLICE_DATASET)

    # --- Names, dates of birth and identifiers never went into a URL, in any window.
    assert_no_plaintext_in_urls(window)
