"""Dashboards: suppression a reader cannot undo from the page's totals, drill-down only to people
the engine discloses, CSV tables, the de-identified export and outcome evaluation."""

import csv
import io
import re
from datetime import date
from itertools import combinations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp

from agencies.models import Agency, Role
from audit.models import AuditAction, AuditEntry
from core.purpose import Purpose
from insights.models import DeidentifiedExport, Evaluation, InsightSnapshot, PersonProfile
from insights.services import household_figures, insights_refresh, people_figures
from matching.models import Household, Person
from protocols.models import Tier
from risk.models import RiskRun
from risk.services import enrich_run
from tests.protocol_helpers import crowd, give, linked_people, protocol_in_force

AGENCY_CODES = ["CSC", "POL", "HLT", "EDU", "HSG"]


# --- suppression, as a reader would attack the page ---------------------------------------------


def _page_equations(people: dict, bits: int) -> tuple[list[tuple[frozenset, int]], list[tuple]]:
    """From a page's people figures alone: (published sums over masks, suppressed cells with the
    masks they sum and their shown text). What a reader of the page knows."""
    masks = list(range(1, 1 << bits))
    published, hidden = [], []

    def note(cell, members):
        if cell["suppressed"]:
            hidden.append((frozenset(members), cell["shown"], cell))
        else:
            published.append((frozenset(members), int(cell["shown"])))

    for cell in people["intersections"]:
        note(cell, [int(cell["drill"].split(":")[1])])
    for bit, cell in enumerate(people["caseload"]):
        note(cell, [m for m in masks if m & (1 << bit)])
    for row, row_cells in enumerate(people["matrix"]):
        for column, cell in enumerate(row_cells["cells"]):
            if row < column:
                both = (1 << row) | (1 << column)
                note(cell, [m for m in masks if m & both == both])
    for count, cell in enumerate(people["by_count"], start=1):
        note(cell, [m for m in masks if m.bit_count() == count])
    note(people["total"], masks)
    return published, hidden


def _bounds(members, published, hidden, atom_masks) -> tuple[float, float]:
    """The least and greatest whole number a suppressed figure can be, given everything the page
    publishes and what a reader knows of its marks: "<5" is 1 to 4, "[c]" is 5 or more (zeros
    are always published, small counts always "<5")."""
    index = {m: n for n, m in enumerate(atom_masks)}
    size = len(atom_masks)

    def row(group):
        vector = np.zeros(size)
        for m in group:
            if m in index:
                vector[index[m]] = 1
        return vector

    rows, lows, highs = [], [], []
    for group, value in published:
        rows.append(row(group))
        lows.append(value)
        highs.append(value)
    for group, shown, _ in hidden:
        rows.append(row(group))
        lows.append(1 if shown == "<5" else 5)
        highs.append(4 if shown == "<5" else np.inf)
    constraint = LinearConstraint(np.array(rows), lows, highs)
    target = row(members)
    found = []
    for sign in (1, -1):
        result = milp(
            sign * target,
            integrality=np.ones(size),
            bounds=Bounds(0, np.inf),
            constraints=[constraint],
            # HiGHS's presolve fails on some of these small pages ("Solve error").
            options={"presolve": False},
        )
        assert result.status in (0, 3), result.message
        found.append(sign * result.fun if result.status == 0 else sign * np.inf)
    return found[0], found[1]


def _agencies(db_agencies=None):
    return db_agencies or [
        Agency.objects.create(code=code, name=f"Agency {code}", kind="other")
        for code in AGENCY_CODES
    ]


def _profiles(counts: dict[int, int], households: bool = False):
    PersonProfile.objects.all().delete()
    rows = []
    for mask, count in counts.items():
        for _ in range(count):
            home = Household.objects.create() if households else None
            person = Person.objects.create(household=home)
            rows.append(
                PersonProfile(
                    person=person, agency_mask=mask, agencies=mask.bit_count(), household=home
                )
            )
    PersonProfile.objects.bulk_create(rows)


def _assert_nothing_small_derivable(people, truth, bits):
    published, hidden = _page_equations(people, bits)
    masks = list(range(1, 1 << bits))
    exposed = []
    for members, shown, _cell in hidden:
        value = sum(truth.get(m, 0) for m in members)
        if 1 <= value <= 4:
            low, high = _bounds(members, published, hidden, masks)
            if high - low < 0.5:  # one whole number left: worked out
                exposed.append((shown, value, low, high))
    assert exposed == []
    # And no small count is ever printed as a number.
    for _members, value in published:
        assert not 1 <= value <= 4


