"""Journey: a police IG officer seals the police's medium-risk incidents on a draft protocol,
with the keyboard only; once the protocol is in force, a children's social care practitioner's
case summary of Alice shows her high-risk police incident and not the sealed one. The form and
the version page pass axe.

The approval that puts the draft in force has a journey of its own (test_protocol_journey);
here the draft is put in force directly.
"""

import pytest
from playwright.sync_api import expect

from agencies.models import Role
from protocols.models import SealedRecord, SealRule, Tier, VersionStatus
from tests.browser.conftest import expect_accessible
from tests.browser.test_sign_in import sign_in
from tests.protocol_helpers import give, linked_people, protocol_in_force

pytestmark = pytest.mark.django_db(transaction=True)

RISK_GRADE = '[data-field-key="field:risk_grade"]'


def test_an_officer_seals_records_and_another_agency_no_longer_sees_them(
    window, agency, other_agency, member
):
    linked = linked_people(other_agency, agency)
    practitioner = member(Role.PRACTITIONER, email="priya@csc.test")
    officer = member(Role.IG_OFFICER, in_agency=other_agency, email="olu@police.test")
    sharing = protocol_in_force(
        author=practitioner,
        parties=[agency, other_agency],
        rules=[{"dataset": linked.police}, {"dataset": linked.csc}],
    )
    give(sharing, practitioner)
    draft = protocol_in_force(
        author=officer,
        parties=[other_agency, agency],
        rules=[{"dataset": linked.police, "tier": Tier.KNOWN_TO}],
        status=VersionStatus.DRAFT,
        name="Police sealed records",
    )
    reference = draft.protocol.reference

    priya = window("practitioner")
    sign_in(priya, practitioner.email)
    priya.goto(f"/persons/{linked.alice.reference}/?purpose=safeguarding")
    grades = priya.locator(RISK_GRADE)
    expect(grades).to_have_count(2)  # both of Alice's police incidents, before the seal

    olu = window("officer")
    sign_in(olu, officer.email)
    olu.goto(f"/protocols/{reference}/versions/1/edit/")
    expect(olu.get_by_role("heading", name="Sealed records")).to_be_visible()
    expect_accessible(olu)

    what = olu.get_by_label("Seal records of").first
    what.focus()
    what.select_option(
        label=f"{linked.police.agency.name}: {linked.police.name}: Risk grade is ..."
    )
    olu.keyboard.press("Tab")
    expect(olu.get_by_label("Value that seals a record").first).to_be_focused()
    olu.keyboard.type("  Medium ")
    olu.keyboard.press("Tab")
    # The reason is left out first: the error summary says what to fix, and the typed value stays.
    olu.keyboard.press("Enter")
    summary = olu.get_by_test_id("protocol-errors")
    expect(summary).to_contain_text("Sealing rule 1: say why these records must never be shared")
    expect(olu.get_by_label("Value that seals a record").first).to_have_value("Medium")
    expect_accessible(olu)
    olu.get_by_label("Why these records must never be shared").first.focus()
    olu.keyboard.type("Medium-risk incidents hold victims' addresses")
    olu.keyboard.press("Enter")
    expect(olu.get_by_role("heading", level=1)).to_have_text("Police sealed records")

    olu.goto(f"/protocols/{reference}/versions/1/")
    sealed = olu.get_by_test_id("sealed-records")
    expect(sealed).to_contain_text('Records where Risk grade is "Medium"')
    expect(sealed).to_contain_text("Medium-risk incidents hold victims' addresses")
    expect_accessible(olu)

    rule = SealRule.objects.get(version=draft)
    # Marked as the draft was saved, so approval has nothing more to do.
    assert SealedRecord.objects.filter(rule=rule, record=linked.records["A2"]).exists()
    draft.status = VersionStatus.ACTIVE
    draft.save()

    priya.reload()
    expect(grades).to_have_count(1)
    expect(grades.first).to_contain_text("high", ignore_case=True)
    expect(priya.locator("main")).not_to_contain_text("medium", ignore_case=True)
