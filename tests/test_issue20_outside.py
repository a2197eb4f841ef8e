"""Issue 20, the outside tester's findings C, F, G and H: exports that line up row by row,
drill-downs behind suppressed counts, template comments printed on the page, and withdrawing a
dataset whose mapping is like the demo's housing one."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from agencies.models import Role
from core.purpose import Purpose
from matching.models import LinkageRecord, Person
from protocols.models import Tier
from tests.protocol_helpers import give, linked_people, protocol_in_force

# --- C: two exports cannot be lined up row by row -----------------------------------------------

# Fixed keys and references make the orders below the same on every run; the old code wrote
# every export in person id order, whatever its key.
KEYS = (b"\x01" * 32, b"\x04" * 32)


@pytest.fixture
def two_analysts(db, agency, other_agency, member):
    """An analyst at social care (`agency`) and one at the police (`other_agency`), both under
    one commissioning protocol that shares both agencies' records in full."""
    linked = linked_people(other_agency, agency)
    for person, reference in (
        (linked.alice, "ALICE00001"),
        (linked.bob, "BOB0000002"),
        (linked.carol, "CAROL00003"),
    ):
        Person.objects.filter(pk=person.pk).update(reference=reference)
    # Exact scores, as linkage leaves them: near enough unique to join two files on.
    for number, linkage in enumerate(LinkageRecord.objects.filter(person__isnull=False)):
        LinkageRecord.objects.filter(pk=linkage.pk).update(link_score=0.91234 + number / 1000)
    analysts = (member(Role.ANALYST), member(Role.ANALYST, in_agency=other_agency))
    version = protocol_in_force(
        author=member(Role.IG_OFFICER),
        parties=[agency, other_agency],
        purpose=Purpose.COMMISSIONING,
        roles=(Role.ANALYST,),
        rules=[
            {"dataset": linked.csc, "tier": Tier.FULL},
            {
                "dataset": linked.police,
                "tier": Tier.FULL,
                "fields": ["field:incident_date", "field:risk_grade"],
            },
        ],
    )
    for analyst in analysts:
        give(version, analyst)
    return linked, analysts


def _keys_in_turn(monkeypatch, module: str):
    keys = iter(KEYS)
    monkeypatch.setattr(f"{module}._export_key", lambda: next(keys), raising=False)


def test_two_linked_exports_by_different_analysts_do_not_line_up(client, monkeypatch, two_analysts):
    _linked, analysts = two_analysts
    _keys_in_turn(monkeypatch, "matching.export")
    files = []
    for analyst in analysts:
        client.force_login(analyst)
        response = client.get(
            reverse("matching_api:linkage_export"),
            {"purpose": Purpose.COMMISSIONING, "statement": "Commissioning review"},
        )
        assert response.status_code == 200
        text = b"".join(response.streaming_content).decode()
        files.append(list(csv.DictReader(io.StringIO(text))))
    first, second = files
    assert len(first) == len(second) == 5

    def plain(rows):
        return [(r["agency_code"], r["dataset"], r["link_score"]) for r in rows]

    # The columns that are not keyed per export come in another order in each file ...
    assert plain(first) != plain(second)
    # ... because each file is in the order of its own person pseudonym.
    for rows in files:
        pseudonyms = [r["person_pseudonym"] for r in rows]
        assert pseudonyms == sorted(pseudonyms)
    # And a score is given to one decimal place, not as a near-unique join key.
    assert sorted(plain(first)) == sorted(plain(second))
    assert all(re.fullmatch(r"\d\.\d", r["link_score"]) for r in first + second)