@pytest.mark.django_db
def test_a_handful_of_people_known_to_two_agencies_cannot_be_worked_out():
    agencies = _agencies()
    # Three people known to police and health only: "<5", and caseloads alone would give it away.
    truth = {0b00010: 40, 0b00100: 60, 0b00110: 3, 0b00001: 25, 0b01000: 12}
    _profiles(truth)
    people = people_figures(agencies)
    cells = {c["drill"]: c for c in people["intersections"]}
    assert cells["set:6"]["shown"] == "<5"
    _assert_nothing_small_derivable(people, truth, len(agencies))


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(counts=st.dictionaries(st.integers(1, 31), st.integers(0, 30), min_size=3, max_size=14))
def test_no_count_from_1_to_4_can_be_derived_from_the_page(counts):
    agencies = list(Agency.objects.order_by("pk")) or _agencies()
    truth = {m: c for m, c in counts.items() if c}
    _profiles(truth)
    people = people_figures(agencies)
    _assert_nothing_small_derivable(people, truth, len(agencies))


@pytest.mark.django_db
def test_households_by_number_of_agencies_are_protected_against_their_total():
    agencies = _agencies()
    _profiles({0b1: 20, 0b11: 2, 0b111: 9}, households=True)
    figures = household_figures(agencies)
    shown = [c["shown"] for c in figures["rows"]]
    assert shown[1] == "<5"
    # With the total published, one more row must be held back.
    assert sum(1 for s in shown if s in ("<5", "[c]")) >= 2 or figures["total"]["suppressed"]


# --- the pages -----------------------------------------------------------------------------------


@pytest.fixture
def world(db, agency, other_agency, member):
    linked = linked_people(other_agency, agency)
    analyst = member(Role.ANALYST)
    # The analyst's protocol covers police records only: social care is not theirs to see.
    version = protocol_in_force(
        author=analyst,
        parties=[agency, other_agency],
        purpose=Purpose.COMMISSIONING,
        roles=(Role.ANALYST,),
        rules=[
            {
                "dataset": linked.police,
                "tier": Tier.SUMMARY,
                "fields": [
                    "field:incident_date",
                    "field:risk_grade",
                    "field:summary",
                    "identity:date_of_birth",
                ],
            }
        ],
    )
    give(version, analyst)
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=date(2026, 3, 1))
    return linked, analyst


def _bit(figures, agency_id):
    return next(a["bit"] for a in figures["agencies"] if a["id"] == agency_id)


def test_the_dashboard_shows_only_suppressed_figures_with_charts_and_tables(world, client):
    linked, analyst = world
    client.force_login(analyst)
    page = client.get("/insights/dashboard/")
    assert page.status_code == 200
    html = page.content.decode()
    for chart in ("chart-caseload", "chart-upset", "chart-households", "chart-risk"):
        assert f'data-chart="{chart}"' in html and f'id="{chart}"' in html
    assert "chartjs/chart.umd" in html and "<script>" not in html
    # Every count cell (the intersections' "number of agencies" column is not a count).
    cells = re.findall(
        r'<td class="govuk-table__cell govuk-table__cell--numeric">(?:<a[^>]*>)?([^<]*)<', html
    )
    assert cells, "no figures on the page"
    assert not [c for c in cells if c.strip() in {"1", "2", "3", "4"}]


def test_drilldown_lists_only_people_the_engine_shows_as_known_to_those_agencies(world, client):
    linked, analyst = world
    # Enough people that no count drilled into below is suppressed (those have no list).
    crowd(linked)
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=date(2026, 3, 1))
    figures = InsightSnapshot.objects.latest().figures
    police_bit = _bit(figures, linked.police.agency_id)
    csc_bit = _bit(figures, linked.csc.agency_id)
    client.force_login(analyst)
    police = client.get(f"/insights/people/?cell=agency:{police_bit}")
    assert police.status_code == 200
    listed = set(
        re.findall(r'data-testid="drilldown-reference">([0-9A-Z]{10})<', police.content.decode())
    )
    with_police_records = Person.objects.filter(
        is_active=True, records__dataset_id=linked.police.pk
    ).values_list("reference", flat=True)
    assert listed == set(with_police_records)
    assert {linked.alice.reference, linked.bob.reference} <= listed
    # Alice is known to social care too, but the analyst's protocol does not cover it.
    csc = client.get(f"/insights/people/?cell=agency:{csc_bit}")
    assert linked.alice.reference not in csc.content.decode()
    assert b"None of the people in this count is shared with you" in csc.content
    both = (1 << police_bit) | (1 << csc_bit)
    assert (
        linked.alice.reference
        not in client.get(f"/insights/people/?cell=set:{both}").content.decode()
    )
    for bad in ("agency:99", "set:0", "band:high", "nonsense", "pair:1"):
        assert client.get(f"/insights/people/?cell={bad}").status_code == 404
    logged = AuditEntry.objects.reads().filter(action=AuditAction.DRILLDOWN, actor=analyst)
    assert logged.count() == 3
    # Someone holding no protocol sees nobody behind any count.
    from tests.factories import MembershipFactory, UserFactory

    other = UserFactory()
    MembershipFactory(user=other, agency=linked.police.agency, role=Role.ANALYST)
    client.force_login(other)
    assert (
        linked.bob.reference
        not in client.get(f"/insights/people/?cell=agency:{police_bit}").content.decode()
    )


