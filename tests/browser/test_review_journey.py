"""Journey: a reviewer decides a pair with the keyboard alone, correcting a missed answer."""

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from agencies.models import Role, SourceRecord
from matching.linkage.run import linkage_run
from matching.models import LinkageRecord, ReviewDecision, ReviewItem
from matching.review import reviewer_grant
from tests.browser.test_sign_in import sign_in
from tests.ingest_helpers import csv_bytes, police_dataset, upload
from tests.test_review import pair_item, population_rows

pytestmark = pytest.mark.django_db(transaction=True)


def tab_to(page: Page, target: Locator, *, limit: int = 60) -> None:
    """Press Tab until `target` has the focus, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{target} never took the focus from the keyboard")


def test_reviewer_rejects_a_pair_using_only_the_keyboard(page: Page, member, agency):
    dataset = police_dataset(agency)
    upload(dataset, csv_bytes(population_rows()))
    linkage_run(full=True)
    records = {r.source_id: r for r in SourceRecord.objects.filter(dataset=dataset)}
    first, second = records["P0-1"], records["P0-2"]
    ReviewItem.objects.update(status=ReviewItem.Status.WITHDRAWN)  # this pair alone is open
    item = pair_item(first, second, score=6.0, probability=0.98)
    reviewer = member(Role.IG_OFFICER, full_name="Rita Reviewer")
    reviewer_grant(user=reviewer)

    sign_in(page, reviewer.email)
    tab_to(page, page.locator("#navigation").get_by_role("link", name="Review links"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Review links")

    tab_to(page, page.get_by_role("link", name=f"Review pair {item.pk}"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Are these records about the same person?"
    )

    # Saving without an answer: the summary takes the focus and its link leads to the radios.
    tab_to(page, page.get_by_role("button", name="Save decision"))
    page.keyboard.press("Enter")
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Select whether these records are about the same person.")
    tab_to(page, summary.get_by_role("link"))
    page.keyboard.press("Enter")
    yes = page.get_by_label("Yes, the same person")
    expect(yes).to_be_focused()

    # Arrow keys move through a radio group and select as they go.
    page.keyboard.press("ArrowDown")
    expect(page.get_by_label("No, different people")).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Note (optional)")).to_be_focused()
    page.keyboard.type("Different dates of birth on the case files")
    tab_to(page, page.get_by_role("button", name="Save decision"))
    page.keyboard.press("Enter")

    banner = page.locator(".govuk-notification-banner")
    expect(banner).to_contain_text(f"Pair {item.pk} saved as different people")
    expect(page).to_have_url(re.compile(r"/review/(\d+/)?$"))  # the next pair, or the queue

    item.refresh_from_db()
    assert item.status == ReviewItem.Status.REJECTED
    decision = ReviewDecision.objects.get(item=item)
    assert (decision.decided_by, decision.channel, decision.note) == (
        reviewer,
        "web",
        "Different dates of birth on the case files",
    )
    # The decision reached linkage: the two records are no longer one person.
    persons = LinkageRecord.objects.filter(record__in=[first, second]).values_list(
        "person_id", flat=True
    )
    assert len(set(persons)) == 2
