"""Journey (issue 22, items 3 and 4), keyboard only after signing in: a version is submitted, the
police IG officer finds it on her home page and in her notifications and approves it; she then
suspends it, first with too short a reason, and children's social care's IG officer is told.

Each person works in their own browser window. The world is two agencies and a protocol drafted
through the service: no demo load.
"""

import re
from datetime import date

import pytest
from playwright.sync_api import Locator, Page, expect

from agencies.models import Membership, Role
from core.purpose import Purpose
from protocols.models import Tier, VersionStatus
from protocols.services import (
    ProtocolInput,
    RuleInput,
    protocol_approve,
    protocol_draft_create,
)
from tests.browser.conftest import expect_accessible
from tests.browser.test_sign_in import sign_in
from tests.ingest_helpers import police_dataset
from tests.protocol_helpers import give

pytestmark = pytest.mark.django_db(transaction=True)

NAME = "MASH police risk sharing"
REASON = "Police data quality is under review after an audit finding."
RESUMED = "The audit finding is closed and the data corrected."


def press(page: Page, target: Locator, key: str = "Enter") -> None:
    """Move the keyboard focus to `target` and press a key, as Tab would bring it there."""
    target.focus()
    expect(target).to_be_focused()
    page.keyboard.press(key)


def test_submitted_approved_from_home_and_notification_then_suspended_with_a_reason(
    window, agency, other_agency, member
):
    police = police_dataset(other_agency)
    author = member(Role.IG_OFFICER, full_name="Ada Author", email="ada@csc.test")
    ben = member(Role.IG_OFFICER, full_name="Ben Approver", email="ben@csc.test")
    cath = member(
        Role.IG_OFFICER, in_agency=other_agency, full_name="Cath Police", email="cath@pol.test"
    )
    practitioner = member(Role.PRACTITIONER, full_name="Priya Shah")
    version = protocol_draft_create(
        membership=Membership.objects.get(user=author),
        data=ProtocolInput(
            name=NAME,
            purpose=Purpose.SAFEGUARDING,
            lawful_basis="UK GDPR Art 6(1)(e)",
            valid_from=date(2026, 1, 1),
            party_ids=(agency.pk, other_agency.pk),
            rules=(
                RuleInput(dataset_id=police.pk, tier=Tier.SUMMARY, fields=("field:risk_grade",)),
            ),
        ),
    )
    protocol = version.protocol
    protocol_url = f"/protocols/{protocol.reference}/"

    # --- The author submits, and is told why she cannot approve it and who can.
    ada = window("ada")
    sign_in(ada, author.email)
    ada.goto(protocol_url)
    press(ada, ada.get_by_role("button", name="Submit for approval"))
    expect(ada.get_by_test_id("open-status")).to_have_text("Awaiting approval")
    standing = ada.get_by_test_id("approval-standing")
    expect(standing).to_contain_text(
        f"You wrote this version, so another IG officer of {agency.name} must approve it"
    )
    expect(ada.get_by_test_id("who-can-approve")).to_contain_text(f"{agency.name}: Ben Approver")
    expect(ada.get_by_test_id("who-can-approve")).to_contain_text(
        f"{other_agency.name}: Cath Police"
    )
    expect(ada.get_by_role("button", name=re.compile("^Approve"))).to_have_count(0)
    expect_accessible(ada)

    # Children's social care approves (off screen); the police are the last party.
    protocol_approve(membership=Membership.objects.get(user=ben), version=version)

    # --- The police IG officer sees it waiting on her home page, and in her notifications.
    pol = window("cath")
    sign_in(pol, cath.email)
    waiting = pol.get_by_test_id("awaiting-approval")
    expect(waiting).to_contain_text(f"{NAME}, version 1")
    expect(waiting).to_contain_text("Ada Author")
    expect_accessible(pol)
    expect(pol.get_by_test_id("notifications-unread")).to_have_text(re.compile(r"^1"))
    press(pol, pol.get_by_test_id("notifications-link"))
    expect(pol.get_by_role("heading", level=1)).to_have_text("Notifications")
    notice = pol.locator('[data-kind="approval_requested"]')
    expect(notice).to_contain_text(f"needs {other_agency.name}'s approval")
    press(pol, notice.get_by_role("link"))
    expect(pol.get_by_role("heading", level=1)).to_have_text(NAME)
    press(pol, pol.get_by_test_id("approve"))
    expect(pol.locator(".govuk-notification-banner")).to_contain_text("Approved for your agency.")
    expect(pol.get_by_test_id("live-status")).to_have_text("Active")
    version.refresh_from_db()
    assert version.status == VersionStatus.ACTIVE
    press(pol, pol.get_by_role("link", name="Home", exact=True))
    expect(pol.get_by_test_id("awaiting-approval")).to_contain_text("No protocol version")

    # --- She suspends it: the page asks first, and "Testing" is not a reason.
    give(version, practitioner)
    pol.goto(protocol_url)
    press(pol, pol.get_by_role("link", name="Suspend the protocol"))
    expect(pol.get_by_role("heading", level=1)).to_have_text(f"Suspend {NAME}")
    expect(pol.get_by_test_id("suspend-impact")).to_contain_text(agency.name)
    expect(pol.get_by_test_id("suspend-holders")).to_have_text(
        "1 person stops seeing what it shares"
    )
    expect_accessible(pol)
    reason = pol.get_by_label("Why is the protocol suspended?")
    reason.focus()
    pol.keyboard.type("Testing")
    pol.keyboard.press("Tab")
    expect(pol.get_by_role("button", name="Suspend the protocol")).to_be_focused()
    pol.keyboard.press("Enter")
    summary = pol.locator(".govuk-error-summary")
    expect(summary).to_contain_text("yours is 7, so it needs 13 more")
    expect(summary).to_be_focused()
    expect(pol).to_have_title(re.compile(r"^Error: "))
    expect(reason).to_have_value("Testing")  # what was typed is kept
    expect_accessible(pol)
    press(pol, summary.get_by_role("link"))
    expect(reason).to_be_focused()
    pol.keyboard.press("Control+A")
    pol.keyboard.type(REASON)
    press(pol, pol.get_by_role("button", name="Suspend the protocol"))
    expect(pol.locator(".govuk-notification-banner")).to_contain_text("Suspended: nothing")
    expect(pol.get_by_test_id("live-status")).to_have_text("Suspended")
    expect(pol.get_by_test_id("suspension")).to_contain_text(
        re.compile(rf"Suspended on .+ by Cath Police \({other_agency.name}\): {re.escape(REASON)}")
    )
    expect_accessible(pol)

    # --- The other party's IG officer has been told, and sees who and why.
    csc = window("ben")
    sign_in(csc, ben.email)
    press(csc, csc.get_by_test_id("notifications-link"))
    told = csc.locator('[data-kind="protocol_suspended"]')
    expect(told).to_contain_text(f"Cath Police ({other_agency.name}) suspended")
    press(csc, told.get_by_role("link"))
    expect(csc.get_by_test_id("suspension")).to_contain_text(REASON)

    # --- Ben resumes it, through a page that says who suspended it and why, with a reason
    # Cath's agency will read; the protocol page then says who resumed it and why.
    press(csc, csc.get_by_role("link", name="Resume the protocol"))
    expect(csc.get_by_role("heading", level=1)).to_have_text(f"Resume {NAME}")
    expect(csc.get_by_test_id("resume-suspension")).to_contain_text(
        f"Cath Police ({other_agency.name})"
    )
    expect(csc.get_by_test_id("resume-suspension-reason")).to_have_text(REASON)
    expect(csc.get_by_test_id("resume-other-party")).to_contain_text(
        f"{other_agency.name} suspended this protocol"
    )
    expect_accessible(csc)
    press(csc, csc.get_by_role("button", name="Resume the protocol"))
    expect(csc.locator(".govuk-error-summary")).to_contain_text("Say why the protocol is resumed")
    expect(csc.get_by_test_id("live-status")).to_have_count(0)
    csc.get_by_label("Why is it safe to resume the protocol?").fill(RESUMED)
    press(csc, csc.get_by_role("button", name="Resume the protocol"))
    expect(csc.locator(".govuk-notification-banner")).to_contain_text("Resumed: it discloses")
    expect(csc.get_by_test_id("live-status")).to_have_text("Active")
    expect(csc.get_by_test_id("resumption")).to_contain_text(
        re.compile(rf"Resumed on .+ by Ben .+: {re.escape(RESUMED)}")
    )
    expect_accessible(csc)
    press(pol, pol.get_by_test_id("notifications-link"))
    expect(pol.locator('[data-kind="protocol_resumed"]')).to_contain_text("which Cath Police")