def test_tables_download_as_the_page_shows_them(world, client):
    linked, analyst = world
    client.force_login(analyst)
    response = client.get("/insights/tables/caseload.csv")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="sharehub-caseload-')
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["Agency", "People"]
    assert {r[0] for r in rows[1:-1]} == {linked.police.agency.name, linked.csc.agency.name}
    assert all(r[1] in ("<5", "[c]", "0") or int(r[1]) >= 5 for r in rows[1:])
    for name in ("overlap", "intersections", "by-count", "households", "risk-bands",
                 "risk-trend", "alerts-raised", "alert-outcomes"):  # fmt: skip
        assert client.get(f"/insights/tables/{name}.csv").status_code == 200, name
    assert client.get("/insights/tables/nope.csv").status_code == 404


def test_the_deidentified_export_writes_what_the_engine_shows_generalised(world, client):
    linked, analyst = world
    client.force_login(analyst)
    form = client.get("/insights/export/")
    assert form.status_code == 200
    assert b"Summary" not in form.content  # free text cannot be chosen
    choices = re.findall(r'value="(\d+\|field:[a-z_]+)"', form.content.decode())
    assert set(choices) == {
        f"{linked.police.pk}|field:incident_date",
        f"{linked.police.pk}|field:risk_grade",
    }
    data = {
        "purpose": "commissioning",
        "statement": "Needs assessment for the domestic abuse strategy",
        "chosen": choices,
        "age_bands": "on",
    }
    first = b"".join(client.post("/insights/export/", data).streaming_content).decode()
    second = b"".join(client.post("/insights/export/", data).streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(first)))
    assert len(rows) == 3  # A1, A2, B1: police records only
    assert {r["agency"] for r in rows} == {linked.police.agency.code}
    assert {r["event_month"] for r in rows} == {"2026-01", "2024-05"}
    assert all(
        re.fullmatch(r"\d{4}-\d{2}", r[f"{linked.police.name}: Incident date"]) for r in rows
    )
    assert {r["age_band_at_event"] for r in rows} == {"10-15", "5-9"}
    for forbidden in (
        "Alice",
        "Smith",
        "2015-02-01",
        "01/02/2015",
        "9434765919",
        "LS6",
        linked.alice.reference,
    ):
        assert forbidden not in first
    pseudonyms = {r["person_pseudonym"] for r in rows}
    assert len(pseudonyms) == 2
    assert not pseudonyms & {r["person_pseudonym"] for r in csv.DictReader(io.StringIO(second))}
    export = DeidentifiedExport.objects.order_by("pk").first()
    assert (export.purpose_statement, export.rows, export.persons, export.finished) == (
        "Needs assessment for the domestic abuse strategy", 3, 2, True,
    )  # fmt: skip
    # No statement, or a field not offered: a clear error and nothing exported.
    refused = client.post("/insights/export/", {**data, "statement": ""})
    assert refused.status_code == 200 and b"Say what the export is for" in refused.content
    refused = client.post("/insights/export/", {**data, "statement": "Cohort incl. LS6 2AB"})
    errors = re.findall(r'govuk-error-message">(.*?)</p>', refused.content.decode(), re.S)
    assert errors and "a postcode" in errors[0] and "LS6" not in errors[0], refused.content
    refused = client.post(
        "/insights/export/", {**data, "chosen": [f"{linked.csc.pk}|field:case_notes"]}
    )
    assert (
        b"Select a valid choice" in refused.content
        or b"Choose at least one field" in refused.content
    )
    assert DeidentifiedExport.objects.count() == 2


def test_outcome_evaluation_counts_before_and_after_each_index_date(world, client, member):
    linked, analyst = world
    evaluation = Evaluation.objects.create(
        name="Social care referral and police incidents",
        cohort_dataset=linked.csc,
        period_start=date(2025, 1, 1),
        period_end=date(2026, 12, 31),
        outcome_dataset=linked.police,
        months=24,
        created_by=analyst,
    )
    from insights.evaluation import evaluation_figures

    # Alice: referral 1 March 2026; police A2 (May 2024) before, A1 (January 2026) before too.
    # Carol: referral November 2025, no police record. Follow-up of 24 months has not passed
    # by 2026, so nobody counts yet; by 2028 both do.
    early = evaluation_figures(evaluation, today=date(2026, 12, 1))
    assert early["people"] == "0" and early["not_yet_followed"] == "<5"
    later = evaluation_figures(evaluation, today=date(2028, 6, 1))
    assert later["people"] == "<5"
    before, after = later["periods"]
    assert before["people_with"] == "<5" and before["events"] == "<5" and before["rate"] is None
    assert after["people_with"] == "0" or after["people_with"] in ("<5", "[c]")
    insights_refresh(today=date(2028, 6, 1))
    client.force_login(analyst)
    page = client.get("/insights/dashboard/")
    assert b"Social care referral and police incidents" in page.content


def test_pairs_of_agencies_in_the_matrix_are_symmetric(world):
    figures = InsightSnapshot.objects.latest().figures["people"]
    matrix = [[c["shown"] for c in row["cells"]] for row in figures["matrix"]]
    for i, j in combinations(range(len(matrix)), 2):
        assert matrix[i][j] == matrix[j][i]
