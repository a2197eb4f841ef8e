"""The demo's busiest child's case summary fits two screens of a 1280x800 laptop, and loses no
field the protocol shares on the way (issue 21, item 1).

The first version was 5,251 px tall for one child: every record repeated the name and date of
birth and every field its protocol. The check is on a screenshot of the whole page, so anything
that makes the page taller (a longer footer, a line that wraps) counts, and on the page's
markup against the disclosure engine's own view, so nothing is made shorter by being dropped.
"""

import struct
from datetime import date

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from agencies.models import Membership, Role
from core.purpose import Purpose
from matching.models import Person
from protocols.engine import disclose
from synthetic.demo import DEMO_PASSWORD, DEMO_PEOPLE
from tests.browser.conftest import SCREENSHOTS, expect_accessible
from tests.browser.test_sign_in import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

SCREEN = {"width": 1280, "height": 800}
PRACTITIONER = "practitioner@csc.demo.sharehub.example"
ADULT_AT = 18


def _png_height(png: bytes) -> int:
    # The IHDR chunk follows the 8-byte signature: length, type, then width and height.
    width, height = struct.unpack(">II", png[16:24])
    return height


def _busiest_children(membership, *, most: int = 3):
    """The children (under 18 by the date of birth the practitioner is shown) with the most
    records on their summary, busiest first, as the engine's views of them: several, as
    several children tie and their pages differ (a household of five, a contact line)."""
    views = disclose(
        user=membership.user,
        membership=membership,
        persons=Person.objects.filter(is_active=True),
        purpose=Purpose.SAFEGUARDING,
        now=timezone.now(),
    )
    today = timezone.localdate()
    children = []
    for view in views.values():
        try:
            born = date.fromisoformat(view.date_of_birth)
        except ValueError:
            continue
        if (today - born).days < ADULT_AT * 365.25:
            children.append(view)
    children.sort(key=lambda v: (-len(v.records), -len(v.involvements), v.person.pk))
    return children[:most]


def test_the_busiest_childs_summary_fits_two_screens_with_every_shared_field(
    browser, live_server, settings, tmp_path
):
    settings.VAR_DIR = tmp_path
    call_command("load_demo", "--people", str(DEMO_PEOPLE))
    membership = Membership.objects.select_related("user").get(
        user__email=PRACTITIONER, role=Role.PRACTITIONER
    )
    busiest = _busiest_children(membership)
    assert len(busiest[0].records) >= 8, "the demo's busiest child has a busy summary"

    context = browser.new_context(base_url=live_server.url, viewport=SCREEN)
    page = context.new_page()
    sign_in(page, PRACTITIONER, password=DEMO_PASSWORD)
    for view in busiest:
        _check_summary(page, view)
    context.close()


def _check_summary(page, view) -> None:
    """One child's summary: two screens at most, every field the engine shows on the page."""
    page.goto(f"{reverse('protocols:summary', args=[view.person.reference])}?purpose=safeguarding")
    expect(page.locator(".govuk-caption-m")).to_contain_text(view.person.reference)

    # --- Two screens: the whole page, as a screenshot, is at most twice the window's height.
    SCREENSHOTS.mkdir(exist_ok=True)
    png = page.screenshot(
        path=SCREENSHOTS / f"busiest-child-summary-{view.person.reference}.png", full_page=True
    )
    height, most = _png_height(png), 2 * SCREEN["height"]
    assert height <= most, f"{view.person.reference}: {height} px tall; two screens are {most}"

    # --- Nothing the protocol shares is lost: every field the engine shows is on the page.
    for record in view.records:
        row = page.locator(f'[data-testid="record"][data-record="{record.record_id}"]')
        expect(row).to_have_count(1)
        for field in record.shown_fields:
            expect(row.locator(f'[data-field-key="{field.key}"]')).to_have_count(1)
        for field in record.withheld_fields:
            expect(row.locator(f'[data-withheld-key="{field.key}"]')).to_have_count(1)
        if record.not_shared_labels:
            expect(row.get_by_test_id("not-shared")).to_contain_text(
                ", ".join(record.not_shared_labels)
            )
    for involvement in view.involvements:
        expect(
            page.get_by_test_id("known-to").locator(f'tr[data-dataset="{involvement.dataset_id}"]')
        ).to_have_count(1)
    for entry in view.withheld:
        expect(
            page.locator(f'[data-testid="withheld"][data-dataset="{entry.dataset_id}"]')
        ).to_have_count(1)

    # --- The detail is a keypress away, and the page passes axe-core.
    first = page.get_by_test_id("record").first
    first.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(first.locator("[data-field-key]").first).to_be_visible()
    expect_accessible(page)