def test_two_deidentified_exports_do_not_line_up(client, monkeypatch, two_analysts):
    linked, analysts = two_analysts
    _keys_in_turn(monkeypatch, "insights.export")
    files = []
    for analyst in analysts:
        client.force_login(analyst)
        form = client.get("/insights/export/")
        choices = re.findall(r'value="(\d+\|field:[a-z_]+)"', form.content.decode())
        assert f"{linked.police.pk}|field:risk_grade" in choices
        response = client.post(
            "/insights/export/",
            {
                "purpose": Purpose.COMMISSIONING,
                "statement": "Needs assessment",
                "chosen": [f"{linked.police.pk}|field:risk_grade"],
            },
        )
        text = b"".join(response.streaming_content).decode()
        files.append(list(csv.DictReader(io.StringIO(text))))
    first, second = files
    assert len(first) == len(second) == 3  # A1, A2, B1

    def plain(rows):
        return [tuple(v for k, v in r.items() if k != "person_pseudonym") for r in rows]

    assert sorted(plain(first)) == sorted(plain(second))
    assert plain(first) != plain(second)
    for rows in files:
        pseudonyms = [r["person_pseudonym"] for r in rows]
        assert pseudonyms == sorted(pseudonyms)


# --- G: a template comment is never printed -----------------------------------------------------


def _template_files():
    root = Path(settings.BASE_DIR)
    for path in root.rglob("templates/**/*.html"):
        if ".venv" not in path.parts and "node_modules" not in path.parts:
            yield path


def test_no_template_has_a_comment_over_several_lines():
    # Django's {# #} ends at the end of its line; one that goes on is printed as text.
    unclosed = [
        f"{path.relative_to(settings.BASE_DIR)}:{number}"
        for path in _template_files()
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        for opening in re.finditer(r"\{#", line)
        if "#}" not in line[opening.end() :]
    ]
    assert list(_template_files())
    assert unclosed == []


# --- F: no list behind a count the dashboard suppresses -----------------------------------------

# Made up so that the dashboard shows "<5" for the people known to Agency A alone (2 of them)
# and "[c]" for those known to both A and B (20 of them: hidden so a small count cannot be
# worked out), while the people known to A (32) are published.
SUPPRESSION_PAGE = {1: 2, 2: 30, 4: 30, 3: 10, 5: 10, 6: 10, 7: 10}


@pytest.fixture
def suppressed_dashboard(db):
    from agencies.models import Agency
    from insights.models import InsightSnapshot, PersonProfile
    from insights.services import people_figures

    agencies = [Agency.objects.create(code=c, name=f"Agency {c}", kind="other") for c in "ABC"]
    PersonProfile.objects.bulk_create(
        PersonProfile(person=Person.objects.create(), agency_mask=mask, agencies=mask.bit_count())
        for mask, count in SUPPRESSION_PAGE.items()
        for _ in range(count)
    )
    people = people_figures(agencies)
    InsightSnapshot.objects.create(
        computed_for="2026-12-07",
        figures={
            "agencies": [
                {"bit": bit, "id": a.pk, "code": a.code, "name": a.name}
                for bit, a in enumerate(agencies)
            ],
            "people": people,
        },
    )
    cells = [*people["caseload"], *people["intersections"]]
    cells += [cell for row in people["matrix"] for cell in row["cells"]]
    return {cell["drill"]: cell["shown"] for cell in cells}


def test_a_drilldown_is_refused_for_a_count_the_dashboard_suppresses(
    client, member, suppressed_dashboard
):
    from audit.models import AuditAction, AuditEntry

    shown = suppressed_dashboard
    assert (shown["set:1"], shown["pair:0:1"], shown["agency:0"]) == ("<5", "[c]", "32")
    analyst = member(Role.ANALYST)
    client.force_login(analyst)
    for cell in ("set:1", "pair:0:1"):  # primary and complementary suppression
        refused = client.get("/insights/people/", {"cell": cell})
        assert refused.status_code == 403, cell
        page = refused.content.decode()
        assert "This count is not listed" in page
        assert 'data-testid="drilldown"' not in page
    assert not AuditEntry.objects.reads().filter(action=AuditAction.DRILLDOWN).exists()
    # A published count still has its list (of the people the analyst's protocols show).
    assert client.get("/insights/people/", {"cell": "agency:0"}).status_code == 200
