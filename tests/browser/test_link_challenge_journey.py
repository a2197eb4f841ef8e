"""Journey (issue 21, item 3): a practitioner reports that a record on a case summary is not the
person's, with the keyboard alone; a link reviewer finds the report first in the queue and agrees;
the records are split, and the practitioner is told in ShareHub.

Each person works in their own browser window, as on their own machine. Every page built for the
report is checked with axe-core, and no identifier may travel in any URL either window asks for.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from agencies.models import Role
from matching.models import LinkageRecord, LinkChallenge, ReviewItem
from protocols.models import ProtocolVersion
from tests.browser.conftest import expect_accessible
from tests.browser.test_protocol_journey import expect_case_summary
from tests.browser.test_review_journey import tab_to
from tests.browser.test_sign_in import sign_in
from tests.protocol_helpers import give
from tests.test_link_challenges import PLAINTEXT, family  # noqa: F401 - the fixture
from tests.test_review import pair_item

pytestmark = pytest.mark.django_db(transaction=True)

REASON = "Our referral shows a different school and a different mother for this child."


def follow_report_link(page: Page, reference: str, record_id: int) -> None:
    """From the person's case summary, follow the link that reports a record as not theirs.

    Only with the keyboard: Tab to the record's line, Enter to open its fields, Tab to the link.
    """
    row = page.locator(f'[data-testid="record"][data-record="{record_id}"]')
    # The link is among the record's fields, which open from the keyboard like any details.
    tab_to(page, row.locator("summary"))
    page.keyboard.press("Enter")
    link = row.locator('[data-testid="challenge-link"]')
    tab_to(page, link)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Report a record that is not this person"
    )


def test_a_wrong_link_is_reported_reviewed_and_the_reporter_told(
    window,
    family,  # noqa: F811 - the fixture
    member,
):
    kyle = LinkageRecord.objects.get(record=family.records["K2"]).person
    reported = family.records["K2"]
    # A pair linkage queued itself, more certain than the one the practitioner will report.
    queued = pair_item(family.records["M1"], family.records["D1"], score=9.0, probability=0.99)

    # --- The practitioner opens Kyle's case summary and reports his later record.
    priya = window("practitioner")
    sign_in(priya, family.practitioner.email)
    priya.goto(f"/persons/{kyle.reference}/?purpose=safeguarding")
    expect_case_summary(priya, kyle.reference)
    summary_url = priya.url
    follow_report_link(priya, kyle.reference, reported.pk)
    expect(priya.get_by_text(f"Person {kyle.reference}").first).to_be_visible()
    expect(priya.get_by_test_id("report-subject")).to_contain_text(
        "Police - domestic abuse incidents, 1 June 2025"
    )
    expect_accessible(priya)

    reason = priya.get_by_label("Why is this record not about this person?")
    send = priya.get_by_role("button", name="Send the report")
    # Too short: the error summary takes the focus, and its link leads back to the reason.
    tab_to(priya, reason)
    priya.keyboard.type("Not him.")
    priya.keyboard.press("Tab")
    expect(send).to_be_focused()
    priya.keyboard.press("Enter")
    problem = priya.locator(".govuk-error-summary")
    expect(problem).to_be_focused()
    expect(problem).to_contain_text("Your reason must be 20 characters or more")
    expect(priya).to_have_title(re.compile(r" - Error - ShareHub$"))
    expect_accessible(priya)
    priya.keyboard.press("Tab")
    priya.keyboard.press("Enter")
    expect(reason).to_be_focused()
    # Naming the family is refused too, without quoting the name back.
    priya.keyboard.press("ControlOrMeta+a")
    priya.keyboard.type("The Turner child on our file goes to another school.")
    tab_to(priya, send)
    priya.keyboard.press("Enter")
    expect(problem).to_contain_text("Take the person's surname out of the reason")
    expect(problem).not_to_contain_text("Turner")
    tab_to(priya, problem.get_by_role("link"))
    priya.keyboard.press("Enter")
    expect(reason).to_be_focused()
    priya.keyboard.press("ControlOrMeta+a")
    priya.keyboard.type(REASON)
    tab_to(priya, send)
    priya.keyboard.press("Enter")
    expect(priya.locator(".govuk-notification-banner--success")).to_contain_text(
        "Report sent. A link reviewer will check it"
    )
    expect(priya).to_have_url(summary_url)
    # While it waits, the summary warns of it on that record, and on no other.
    warning = priya.get_by_test_id("challenge-warning")
    expect(warning).to_have_count(1)
    expect(
        priya.locator(f'[data-testid="record"][data-record="{reported.pk}"]').get_by_test_id(
            "challenge-warning"
        )
    ).to_be_visible()
    expect_accessible(priya)
    # ... for everyone who sees that record, not only the reporter.
    colleague = member(Role.PRACTITIONER, full_name="Colin Colleague")
    give(ProtocolVersion.objects.get(), colleague)
    colin = window("colleague")
    sign_in(colin, colleague.email)
    colin.goto(summary_url)
    expect(
        colin.locator(f'[data-testid="record"][data-record="{reported.pk}"]').get_by_test_id(
            "challenge-warning"
        )
    ).to_be_visible()
    challenge = LinkChallenge.objects.get()
    assert (challenge.reason, challenge.record_id, challenge.status) == (
        REASON,
        reported.pk,
        "open",
    )

    # --- The reviewer finds it at the top of the queue, above linkage's own surest pair.
    rita = window("reviewer")
    sign_in(rita, family.reviewer.email)
    tab_to(rita, rita.locator("#navigation").get_by_role("link", name="Review links"))
    rita.keyboard.press("Enter")
    expect(rita.get_by_role("heading", level=1)).to_have_text("Review links")
    rows = rita.get_by_test_id("review-queue").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text(f"Review pair {challenge.item_id}")
    expect(rows.first).to_contain_text("Reported")
    expect(rows.nth(1)).to_contain_text(f"Review pair {queued.pk}")
    expect_accessible(rita)

    tab_to(rita, rita.get_by_role("link", name=f"Review pair {challenge.item_id}"))
    rita.keyboard.press("Enter")
    reports = rita.get_by_test_id("reports")
    expect(reports).to_contain_text(REASON)
    expect(reports).to_contain_text("The records are not the same person")
    # Who reported, and from which agency, is not the reviewer's to know.
    expect(rita.locator("main")).not_to_contain_text(family.practitioner.full_name)
    expect_accessible(rita)
    tab_to(rita, rita.get_by_label("Yes, the same person"))
    rita.keyboard.press("ArrowDown")
    expect(rita.get_by_label("No, different people")).to_be_checked()
    tab_to(rita, rita.get_by_role("button", name="Save decision"))
    rita.keyboard.press("Enter")
    expect(rita.locator(".govuk-notification-banner")).to_contain_text(
        f"Pair {challenge.item_id} saved as different people"
    )

    # The decision reached linkage: Kyle keeps his first record, the reported one has left.
    item = ReviewItem.objects.get(pk=challenge.item_id)
    assert (item.status, item.reported_at) == (ReviewItem.Status.REJECTED, None)
    assert LinkageRecord.objects.get(record=family.records["K1"]).person == kyle
    assert LinkageRecord.objects.get(record=reported).person != kyle

    # --- Decided, the warning is gone; the practitioner is told, and reads the outcome.
    colin.reload()
    expect(colin.get_by_test_id("challenge-warning")).to_have_count(0)
    priya.goto(summary_url)
    expect(priya.get_by_test_id("notifications-unread")).to_have_text("1 unread")
    priya.get_by_test_id("notifications-link").click()
    notice = priya.locator('[data-testid="notification"][data-kind="link_report_decided"]')
    expect(notice).to_have_count(1)
    expect(notice).to_contain_text(f"agreed with your report on person {kyle.reference}")
    notice.get_by_role("link").focus()
    priya.keyboard.press("Enter")
    expect(priya.get_by_role("heading", level=1)).to_have_text("Your report")
    expect(priya.get_by_test_id("report-status")).to_have_text("Decided")
    expect(priya.get_by_test_id("report-outcome")).to_contain_text("is not this person's")
    expect_accessible(priya)

    leaked = [u for u in window.requested if any(p.lower() in u.lower() for p in PLAINTEXT)]
    assert leaked == []
