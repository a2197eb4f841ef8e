"""Search results (issue 21, item 5): a band and never a weight, on the page and in the API; rows
whose name is not shared told apart by what is; and a list cut at MAX_RESULTS says so."""

import json
import re
from html import unescape

import pytest
from django.urls import reverse

from agencies.models import Role
from audit.models import AuditAction, AuditEntry
from matching.search import MAX_RESULTS
from protocols.models import Tier
from tests.protocol_helpers import give, linked_people, more_smiths, protocol_in_force

NAMES = ["identity:forename", "identity:surname", "identity:date_of_birth"]


@pytest.fixture
def world(agency, other_agency, member):
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    ig = member(Role.IG_OFFICER)
    named = member(Role.PRACTITIONER)
    version = protocol_in_force(
        author=ig,
        parties=[agency, other_agency],
        rules=[{"dataset": linked.csc}, {"dataset": linked.police}],
    )
    give(version, named)
    # Police records show their dates of birth and nothing else that identifies; social care's
    # are known to be there only.
    unnamed = member(Role.PRACTITIONER)
    no_names = protocol_in_force(
        author=ig,
        parties=[agency, other_agency],
        name="Dates of birth only",
        rules=[
            {"dataset": linked.csc, "tier": Tier.KNOWN_TO},
            {"dataset": linked.police, "tier": Tier.SUMMARY, "fields": ["identity:date_of_birth"]},
        ],
    )
    give(no_names, unnamed)
    return linked, named, unnamed


def _api(client, **data):
    response = client.post(reverse("protocols_api:search"), data, content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def _page(client, **data) -> str:
    response = client.post(reverse("protocols:search"), {"purpose": "safeguarding", **data})
    assert response.status_code == 200
    html = response.content.decode()
    start = html.index('id="results"')
    return html[start : html.index("</main>", start)]


def _rows(section: str) -> list[str]:
    return re.findall(r'<tr class="govuk-table__row">\s*<td.*?</tr>', section, re.S)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def _numbers(value) -> list:
    """Every number in a JSON document, however deep."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [value]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return []


def test_a_band_is_shown_and_never_a_weight(client, world):
    _, named, _ = world
    client.force_login(named)
    for query in (
        {"forename": "Alice", "surname": "Smith", "date_of_birth": "01/02/2015"},
        {"surname": "Smith"},
        {"postcode": "LS6 2AB"},
    ):
        body = _api(client, **query)
        assert body["results"], query
        assert {r["match"] for r in body["results"]} <= {"strong", "possible"}
        # The only number in the answer is the page size.
        assert _numbers(body) == [MAX_RESULTS], query
        assert not re.search(r"\d\.\d", json.dumps(body)), query
        section = _page(client, **query)
        bands = re.findall(r'data-testid="match-band"><strong[^>]*>([^<]*)</strong>', section)
        assert bands and set(bands) <= {"Strong match", "Possible match"}
        assert not re.search(r"\d\.\d", _text(section)), query


def test_rows_without_a_name_are_told_apart_by_what_is_shared(client, world):
    linked, _, unnamed = world
    client.force_login(unnamed)
    alice, bob = linked.alice.reference, linked.bob.reference
    # Each row leads with the person's reference, then says the name is not shared, and shows
    # the date of birth shown and the agencies that know them (Alice: both; Bob: the police).
    for reference, born, rest in (
        (alice, "01/02/2015", "1 February 2015 CSC (Test Children's Services) POL (Test Police)"),
        (bob, "03/04/2012", "3 April 2012 POL (Test Police)"),
    ):
        section = _page(client, surname="Smith", date_of_birth=born)
        (row,) = _rows(section)
        assert _text(row) == f"Person {reference} Name not shared with you {rest} Possible match"
        summary = reverse("protocols:summary", args=[reference])
        assert (
            f'<a class="govuk-link" href="{summary}?purpose=safeguarding">Person {reference}</a>'
            in row
        )
        assert "Alice" not in section and "Bob" not in section
    (result,) = _api(client, surname="Smith", date_of_birth="01/02/2015")["results"]
    assert (result["reference"], result["name"], result["known_to"]) == (
        alice,
        None,
        ["CSC", "POL"],
    )


def test_a_list_cut_at_the_limit_says_so_and_is_logged_as_shown(client, world):
    linked, named, _ = world
    more_smiths(linked, MAX_RESULTS + 1)
    client.force_login(named)

    section = _page(client, surname="Smith")
    assert f"More than {MAX_RESULTS} people found" in section
    notice = re.search(r'data-testid="results-capped">([^<]*)<', section)
    assert notice and notice.group(1) == (
        f"Showing the {MAX_RESULTS} closest matches: more people match. Add a date of birth or "
        "a postcode to bring the person you are looking for to the top."
    )
    assert len(_rows(section)) == MAX_RESULTS
    body = _api(client, surname="Smith")
    assert (len(body["results"]), body["capped"], body["limit"]) == (MAX_RESULTS, True, MAX_RESULTS)
    # The log keeps what was shown, as before: the references listed, never the terms.
    logged = AuditEntry.objects.reads().filter(action=AuditAction.SEARCH).order_by("pk")
    assert [len(entry.detail["results"]) for entry in logged] == [MAX_RESULTS, MAX_RESULTS]
    assert [entry.detail["query_kinds"] for entry in logged] == [["surname"], ["surname"]]

    # A date of birth brings the person looked for to the top; a list under the limit says
    # nothing of one.
    section = _page(client, surname="Smith", date_of_birth="01/02/2015")
    first = _text(_rows(section)[0])
    assert first.startswith("Alice Smith") and first.endswith("Strong match")
    section = _page(client, postcode="LS1 1AA")
    assert "1 person found" in section
    assert "results-capped" not in section and "More than" not in section
    assert _api(client, postcode="LS1 1AA")["capped"] is False
