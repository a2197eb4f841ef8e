"""Journey of issue 22, item 6: who read our records.

The police's IG officer filters the reads of the police's records, sees a read by a social care
worker flagged (nothing recorded behind it) and asks social care for an explanation; social
care's IG officer is told, opens the question and answers; the police's officer is told and
reads the answer. Keyboard only (Tab, Enter, Space and typing), in two windows, and every page
touched is checked with axe-core, the question form's error state included.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from agencies.models import Membership, Role
from core.purpose import Purpose
from notifications.models import NotificationKind
from oversight.flags import unusual_reads_tell
from protocols.summary import case_summary
from tests.browser.conftest import expect_accessible
from tests.browser.test_consent_journey import tab_to
from tests.browser.test_sign_in import sign_in
from tests.protocol_helpers import give, linked_people, protocol_in_force

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "Please explain why your worker opened this child's police records without a reason."
ANSWER = "A referral by phone from the school that morning; we have now logged it as a contact."


def enter_on(page: Page, target) -> None:
    tab_to(page, target, most=80)
    page.keyboard.press("Enter")


def open_notification_by_keyboard(page: Page, kind: str) -> None:
    enter_on(page, page.get_by_test_id("notifications-link"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    item = page.locator(f'[data-testid="notification"][data-kind="{kind}"]')
    expect(item).to_have_count(1)
    enter_on(page, item.get_by_role("link"))


def test_an_owner_asks_the_readers_agency_to_explain_a_flagged_read(
    window, agency, other_agency, member
):
    # --- The world: police records of Alice shared with a social care practitioner, who reads
    # her summary with no alert, consent request or override behind it; beat tells the flag.
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    worker = member(Role.PRACTITIONER, full_name="Sam Worker", email="sam@csc.test")
    police_ig = member(
        Role.IG_OFFICER, in_agency=other_agency, full_name="Cath Police", email="cath@pol.test"
    )
    csc_ig = member(Role.IG_OFFICER, full_name="Chris Care", email="chris@csc.test")
    version = protocol_in_force(
        author=csc_ig, parties=[agency, other_agency], rules=[{"dataset": linked.police}]
    )
    give(version, worker)
    case_summary(
        user=worker, membership=Membership.objects.get(user=worker), person=linked.alice,
        purpose=Purpose.SAFEGUARDING, channel="web",
    )  # fmt: skip
    assert unusual_reads_tell() >= 1
    reference = linked.alice.reference

    # --- The police's IG officer filters the reads of the police's records.
    police = window("police")
    sign_in(police, police_ig.email)
    enter_on(police, police.locator("#navigation").get_by_role("link", name="Audit trail"))
    expect(police.get_by_role("heading", level=1)).to_have_text("Audit trail")
    enter_on(police, police.get_by_test_id("reads-link"))
    expect(police.get_by_role("heading", level=1)).to_have_text("Reads of your agency's records")
    tab_to(police, police.get_by_label("Person (ShareHub reference)"), most=80)
    police.keyboard.type(reference)
    tab_to(police, police.get_by_label("Reader's agency"))
    police.keyboard.type(agency.name)  # a select takes the typed option's name
    tab_to(police, police.get_by_label("Only reads flagged to your agency"))
    police.keyboard.press("Space")
    enter_on(police, police.get_by_role("button", name="Search"))
    expect(police).to_have_url(re.compile(r"flagged_only=on"))
    rows = police.get_by_test_id("reads").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Flagged")
    expect(rows.first).to_contain_text(f"Sam Worker, Safeguarding practitioner, {agency.name}")
    expect(rows.first).to_contain_text(reference)
    expect(rows.first).to_contain_text("Nothing recorded")
    expect_accessible(police)

    # --- ... and asks social care for an explanation; too short a question is sent back.
    flag = police.get_by_test_id("told-flags").locator("tr").filter(has_text="no alert")
    enter_on(police, flag.get_by_role("link", name=re.compile(f"^Ask {agency.name}")))
    expect(police.get_by_role("heading", level=1)).to_have_text(
        f"Ask {agency.name} for an explanation"
    )
    expect_accessible(police)
    tab_to(police, police.get_by_label("Your question"))
    police.keyboard.type("Why?")
    enter_on(police, police.get_by_role("button", name="Send the question"))
    summary = police.locator(".govuk-error-summary")
    expect(summary).to_contain_text("Write at least 20 characters in your question.")
    expect(police.get_by_label("Your question")).to_have_value("Why?")  # nothing typed lost
    expect_accessible(police)
    tab_to(police, police.get_by_label("Your question"))
    police.keyboard.press("Control+A")
    police.keyboard.type(QUESTION)
    enter_on(police, police.get_by_role("button", name="Send the question"))
    expect(police.get_by_role("heading", level=1)).to_have_text(
        f"Question about reading of {other_agency.name}'s records"
    )
    expect(police.get_by_test_id("answer")).to_have_text("Not answered yet")
    expect_accessible(police)

    # --- Social care's IG officer is told, opens the question and answers it.
    care = window("care")
    sign_in(care, csc_ig.email)
    open_notification_by_keyboard(care, NotificationKind.READ_QUESTION)
    expect(care.get_by_test_id("question")).to_contain_text(QUESTION)
    expect_accessible(care)
    tab_to(care, care.get_by_label("Your answer"), most=80)
    care.keyboard.type(ANSWER)
    enter_on(care, care.get_by_role("button", name="Send the answer"))
    expect(care.get_by_test_id("answer")).to_contain_text(ANSWER)
    expect(care.get_by_role("button", name="Send the answer")).to_have_count(0)
    expect_accessible(care)

    # --- The police's officer is told and reads the answer.
    police.goto("/")
    open_notification_by_keyboard(police, NotificationKind.READ_ANSWERED)
    expect(police.get_by_test_id("answer")).to_contain_text(ANSWER)
    expect(police.get_by_test_id("question")).to_contain_text(QUESTION)
