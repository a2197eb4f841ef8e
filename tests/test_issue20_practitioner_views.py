"""Issue 20, findings 4, 5, 11 and 16 (first half): the practitioner pages say nothing the
disclosure engine withholds.

4. Search scores a person only against the identifiers the engine shows the searcher, and shows
   a band, not a weight: a withheld postcode changes nothing on the page or in the API.
5. Analysts get aggregates, pseudonymous drill-downs and de-identified exports; identifying
   search, case summaries and risk pages are for practitioners.
11. A merged person's old reference redirects only for a reader the engine lets see the person.
16. The summary says nothing countable about household members outside the reader's protocols.
"""

import json
import re

import pytest
from django.urls import reverse

from agencies.models import Role
from audit.models import AuditEntry
from core.purpose import Purpose
from matching.linkage.keys import keys_refresh
from matching.models import Household, LinkageRecord
from protocols.models import Tier
from sharehub.navigation import nav_for
from tests.ingest_helpers import csv_bytes, good_row, upload
from tests.protocol_helpers import crowd, give, linked_people, protocol_in_force

# Police records show their names and dates of birth to the searcher, never their postcodes.
POLICE_NAMES_ONLY = [
    "identity:forename",
    "identity:surname",
    "identity:date_of_birth",
    "field:incident_date",
]


@pytest.fixture
def world(agency, other_agency, member):
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    practitioner = member(Role.PRACTITIONER)
    ig = member(Role.IG_OFFICER)
    version = protocol_in_force(
        author=ig,
        parties=[agency, other_agency],
        rules=[
            {"dataset": linked.csc},
            {"dataset": linked.police, "tier": Tier.SUMMARY, "fields": POLICE_NAMES_ONLY},
        ],
        name="MASH protocol",
    )
    give(version, practitioner)
    return linked, practitioner, ig


