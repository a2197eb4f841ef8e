"""The case summary as a practitioner reads it (issue 21, items 1 and 2): identity once with
its sources, one block per agency, a chronology of one line per event, labels as people write
them, withheld and unshared fields named, every date in one style, and how sure each link is."""

import re

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agencies.labels import label_made_from_column, readable_label
from agencies.models import Membership, Role
from core.purpose import Purpose
from matching import scoring
from matching.confidence import Band, _confidence, link_confidence, weakest
from matching.models import LinkageRecord, Person
from protocols.engine import disclose
from protocols.models import Tier
from protocols.summary_page import summary_page
from tests.ingest_helpers import csv_bytes, good_row, upload
from tests.protocol_helpers import audit_append_queries, give, linked_people, protocol_in_force


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
                "fields": [
                    "field:incident_date",
                    "field:risk_grade",
                    "identity:forename",
                    "identity:surname",
                ],
            },
        ],
        name="MASH protocol",
    )
    give(version, practitioner)
    return linked, practitioner, version


def _view(linked, practitioner, person=None):
    membership = Membership.objects.get(user=practitioner)
    person = person or linked.alice
    return disclose(
        user=practitioner,
        membership=membership,
        persons=[person],
        purpose=Purpose.SAFEGUARDING,
        now=timezone.now(),
    )[person.pk]


# --- Labels ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "label"),
    [
        ("cp_plan_start", "CP plan start"),
        ("gp_practice", "GP practice"),
        ("attendance_pct", "Attendance %"),
        ("nhs_number", "NHS number"),
        ("incidentDate", "Incident date"),
        ("child_dob", "Child date of birth"),
        ("MARAC_referral", "MARAC referral"),
        ("risk-grade", "Risk grade"),
        ("pct", "Pct"),  # a unit alone is not a label's end: kept as a word
    ],
)
def test_a_column_name_reads_as_practitioners_write_it(column, label):
    assert readable_label(column) == label


def test_a_label_the_admin_chose_is_kept_and_an_old_proposal_is_improved():
    assert label_made_from_column("Cp plan start", "cp_plan_start")
    assert label_made_from_column("", "cp_plan_start")
    assert label_made_from_column("cp_plan_start", "cp_plan_start")
    assert not label_made_from_column("Child protection plan started", "cp_plan_start")


def test_the_summary_uses_readable_labels_for_labels_no_one_chose(world):
    linked, practitioner, _ = world
    view = _view(linked, practitioner)
    labels = {f.key: f.label for r in view.records for f in r.fields}
    # The police test dataset is defined without labels; the social care one with its own.
    assert labels["field:risk_grade"] == "Risk grade"
    assert labels["field:cp_plan"] == "Child protection plan"


# --- Layout ---------------------------------------------------------------------------------------


def test_identity_is_said_once_with_the_agencies_recording_it(world, agency, other_agency):
    linked, practitioner, _ = world
    page = summary_page(_view(linked, practitioner))
    parts = {p.key: p for p in page.identity}
    assert parts["identity:forename"].value == "Alice"
    assert {a.code for a in parts["identity:forename"].agencies} == {agency.code, other_agency.code}
    # Only social care shares the date of birth: one source, the date in the summary's style.
    assert parts["identity:date_of_birth"].value == "1 February 2015"
    assert [a.code for a in parts["identity:date_of_birth"].agencies] == [agency.code]
    # No chronology line repeats an identifier.
    for line in page.chronology:
        assert "Alice" not in line.line and "Smith" not in line.line


def test_values_differing_only_in_case_are_one_value_in_mixed_case(world, other_agency):
    linked, practitioner, _ = world
    upload(linked.police, csv_bytes([good_row("A3", surname="SMITH", incident_date="2026-02-02")]))
    LinkageRecord.objects.filter(record__source_id="A3").update(person=linked.alice)
    parts = {p.key: p for p in summary_page(_view(linked, practitioner)).identity}
    assert parts["identity:surname"].value == "Smith"
    assert parts["identity:surname"].others == []


