"""Issue 20, outside tester's findings D and E (second round).

D: a dashboard drill-down list is the references behind the cell asked for and nothing more:
no per-person "known to" set, from which the dashboard's suppressed cells could be counted.
E: the risk page and drill-downs are reads for each agency whose records they show, on that
agency's /audit/reads/.
"""

import re
from datetime import date

import pytest

from agencies.models import Role
from audit.models import AuditAction, RecordRead
from core.purpose import Purpose
from insights.models import InsightSnapshot
from protocols.models import Tier
from risk.models import RiskRun
from risk.services import enrich_run
from tests.protocol_helpers import (
    crowd,
    give,
    linked_people,
    police_shared_with_a_practitioner,
    protocol_in_force,
)


@pytest.fixture
def analyst_world(db, agency, other_agency, member):
    """A social care analyst whose commissioning protocol covers both police and social care,
    so the list for "known to the police" holds people known to social care too."""
    linked = linked_people(other_agency, agency)
    crowd(linked)
    analyst = member(Role.ANALYST)
    version = protocol_in_force(
        author=analyst,
        parties=[agency, other_agency],
        purpose=Purpose.COMMISSIONING,
        roles=(Role.ANALYST,),
        rules=[
            {"dataset": linked.police, "tier": Tier.SUMMARY, "fields": ["field:incident_date"]},
            {"dataset": linked.csc, "tier": Tier.SUMMARY, "fields": ["field:referral_date"]},
        ],
    )
    give(version, analyst)
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=date(2026, 3, 1))
    figures = InsightSnapshot.objects.latest().figures
    bits = {a["id"]: a["bit"] for a in figures["agencies"]}
    return linked, analyst, bits


def _table(body: str) -> str:
    match = re.search(r'<table class="govuk-table" data-testid="drilldown">.*?</table>', body, re.S)
    assert match, "no drill-down table"
    return match.group(0)


def test_a_drilldown_row_carries_the_reference_and_no_agency_set(
    analyst_world, client, agency, other_agency
):
    linked, analyst, bits = analyst_world
    client.force_login(analyst)
    page = client.get("/insights/people/", {"cell": f"agency:{bits[other_agency.pk]}"})
    assert page.status_code == 200
    table = _table(page.content.decode())
    listed = re.findall(r'data-testid="drilldown-reference">([0-9A-Z]{10})<', table)
    # Alice is known to both: she is listed under the police, as the cell says.
    assert linked.alice.reference in listed
    # Nothing in a row says who else knows the person: otherwise counting the rows that name
    # social care gives "police and social care", a cell the dashboard may suppress.
    for agency_said in (agency.code, agency.name, other_agency.code, other_agency.name):
        assert agency_said not in table
    assert "govuk-tag" not in table
    rows = re.findall(r'<tr class="govuk-table__row">(.*?)</tr>', table, re.S)
    body_rows = [r for r in rows if "drilldown-reference" in r]
    assert body_rows and all(r.count("<td") == 1 for r in body_rows)


def test_the_drilldown_service_returns_references_only(analyst_world, other_agency):
    from agencies.models import Membership
    from insights.drilldown import drilldown

    linked, analyst, bits = analyst_world
    figures = InsightSnapshot.objects.latest().figures
    found = drilldown(
        user=analyst,
        membership=Membership.objects.get(user=analyst),
        cell=f"agency:{bits[other_agency.pk]}",
        agencies=figures["agencies"],
        people=figures["people"],
    )
    assert found.references and all(isinstance(r, str) for r in found.references)
    assert not hasattr(found, "views")  # no engine view (and its involvements) leaves the list


def test_a_drilldown_is_a_read_of_references_for_the_agencies_of_its_cell(
    analyst_world, client, agency, other_agency
):
    linked, analyst, bits = analyst_world
    client.force_login(analyst)
    client.get("/insights/people/", {"cell": f"agency:{bits[other_agency.pk]}"})
    reads = list(RecordRead.objects.filter(entry__action=AuditAction.DRILLDOWN))
    # The police cell says each listed person is known to the police: a read for the police
    # only, references only.
    assert [r.agency_id for r in reads] == [other_agency.pk]
    (read,) = reads
    assert linked.alice.reference in read.persons
    assert read.fields == [] and read.records == 0 and read.known_to_only


@pytest.fixture
def practitioner_world(db, agency, other_agency, member):
    linked, practitioner, _ = police_shared_with_a_practitioner(agency, other_agency, member)
    return linked, practitioner


def test_the_risk_page_showing_a_police_name_is_a_read_for_the_police(
    practitioner_world, client, member, other_agency
):
    linked, practitioner = practitioner_world
    client.force_login(practitioner)
    # Bob is known to the police only; the page shows his name from the police records.
    page = client.get(f"/persons/{linked.bob.reference}/risk/")
    assert page.status_code == 200
    assert "Bob" in page.content.decode()
    police_ig = member(Role.IG_OFFICER, in_agency=other_agency)
    client.force_login(police_ig)
    shown = client.get("/audit/reads/").context["reads"]
    reads = [r for r in shown if r.entry.action == AuditAction.RISK]
    assert reads, "the risk page that showed a police name is missing from the police's reads"
    (read,) = reads
    assert read.persons == [linked.bob.reference]
    assert {"identity:forename", "identity:surname"} <= set(read.fields)
    assert read.records >= 1 and not read.known_to_only


def test_a_household_members_findings_on_the_risk_page_are_read_as_theirs(
    db, agency, other_agency, member
):
    from agencies.models import Membership
    from risk.indicators import IndicatorInput
    from risk.services import indicator_save, person_risk

    linked = linked_people(other_agency, agency)
    indicator_save(
        data=IndicatorInput(
            datasets=[linked.police], name="High risk", kind="structured", weight=30,
            half_life_days=None,
            conditions=[{"column": "risk_grade", "op": "is", "value": "high"}],
        ),
        by=member(Role.PLATFORM_ADMIN), rescore=False,
    )  # fmt: skip
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=date(2026, 3, 1))
    practitioner = member(Role.PRACTITIONER)
    version = protocol_in_force(
        author=practitioner,
        parties=[agency, other_agency],
        rules=[{"dataset": linked.police, "tier": Tier.FULL}],
    )
    give(version, practitioner)
    page = person_risk(
        user=practitioner, membership=Membership.objects.get(user=practitioner),
        person=linked.alice, purpose="safeguarding", channel="web",
    )  # fmt: skip
    assert page.household_score > page.score  # Bob's B1 counts in the household score
    (read,) = RecordRead.objects.filter(entry__action=AuditAction.RISK, agency_id=other_agency.pk)
    # Bob's record is read as Bob's, not folded into Alice's.
    assert set(read.persons) == {linked.alice.reference, linked.bob.reference}