def _api_search(client, **data):
    response = client.post(reverse("protocols_api:search"), data, content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def _page_results(client, **data) -> str:
    response = client.post(reverse("protocols:search"), {"purpose": "safeguarding", **data})
    assert response.status_code == 200
    html = response.content.decode()
    found = re.search(r'<h2 class="govuk-heading-m" id="results".*?(?:</table>|</p>)', html, re.S)
    assert found, "no results section on the page"
    return found.group()


def _add_police_record(linked, person, ref: str, **row) -> None:
    """A further police record of `person`, linked to them, with its keys and search rows."""
    upload(linked.police, csv_bytes([good_row(ref, **row)]))
    record = linked.police.records.get(source_id=ref)
    keys_refresh(record_ids=[record.pk])
    LinkageRecord.objects.filter(record=record).update(person=person)


# --- Finding 4: search scores only what the engine discloses -------------------------------------


@pytest.mark.parametrize(
    "postcode",
    [
        "LS9 8XY",  # the postcode searched for
        "LS9 1ZZ",  # another in the same district
    ],
)
def test_a_withheld_postcode_changes_nothing_the_searcher_sees(client, world, postcode):
    linked, practitioner, _ = world
    client.force_login(practitioner)
    query = {"forename": "Bob", "surname": "Smith", "date_of_birth": "03/04/2012"}
    query["postcode"] = "LS9 8XY"
    api_before = _api_search(client, **query)
    page_before = _page_results(client, **query)
    assert [r["reference"] for r in api_before][0] == linked.bob.reference

    # Bob gets an older police record at the postcode, which his protocol does not disclose.
    _add_police_record(
        linked,
        linked.bob,
        "B2",
        forename="Bob",
        dob="03/04/2012",
        nhs_number="",
        postcode=postcode,
        incident_date="2019-06-01",
    )

    assert _api_search(client, **query) == api_before
    assert _page_results(client, **query) == page_before


def test_a_person_matching_only_on_withheld_identifiers_is_not_listed(client, world):
    linked, practitioner, _ = world
    client.force_login(practitioner)
    # Bob's only record is a police one whose postcode (LS6 2AB) the searcher is not shown;
    # Alice's social care record shows hers, the same.
    by_postcode = _api_search(client, postcode="LS6 2AB")
    assert [r["reference"] for r in by_postcode] == [linked.alice.reference]
    # Alice's NHS number is only on police records, and not disclosed to the searcher.
    assert _api_search(client, identifier="943 476 5919") == []


def test_search_shows_a_band_not_a_weight(client, world):
    linked, practitioner, _ = world
    client.force_login(practitioner)
    results = _api_search(client, forename="Alice", surname="Smith", date_of_birth="01/02/2015")
    assert results[0]["reference"] == linked.alice.reference
    assert results[0]["match"] == "strong"
    assert all(
        set(r) == {"reference", "name", "date_of_birth", "known_to", "match"} for r in results
    )
    weak = _api_search(client, surname="Smith")
    assert weak and {r["match"] for r in weak} == {"possible"}

    page = _page_results(client, forename="Alice", surname="Smith", date_of_birth="01/02/2015")
    assert "Strong match" in page
    cells = re.findall(r'data-testid="match-band"[^>]*>(.*?)</td>', page, re.S)
    assert cells and all(re.fullmatch(r"\s*<strong[^>]*>(Strong|Possible) match</strong>\s*", c)
                         for c in cells)  # fmt: skip


# --- Finding 5: analysts do not reach identifying pages ------------------------------------------


def test_analysts_get_no_search_summaries_or_risk_pages(
    client, world, member, agency, other_agency
):
    linked, practitioner, ig = world
    analyst = member(Role.ANALYST)
    # Even a protocol naming the analyst role opens none of the identifying pages.
    version = protocol_in_force(
        author=ig,
        parties=[agency, other_agency],
        roles=(Role.ANALYST, Role.PRACTITIONER),
        rules=[{"dataset": linked.csc}, {"dataset": linked.police}],
    )
    give(version, analyst)
    give(version, practitioner)
    reference = linked.alice.reference
    pages = [
        ("get", reverse("protocols:search")),
        ("post", reverse("protocols:search")),
        ("get", reverse("protocols:summary", args=[reference])),
        ("get", reverse("protocols:summary_print", args=[reference])),
        ("post", reverse("protocols:unlock", args=[reference])),
        ("get", reverse("risk:person_risk", args=[reference])),
    ]
    search_data = {"surname": "Smith", "purpose": "safeguarding"}
    client.force_login(analyst)
    for method, url in pages:
        response = getattr(client, method)(url, search_data if method == "post" else None)
        assert response.status_code == 403, (method, url, response.status_code)
        assert b"Smith" not in response.content and reference.encode() not in response.content
        assert b"As an analyst" in response.content, url
    api = [
        ("post", reverse("protocols_api:search")),
        ("get", reverse("protocols_api:summary", args=[reference])),
        ("post", reverse("protocols_api:unlock", args=[reference])),
    ]
    for method, url in api:
        response = getattr(client, method)(url, search_data, content_type="application/json")
        assert response.status_code == 403, (method, url)
    assert not AuditEntry.objects.reads().filter(actor=analyst).exists()

    # Practitioners keep them.
    client.force_login(practitioner)
    for method, url in pages[:4] + pages[5:]:
        response = getattr(client, method)(url, search_data if method == "post" else None)
        assert response.status_code == 200, (method, url)


def test_analysts_keep_dashboards_drilldowns_and_exports_without_links_they_cannot_use(
    client, world, member
):
    analyst = member(Role.ANALYST)
    texts = [item["text"] for item in nav_for(Role.ANALYST, "/", user=analyst)]
    assert "Find a person" not in texts
    assert {"Dashboard", "De-identified export"} <= set(texts)
    assert "Find a person" in [i["text"] for i in nav_for(Role.PRACTITIONER, "/")]
    client.force_login(analyst)
    for name in ("insights:dashboard", "insights:export", "analyst_home"):
        assert client.get(reverse(name)).status_code == 200, name


def test_the_drilldown_lists_references_without_links_to_summaries(client, world, member):
    from insights.models import InsightSnapshot
    from risk.models import RiskRun
    from risk.services import enrich_run

    linked, _, ig = world
    analyst = member(Role.ANALYST)
    version = protocol_in_force(
        author=ig,
        parties=[linked.csc.agency, linked.police.agency],
        purpose=Purpose.COMMISSIONING,
        roles=(Role.ANALYST,),
        rules=[{"dataset": linked.police, "tier": Tier.KNOWN_TO}],
    )
    give(version, analyst)
    crowd(linked)  # no count drilled into is suppressed (those have no list)
    enrich_run(kind=RiskRun.Kind.NIGHTLY)
    figures = InsightSnapshot.objects.latest().figures
    bit = next(a["bit"] for a in figures["agencies"] if a["id"] == linked.police.agency_id)
    client.force_login(analyst)
    html = client.get(f"/insights/people/?cell=agency:{bit}").content.decode()
    assert linked.alice.reference in html and linked.bob.reference in html
    assert "/persons/" not in html


# --- Finding 11: a merged person's old reference asks the engine first ---------------------------


def _without_csrf(content: bytes) -> bytes:
    # The sign-out form's token is masked afresh on every page.
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", content)


def test_an_old_reference_of_an_unseen_person_answers_like_no_person(client, world, member):
    linked, practitioner, _ = world
    old = linked.carol.reference
    linked.carol.merged_into = linked.bob
    linked.carol.is_active = False
    linked.carol.save()
    # Someone holding no protocol, and so seeing neither.
    outsider = member(Role.PRACTITIONER)
    client.force_login(outsider)
    for name in ("protocols:summary", "protocols:summary_print"):
        merged = client.get(reverse(name, args=[old]))
        missing = client.get(reverse(name, args=["NOSUCHREF"]))
        assert merged.status_code == missing.status_code == 404
        assert _without_csrf(merged.content) == _without_csrf(missing.content)
        assert linked.bob.reference.encode() not in merged.content
    # Each refusal is on the record as a denied summary of the person it would have shown.
    denied = AuditEntry.objects.reads().filter(
        actor=outsider, outcome="not_found", person_reference=linked.bob.reference
    )
    assert denied.count() == 2
    # The reader who may see Bob is sent on to him.
    client.force_login(practitioner)
    response = client.get(reverse("protocols:summary", args=[old]))
    assert response.status_code == 302
    assert linked.bob.reference in response["Location"]


# --- Finding 16, first half: nothing countable about members not shared ---------------------------


def _household_section(client, reference) -> tuple[str, dict]:
    html = client.get(reverse("protocols:summary", args=[reference])).content.decode()
    section = re.search(r"<h2 [^>]*>Household</h2>.*?</ul>", html, re.S)
    api = client.get(reverse("protocols_api:summary", args=[reference])).json()
    return (section.group() if section else ""), api["household"]


def test_the_summary_says_nothing_countable_about_members_not_shared(
    client, world, member, agency, other_agency
):
    linked, _, ig = world
    # Social care records only: Alice (S1) is seen; Bob, her brother, has only police records.
    social_care_only = protocol_in_force(
        author=ig, parties=[agency, other_agency], rules=[{"dataset": linked.csc}]
    )
    reader = member(Role.PRACTITIONER)
    give(social_care_only, reader)
    client.force_login(reader)
    with_bob = _household_section(client, linked.alice.reference)
    assert with_bob[0], "the household section is shown"
    # Bob moves out; what the reader sees of Alice's household must not change.
    linked.bob.household = Household.objects.create()
    linked.bob.save()
    without_bob = _household_section(client, linked.alice.reference)
    assert with_bob == without_bob
    assert "members_not_shared" not in json.dumps(without_bob[1])