def test_the_chronology_is_newest_first_one_line_each_and_filters_by_agency(
    world, agency, other_agency
):
    linked, practitioner, _ = world
    view = _view(linked, practitioner)
    page = summary_page(view)
    dates = [line.record.event_date for line in page.chronology]
    assert dates == sorted(dates, reverse=True)
    assert [line.date_text for line in page.chronology] == [
        "1 March 2026",
        "10 January 2026",
        "1 May 2024",
    ]
    police_line = next(line for line in page.chronology if line.record.agency == other_agency)
    assert police_line.line.startswith("Risk grade: ")
    assert "Incident date" not in police_line.line  # the date the line starts with
    only_police = summary_page(view, agency_code=other_agency.code)
    assert {line.record.agency.code for line in only_police.chronology} == {other_agency.code}
    assert only_police.agency_chosen == other_agency.code
    # An agency code that is not among those shown is ignored, not an error.
    assert summary_page(view, agency_code="NOPE").agency_chosen == ""


def test_fields_not_shared_are_named_by_label(world, other_agency):
    linked, practitioner, _ = world
    page = summary_page(_view(linked, practitioner))
    police_line = next(line for line in page.chronology if line.record.agency == other_agency)
    assert police_line.not_shared == [
        "Date of birth",
        "Postcode",
        "NHS number",
        "Child present",
        "Summary",
    ]


def test_the_protocol_is_named_once_above_the_blocks_when_all_share_it(world):
    linked, practitioner, version = world
    page = summary_page(_view(linked, practitioner))
    assert len(page.agencies) == 2
    assert page.protocols_shared == [f"{version.name} (version {version.number})"]


def test_the_page_says_each_date_one_way(client, world):
    linked, practitioner, _ = world
    client.force_login(practitioner)
    html = client.get(reverse("protocols:summary", args=[linked.alice.reference])).content.decode()
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", html), "an ISO date on the page"
    assert "1 February 2015" in html and "10 January 2026" in html
    assert "Not shared under your protocols: Date of birth, Postcode, NHS number" in html


def test_print_and_pdf_follow_the_page_layout(client, world):
    linked, practitioner, _ = world
    client.force_login(practitioner)
    printed = client.get(
        reverse("protocols:summary_print", args=[linked.alice.reference])
    ).content.decode()
    for heading in ("Who this is", "Known to", "Chronology, newest first"):
        assert heading in printed
    assert "<details" not in printed  # on paper every field is written out
    pdf = client.get(reverse("protocols:summary_pdf", args=[linked.alice.reference]))
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == (
        f'attachment; filename="case-summary-{linked.alice.reference}.pdf"'
    )
    assert pdf.content.startswith(b"%PDF")
    assert "no-store" in pdf["Cache-Control"]


def test_the_pdf_of_someone_not_covered_is_404(client, world, member):
    linked, _, _ = world
    stranger = member(Role.PRACTITIONER)
    client.force_login(stranger)
    assert (
        client.get(reverse("protocols:summary_pdf", args=[linked.alice.reference])).status_code
        == 404
    )


# --- Link confidence ------------------------------------------------------------------------------


def _levels(**given) -> np.ndarray:
    row = np.full(len(scoring.COMPARISON_NAMES), scoring.MISSING, dtype=np.int8)
    for name, level in given.items():
        row[scoring.COMPARISON_NAMES.index(name)] = level
    return row


def test_an_identifier_or_a_reviewer_makes_a_link_certain():
    found = _confidence("nhs", 0.999, 5, None)
    assert (found.band, found.words) == (Band.CERTAIN, "Same NHS number")
    assert _confidence("review", 0.6, 5, None).band == Band.CERTAIN


def test_a_day_month_swap_is_probable_and_says_so():
    found = _confidence(
        "score",
        0.97,
        5,
        _levels(
            forename=scoring.FORENAME_SAME,
            surname=scoring.SURNAME_SAME,
            dob=scoring.DOB_SWAPPED,
            location=scoring.LOCATION_DWELLING,
        ),
    )
    assert found.band == Band.PROBABLE
    assert found.words == (
        "Probable match: name and address agree, date of birth differs by a day/month swap"
    )


