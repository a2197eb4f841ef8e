"""Case summaries, search and the access log, through the pages and the API."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, reverse
from django.utils import timezone

from agencies.models import Membership, Role
from audit.models import AuditAction, AuditEntry
from core.purpose import Purpose
from matching.models import LinkageRecord
from protocols.models import CaseUnlock, ConsentRule, Tier
from protocols.summary import case_summary
from tests.ingest_helpers import csv_bytes, good_row, upload
from tests.protocol_helpers import give, linked_people, protocol_in_force
from tests.test_page_access import site_patterns


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
            {
                "dataset": linked.police,
                "tier": Tier.SUMMARY,
                "fields": ["field:incident_date", "field:risk_grade", "identity:forename"],
            },
        ],
        name="MASH protocol",
    )
    give(version, practitioner)
    return linked, practitioner, version


def _page_keys(html: str) -> set[tuple[str, str]]:
    """(record id, field key) of every field the page shows."""
    keys = set()
    for block in re.findall(r'data-record="(\d+)"(.*?)(?=data-record=|\Z)', html, re.S):
        record_id, body = block
        keys |= {(record_id, key) for key in re.findall(r'data-field-key="([^"]+)"', body)}
    return keys


def test_page_and_api_disclose_the_same_fields(client, world):
    linked, practitioner, _ = world
    client.force_login(practitioner)
    page = client.get(reverse("protocols:summary", args=[linked.alice.reference]))
    assert page.status_code == 200
    api = client.get(reverse("protocols_api:summary", args=[linked.alice.reference])).json()
    api_keys = {(str(r["id"]), f["key"]) for r in api["records"] for f in r["fields"]}
    page_keys = _page_keys(page.content.decode())
    assert page_keys == api_keys
    assert len(api_keys) == 2 * 3 + 8  # two police records (3 fields), one social care (8)
    assert api["person"]["name"] == "Alice Smith"
    assert [m["reference"] for m in api["household"]["members"]] == [linked.bob.reference]
    assert "no-store" in page["Cache-Control"]
    api_response = client.get(reverse("protocols_api:summary", args=[linked.alice.reference]))
    assert api_response["Cache-Control"] == "no-store"


def test_summary_is_logged_with_versions_and_fields(client, world):
    linked, practitioner, version = world
    client.force_login(practitioner)
    client.get(reverse("protocols_api:summary", args=[linked.alice.reference]))
    entry = AuditEntry.objects.reads().get(action=AuditAction.SUMMARY)
    assert entry.actor == practitioner
    assert entry.person_reference == linked.alice.reference
    assert entry.protocol_versions == [version.pk]
    assert entry.purpose == Purpose.SAFEGUARDING
    police_record = str(linked.records["A1"].pk)
    fields = entry.detail["fields"]
    assert fields[police_record] == {
        "identity:forename": [version.pk],
        "field:incident_date": [version.pk],
        "field:risk_grade": [version.pk],
    }
    assert fields["known_to"] == sorted([linked.police.pk, linked.csc.pk])
    assert linked.bob.reference in fields["household"]
    assert entry.outcome == "ok" and entry.channel == "api"


def test_a_person_without_protocol_is_404_and_the_denial_logged(client, world, member):
    linked, _, _ = world
    outsider = member(Role.PRACTITIONER)
    client.force_login(outsider)
    for name in ("protocols:summary", "protocols:summary_print", "protocols_api:summary"):
        assert client.get(reverse(name, args=[linked.alice.reference])).status_code == 404
    assert AuditEntry.objects.reads().filter(actor=outsider, outcome="not_found").count() == 3


def _person_patterns() -> list[str]:
    return [
        name
        for name, pattern in site_patterns()
        if isinstance(pattern, URLPattern) and "persons/<str:reference>" in str(pattern.pattern)
    ]


# Person URLs that take more than the reference, and those that answer POST only.
PERSON_URL_EXTRA = {
    "consent:person_consent_withdraw": {"record_id": 1},
    "consent_api:consent_withdrawal": {"pk": 1},
    "matching:challenge_wrong": {"record": 1},
    "matching:challenge_missed": {"other": "NOSUCHPERSN"},
}
PERSON_URL_POST = {
    "protocols:unlock",
    "protocols_api:unlock",
    "consent:person_consent_withdraw",
    "consent_api:consent_withdrawal",
    "consent_api:person_request",
    "consent_api:person_override",
}


@pytest.mark.parametrize("name", _person_patterns())
def test_every_person_url_is_404_without_a_protocol_covering_that_person(
    client, world, member, name
):
    """The walk of every URL about one person: a user without a protocol, or with one covering
    other people only, gets 404, the same as for a reference that does not exist."""
    linked, practitioner, _ = world
    narrow_ig = member(Role.IG_OFFICER)
    narrow = protocol_in_force(
        author=narrow_ig,
        parties=[linked.csc.agency, linked.police.agency],
        rules=[{"dataset": linked.csc}],  # Carol's and Alice's social care records
    )
    police_only_user = member(Role.PRACTITIONER)
    give(narrow, police_only_user)
    nobody = member(Role.PRACTITIONER)
    method = "post" if name in PERSON_URL_POST else "get"

    def url(reference: str) -> str:
        return reverse(name, kwargs={"reference": reference, **PERSON_URL_EXTRA.get(name, {})})

    attempts = [
        (nobody, linked.alice.reference),
        (nobody, "NOSUCHPERSN"),
        (police_only_user, linked.bob.reference),  # Bob has police records only
        (practitioner, "NOSUCHPERSN"),
    ]
    for user, reference in attempts:
        client.force_login(user)
        response = getattr(client, method)(url(reference))
        assert response.status_code == 404, (name, user, reference)
    client.force_login(practitioner)
    allowed = getattr(client, method)(url(linked.alice.reference))
    if name.startswith(("protocols", "consent")) and name not in PERSON_URL_EXTRA:
        # Admitted: the page or API answers (an unlock without a step is told to choose one).
        assert allowed.status_code in (200, 302, 400)


def test_query_count_does_not_grow_with_records(world, django_assert_num_queries, other_agency):
    linked, practitioner, _ = world
    membership = Membership.objects.get(user=practitioner)

    def count(person) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert case_summary(
                user=practitioner,
                membership=membership,
                person=person,
                purpose=Purpose.SAFEGUARDING,
                channel="web",
            )
        return len(captured)

    small = count(linked.carol)
    before = count(linked.alice)
    rows = [good_row(f"X{n}", incident_date="2026-02-01") for n in range(40)]
    upload(linked.police, csv_bytes(rows))
    new_records = LinkageRecord.objects.filter(
        record__dataset=linked.police, record__source_id__startswith="X"
    )
    new_records.update(person=linked.alice)
    after = count(linked.alice)
    assert before == after
    assert small <= after  # Carol has no household members to look up
    with django_assert_num_queries(after):
        case_summary(
            user=practitioner,
            membership=membership,
            person=linked.alice,
            purpose=Purpose.SAFEGUARDING,
            channel="web",
        )


def test_staged_unlock_through_the_page(client, world, member):
    linked, _, _ = world
    ig = member(Role.IG_OFFICER)
    staged = protocol_in_force(
        author=ig,
        parties=[linked.csc.agency, linked.police.agency],
        rules=[{"dataset": linked.police}],
        staged=True,
    )
    worker = member(Role.PRACTITIONER)
    give(staged, worker)
    client.force_login(worker)
    url = reverse("protocols:summary", args=[linked.alice.reference])
    page = client.get(url).content.decode()
    assert 'data-reason="assessment"' in page and "data-field-key" not in page
    response = client.post(
        reverse("protocols:unlock", args=[linked.alice.reference]), {"step": "initial_assessment"}
    )
    assert response.status_code == 302
    assert CaseUnlock.objects.filter(user=worker, person=linked.alice).exists()
    assert AuditEntry.objects.reads().filter(actor=worker, action=AuditAction.UNLOCK).count() == 1
    assert 'data-field-key="field:summary"' in client.get(url).content.decode()


def test_unlock_needs_a_known_step(client, world):
    linked, practitioner, _ = world
    client.force_login(practitioner)
    response = client.post(
        reverse("protocols_api:unlock", args=[linked.alice.reference]), {"step": "whim"}
    )
    assert response.status_code == 400
    assert "assessment step" in response.json()["step"][0]


def test_consent_withheld_shown_with_reason_in_api(client, world, member):
    linked, _, _ = world
    ig = member(Role.IG_OFFICER)
    consented = protocol_in_force(
        author=ig,
        parties=[linked.csc.agency, linked.police.agency],
        rules=[{"dataset": linked.police, "consent": ConsentRule.NEEDED}],
    )
    worker = member(Role.PRACTITIONER)
    give(consented, worker)
    client.force_login(worker)
    data = client.get(reverse("protocols_api:summary", args=[linked.alice.reference])).json()
    assert data["records"] == []
    (withheld,) = data["withheld"]
    assert withheld["reason"] == "consent" and "Risk grade" in withheld["fields"]
    assert data["known_to"][0]["agency"] == "POL"


# --- Search -----------------------------------------------------------------------------------


def _search(client, **data):
    return client.post(reverse("protocols_api:search"), data, content_type="application/json")


def test_search_finds_fuzzy_matches_ranked(client, world):
    linked, practitioner, _ = world
    client.force_login(practitioner)
    # Misspelt surname, day and month swapped.
    results = _search(client, forename="Alice", surname="Smyth", date_of_birth="02/01/2015").json()
    references = [r["reference"] for r in results["results"]]
    assert references[0] == linked.alice.reference
    assert results["results"][0]["name"] == "Alice Smith"
    assert linked.carol.reference not in references


def test_search_by_identifier_and_postcode(client, world):
    linked, practitioner, version = world
    # The NHS number is on police records only: searched on once a protocol discloses it.
    police_in_full = protocol_in_force(
        author=version.author,
        parties=[linked.csc.agency, linked.police.agency],
        rules=[{"dataset": linked.police}],
    )
    client.force_login(practitioner)
    assert _search(client, identifier="943 476 5919").json()["results"] == []
    give(police_in_full, practitioner)
    by_nhs = _search(client, identifier="943 476 5919").json()["results"]
    assert by_nhs[0]["reference"] == linked.alice.reference
    by_postcode = _search(client, postcode="ls11aa").json()["results"]
    assert [r["reference"] for r in by_postcode] == [linked.carol.reference]


def test_search_shows_only_covered_people_and_names_only_when_disclosed(client, world, member):
    linked, _, _ = world
    ig = member(Role.IG_OFFICER)
    known_only = protocol_in_force(
        author=ig,
        parties=[linked.csc.agency, linked.police.agency],
        rules=[{"dataset": linked.police, "tier": Tier.KNOWN_TO}],
    )
    worker = member(Role.PRACTITIONER)
    give(known_only, worker)
    client.force_login(worker)
    # "Known to" shows no identifier, so there is nothing to match a search on (issue 20).
    assert _search(client, surname="Smith", date_of_birth="01/02/2015").json()["results"] == []
    dates_only = protocol_in_force(
        author=ig,
        parties=[linked.csc.agency, linked.police.agency],
        rules=[
            {"dataset": linked.police, "tier": Tier.SUMMARY, "fields": ["identity:date_of_birth"]}
        ],
    )
    give(dates_only, worker)
    results = _search(client, surname="Smith", date_of_birth="01/02/2015").json()["results"]
    # Alice on her date of birth; her brother Bob, same surname but not shown to the worker,
    # and another date of birth, is not listed.
    assert [r["reference"] for r in results] == [linked.alice.reference]
    assert all(r["name"] is None and r["known_to"] == ["POL"] for r in results)
    assert _search(client, surname="Brown").json()["results"] == []


def test_search_errors_say_what_to_fix_without_echoing_input(client, world):
    _, practitioner, _ = world
    client.force_login(practitioner)
    response = _search(client, identifier="1234567890", date_of_birth="31/02/2015")
    assert response.status_code == 400
    body = response.content.decode()
    assert "1234567890" not in body and "31/02" not in body
    assert "NHS number" in body and "date of birth" in body
    assert _search(client).status_code == 400


def test_search_is_logged_without_the_terms(client, world):
    linked, practitioner, _ = world
    client.force_login(practitioner)
    _search(client, surname="Smith", date_of_birth="01/02/2015")
    entry = AuditEntry.objects.reads().get(action=AuditAction.SEARCH)
    assert entry.detail["query_kinds"] == ["surname", "date_of_birth"]
    assert linked.alice.reference in entry.detail["results"]
    # Everything the entry holds but its hashes, hex digits that may spell "2015" by chance.
    stored = str({k: v for k, v in entry.__dict__.items() if not k.endswith("_hash")})
    assert "Smith" not in stored and "2015" not in stored.replace(str(entry.at.year), "")


def test_search_page_is_post_only_for_terms(client, world):
    linked, practitioner, _ = world
    client.force_login(practitioner)
    response = client.post(
        reverse("protocols:search"),
        {"surname": "Smith", "date_of_birth": "01/02/2015", "purpose": "safeguarding"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert linked.alice.reference in html and "Alice Smith" in html
    assert 'method="post"' in html


def test_merged_person_reference_redirects_on_the_page(client, world):
    linked, practitioner, _ = world
    linked.bob.merged_into = linked.alice
    linked.bob.is_active = False
    linked.bob.save()
    client.force_login(practitioner)
    response = client.get(reverse("protocols:summary", args=[linked.bob.reference]))
    assert response.status_code == 302
    assert linked.alice.reference in response["Location"]
    assert timezone.now()


def test_search_keys_follow_the_linkage_keys(world):
    """Every linked record has its search row, holding exactly the values of its keys; a new
    linkage key rewrites both (search after rotation finds what it found before)."""
    from matching.models import SearchKey
    from matching.tokens import search_rows

    def expected():
        return {
            row[0]: row
            for record in LinkageRecord.objects.all()
            for row in search_rows([record.record_id], bytes(record.keys))
        }

    stored = {row[0]: row for row in SearchKey.objects.values_list("record_id", *SEARCH_COLUMNS)}
    assert stored == expected() and len(stored) == 5
    assert all(v is None or v != 0 for row in stored.values() for v in row[1:])


SEARCH_COLUMNS = (
    "nhs", "upn", "pnc", "surname", "dob", "postcode", "block_sy", "block_fd", "block_dfi",
)  # fmt: skip