def test_how_dates_of_birth_differ_is_said_only_to_a_reader_shown_both():
    swapped = _levels(
        forename=scoring.FORENAME_SAME,
        surname=scoring.SURNAME_SAME,
        dob=scoring.DOB_SWAPPED,
        location=scoring.LOCATION_DWELLING,
    )
    found = _confidence(
        "score",
        0.97,
        5,
        swapped,
        nameable=frozenset({"forename", "surname", "address", "postcode"}),
    )
    assert found.words == "Probable match: name and address agree"
    assert found.band == Band.PROBABLE  # the band from all the evidence, said or not


def test_a_reader_not_shown_the_partners_date_of_birth_is_not_told_how_it_differs(world):
    linked, _, _ = world
    # A police record of Alice with her day and month the other way round.
    upload(linked.police, csv_bytes([good_row("A9", dob="02/01/2015", incident_date="2026-02-02")]))
    s1 = linked.records["S1"]
    a9 = LinkageRecord.objects.get(record__source_id="A9").record
    LinkageRecord.objects.filter(record=s1).update(
        link_rule="score", link_score=0.97, linked_with=a9
    )
    both = frozenset({"forename", "surname", "date_of_birth"})
    shown_both = link_confidence([s1.pk], shown={s1.pk: both, a9.pk: both})[s1.pk]
    shown_one = link_confidence(
        [s1.pk], shown={s1.pk: both, a9.pk: frozenset({"forename", "surname"})}
    )[s1.pk]
    assert "date of birth differs by a day/month swap" in shown_both.words
    assert "date of birth" not in shown_one.words
    assert shown_one.band == shown_both.band == Band.PROBABLE


def test_name_and_date_of_birth_agreeing_with_a_high_probability_is_strong():
    found = _confidence(
        "name_dob",
        0.9995,
        5,
        _levels(forename=scoring.FORENAME_SAME, surname=scoring.SURNAME_SAME, dob=scoring.DOB_SAME),
    )
    assert found.band == Band.STRONG
    assert found.words == "Name and date of birth agree"


def test_a_detail_the_reader_is_not_shown_on_both_records_is_not_named():
    levels = _levels(
        forename=scoring.FORENAME_SAME,
        surname=scoring.SURNAME_SAME,
        dob=scoring.DOB_SAME,
        location=scoring.LOCATION_POSTCODE_OR_STREET,
    )
    # The police postcode is not shared: "postcode agrees" would give it away.
    names_only = frozenset({"forename", "surname", "date_of_birth"})
    found = _confidence("score", 0.9999, 5, levels, nameable=names_only)
    assert "postcode" not in found.words and "street" not in found.words
    assert found.words == "Name and date of birth agree"
    # An NHS number the reader sees on one record only: the band, not which identifier.
    hidden = _confidence("nhs", 0.9999, 5, None, nameable=frozenset({"forename"}))
    assert (hidden.band, hidden.words) == (Band.CERTAIN, "Linked on details not shared with you")
    # Nothing shown at all: the band alone.
    bare = _confidence("score", 0.9999, 5, levels, nameable=frozenset())
    assert (bare.band, bare.words) == (Band.STRONG, "Linked on details not shared with you")


def test_the_words_never_carry_a_weight_or_probability():
    found = _confidence("score", 0.97123, 5, _levels(surname=scoring.SURNAME_SAME))
    assert not re.search(r"\d", found.words)


def test_a_record_alone_is_no_link_and_never_the_weakest():
    alone = _confidence("alone", None, None, None)
    assert alone.band == ""
    strong = _confidence("name_dob", 0.9999, 5, None)
    assert weakest([alone, strong]) is strong
    assert weakest([alone]) is None


def test_link_confidence_compares_the_records_own_keys(world):
    linked, practitioner, _ = world
    s1, a1, a2 = (linked.records[k] for k in ("S1", "A1", "A2"))
    LinkageRecord.objects.filter(record=s1).update(
        link_rule="score", link_score=0.9999, linked_with=a1
    )
    LinkageRecord.objects.filter(record=a1).update(
        link_rule="nhs", link_score=0.9999, linked_with=a2
    )
    LinkageRecord.objects.filter(record=a2).update(
        link_rule="nhs", link_score=0.9999, linked_with=a1
    )
    with CaptureQueriesContext(connection) as captured:
        found = link_confidence([s1.pk, a1.pk, a2.pk])
    assert len(captured) == 1  # the partners are among the records asked about
    assert found[a1.pk].band == Band.CERTAIN
    # S1 and A1: same name, date of birth and postcode, in two agencies' own spellings.
    assert found[s1.pk].band == Band.STRONG
    assert found[s1.pk].words.startswith("Name, date of birth and")


def test_the_page_and_api_show_bands_and_the_weakest_link_never_a_score(client, world):
    linked, practitioner, _ = world
    s1, a1 = linked.records["S1"], linked.records["A1"]
    LinkageRecord.objects.filter(record=s1).update(
        link_rule="score", link_score=0.9712345, linked_with=a1
    )
    LinkageRecord.objects.filter(record=a1).update(
        link_rule="nhs", link_score=0.9999, linked_with=s1
    )
    client.force_login(practitioner)
    html = client.get(reverse("protocols:summary", args=[linked.alice.reference])).content.decode()
    api = client.get(reverse("protocols_api:summary", args=[linked.alice.reference])).json()
    assert "0.97" not in html and "0.97" not in str(api)
    assert 'data-testid="weakest-link"' in html
    assert api["weakest_link"]["band"] in (Band.STRONG, Band.PROBABLE)
    bands = {r["id"]: r["link"]["band"] for r in api["records"] if r["link"]}
    assert bands[a1.pk] == Band.CERTAIN


# --- Queries --------------------------------------------------------------------------------------


# One less since issue 24: the read is written to the audit trail only, not to a second table.
SUMMARY_PAGE_QUERIES = 27


def test_the_summary_page_costs_a_fixed_number_of_queries(client, world, django_assert_num_queries):
    """Pinned: a change that adds a query per record, per agency or per member fails here."""
    linked, practitioner, _ = world
    client.force_login(practitioner)
    url = reverse("protocols:summary", args=[linked.alice.reference])
    client.get(url)  # sessions, permissions and the like warm up as on any later page
    with django_assert_num_queries(SUMMARY_PAGE_QUERIES + audit_append_queries()):
        assert client.get(url).status_code == 200
    rows = [good_row(f"X{n}", incident_date="2026-02-01") for n in range(30)]
    upload(linked.police, csv_bytes(rows))
    # The upload's linkage run regroups households; the test keeps Alice's as it was, so
    # that only the number of records changes.
    Person.objects.filter(pk__in=[linked.alice.pk, linked.bob.pk]).update(
        household=linked.alice.household, is_active=True
    )
    LinkageRecord.objects.filter(record__source_id__startswith="X").update(
        person=linked.alice, linked_with=linked.records["A1"], link_rule="nhs"
    )
    with django_assert_num_queries(SUMMARY_PAGE_QUERIES + audit_append_queries()):
        assert client.get(url).status_code == 200


def test_the_agency_filter_reads_any_case_and_says_when_it_knows_no_such_agency(
    client, world, other_agency
):
    linked, practitioner, _ = world
    client.force_login(practitioner)
    url = reverse("protocols:summary", args=[linked.alice.reference])
    lower = client.get(url, {"agency": other_agency.code.lower()}).content.decode()
    assert f"Chronology, newest first, {other_agency.name} only" in lower
    assert f"agency={other_agency.code}" in lower  # the print and PDF links keep the filter
    unknown = client.get(url, {"agency": "NOPE"}).content.decode()
    assert 'data-testid="agency-unknown"' in unknown
    assert 'data-testid="agency-unknown"' not in client.get(url).content.decode()
