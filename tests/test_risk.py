"""Risk indicators: each rule kind, phrases with negation, decay and look-back, scores per person
and household, recomputation after an extract, and reasons shown only through the engine."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils.html import escape
from hypothesis import given, settings
from hypothesis import strategies as st

from agencies.models import Role
from matching.models import Person
from protocols.models import Tier
from risk.indicators import IndicatorError, IndicatorInput
from risk.models import HouseholdRisk, PersonRisk, RiskFinding, RiskRun
from risk.scoring import FindingTerm, contribution, trend_of
from risk.services import enrich_run, indicator_save, person_risk
from risk.vocabulary import NEGATION_BEFORE, Vocabulary, VocabularyError, phrases_clean
from tests.ingest_helpers import csv_bytes, good_row, police_dataset, upload
from tests.protocol_helpers import give, linked_people, protocol_in_force

TODAY = date(2026, 3, 1)


@pytest.fixture
def world(db, agency, other_agency, member):
    linked = linked_people(other_agency, agency)
    admin = member(Role.PLATFORM_ADMIN)
    return linked, admin


def _indicator(admin, datasets, **fields):
    base = {"name": "Indicator", "kind": "structured", "weight": 10, "half_life_days": None}
    base.update(fields)
    return indicator_save(data=IndicatorInput(datasets=datasets, **base), by=admin, rescore=False)


def _scores():
    return {r.person_id: r.score for r in PersonRisk.objects.all()}


# --- phrases and negation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, found",
    [
        ("No concerns about substance misuse.", None),
        ("Parental substance misuse is impacting on the children.", "substance misuse"),
        ("Father denies any drug use.", None),
        ("No evidence of drug use in the home.", None),
        ("Mother admits daily drug use.", "drug use"),
        ("No concerns about school, but substance misuse noted.", "substance misuse"),
        ("No concerns about school. Substance misuse noted.", "substance misuse"),
        ("Substance misuse was ruled out.", None),
        ("Substance misuse cannot be ruled out.", "substance misuse"),
        ("SUBSTANCE-MISUSE reported by the neighbour", "substance misuse"),
        ("Father is known to misuse alcohol.", "misus* alcohol"),
        ("Father misused alcohol last year.", "misus* alcohol"),
        ("Substances were found.", None),
        ("No history of substance misuse, no known drug use.", None),
    ],
)
def test_phrases_are_found_and_negation_is_read(text, found):
    vocabulary = Vocabulary(["substance misuse", "drug use", "misus* alcohol"])
    assert vocabulary.first_affirmed(text) == found


PHRASES = ["domestic abuse", "coercive control", "self harm"]
_words = st.sampled_from(["the", "mother", "said", "visit", "today", "school", "house", "and"])


@settings(max_examples=200, deadline=None)
@given(
    before=st.lists(_words, max_size=6),
    after=st.lists(_words, max_size=6),
    phrase=st.sampled_from(PHRASES),
    cue=st.sampled_from([c for c in NEGATION_BEFORE if c not in ("no longer",)]),
)
def test_a_negating_cue_just_before_a_phrase_always_negates_it(before, after, phrase, cue):
    vocabulary = Vocabulary(PHRASES)
    affirmed = " ".join([*before, phrase, *after]) + "."
    negated = " ".join([*before, cue, phrase, *after]) + "."
    assert vocabulary.first_affirmed(affirmed) == phrase
    assert vocabulary.first_affirmed(negated) is None
    # A new sentence ends the negation's reach.
    assert vocabulary.first_affirmed(f"{cue} concerns. {phrase} reported.") == phrase


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz .,;", max_size=200))
def test_text_without_any_phrase_never_matches(text):
    vocabulary = Vocabulary(["domestic abuse"])
    if "domestic abuse" not in " ".join(text.replace(",", " ").replace(";", " ").split()):
        assert vocabulary.first_affirmed(text) is None


def test_bad_phrases_say_what_to_fix():
    with pytest.raises(VocabularyError) as error:
        phrases_clean("ab*\n!!!\nmis*use")
    problems = " ".join(error.value.problems)
    assert "at least three letters" in problems
    assert "no letters" in problems
    assert '"*" can only end a word' in problems
    with pytest.raises(VocabularyError):
        phrases_clean("\n \n")


# --- rule kinds ----------------------------------------------------------------------------------


def test_a_structured_rule_counts_only_records_where_every_condition_holds(world):
    linked, admin = world
    _indicator(
        admin,
        [linked.police],
        name="High risk with a child present",
        conditions=[
            {"column": "risk_grade", "op": "is", "value": "high"},
            {"column": "child_present", "op": "yes"},
        ],
    )
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=TODAY)
    found = set(RiskFinding.objects.values_list("record__source_id", flat=True))
    # A1 and B1 are high risk with a child present; A2 is medium.
    assert found == {"A1", "B1"}
    assert all(
        f.field_keys == ["field:risk_grade", "field:child_present"]
        for f in RiskFinding.objects.all()
    )


@pytest.mark.parametrize(
    "conditions, expected",
    [
        ([{"column": "risk_grade", "op": "in", "value": "medium, standard"}], {"A2"}),
        ([{"column": "child_present", "op": "no"}], set()),
        ([{"column": "summary", "op": "present"}], {"A1", "A2", "B1"}),
        ([{"column": "summary", "op": "absent"}], set()),
        ([{"column": "risk_grade", "op": "absent"}], set()),
    ],
)
def test_each_test_of_a_condition(world, conditions, expected):
    linked, admin = world
    _indicator(admin, [linked.police], conditions=conditions)
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=TODAY)
    assert set(RiskFinding.objects.values_list("record__source_id", flat=True)) == expected


def test_numbers_are_compared_as_numbers(db, agency, member):
    from agencies.services import dataset_define
    from sharehub_bridge.definitions import definition_parse

    definition = {
        "name": "School census",
        "source_id_column": "ref",
        "columns": [
            {"column": "ref", "ignore": True},
            {"column": "forename", "identifier": "forename", "required": True},
            {"column": "surname", "identifier": "surname", "required": True},
            {"column": "exclusions", "type": "number", "label": "Exclusions"},
        ],
    }
    dataset = dataset_define(agency=agency, definition=definition_parse(definition)).dataset
    rows = [
        {"ref": "E1", "forename": "Ann", "surname": "Lee", "exclusions": "0"},
        {"ref": "E2", "forename": "Ben", "surname": "Ray", "exclusions": "2"},
        {"ref": "E3", "forename": "Cat", "surname": "Orr", "exclusions": "5"},
    ]
    upload(dataset, csv_bytes(rows, header=["ref", "forename", "surname", "exclusions"]))
    admin = member(Role.PLATFORM_ADMIN)
    _indicator(
        admin, [dataset], conditions=[{"column": "exclusions", "op": "at_least", "value": "2"}]
    )
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=TODAY)
    assert set(RiskFinding.objects.values_list("record__source_id", flat=True)) == {"E2", "E3"}


def test_a_vocabulary_reads_free_text_and_skips_negated_mentions(world):
    linked, admin = world
    from agencies.models import SourceRecord

    SourceRecord.objects.filter(source_id="A1").update(
        payload={"risk_grade": "high", "summary": "Children witnessed domestic abuse."}
    )
    SourceRecord.objects.filter(source_id="A2").update(
        payload={"risk_grade": "medium", "summary": "Mother denies domestic abuse."}
    )
    _indicator(
        admin, [linked.police], name="DA in notes", kind="vocabulary", phrases="domestic abuse"
    )
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=TODAY)
    findings = list(RiskFinding.objects.values_list("record__source_id", "phrase", "field_keys"))
    assert findings == [("A1", "domestic abuse", ["field:summary"])]


def test_the_indicator_form_names_each_dataset_with_its_agency(db, agency, member, client):
    dataset = police_dataset(agency)
    client.force_login(member(Role.PLATFORM_ADMIN))
    page = client.get(reverse("risk:indicator_new")).content.decode()
    assert escape(f"{agency.name}: {dataset.name}") in page


def test_indicator_input_errors_say_what_to_fix_and_save_nothing(world):
    linked, admin = world
    cases = [
        ({"conditions": [{"column": "nope", "op": "is", "value": "x"}]}, "every chosen dataset"),
        (
            {"conditions": [{"column": "risk_grade", "op": "at_least", "value": "3"}]},
            "can be tested with",
        ),
        (
            {"conditions": [{"column": "risk_grade", "op": "is", "value": "extreme"}]},
            "has no value extreme",
        ),
        ({"conditions": []}, "at least one condition"),
        (
            {"weight": 0, "conditions": [{"column": "summary", "op": "present"}]},
            "weight from 1 to 100",
        ),
        ({"kind": "vocabulary", "phrases": ""}, "at least one phrase"),
        ({"name": "", "conditions": [{"column": "summary", "op": "present"}]}, "Enter a name"),
    ]
    for fields, expected in cases:
        with pytest.raises(IndicatorError) as error:
            _indicator(admin, [linked.police], **fields)
        assert expected in str(error.value), fields
    from risk.models import RiskIndicator

    assert not RiskIndicator.objects.exists()


# --- scores --------------------------------------------------------------------------------------


def test_decay_halves_a_finding_each_half_life_and_look_back_ends_it():
    term = FindingTerm(weight=40, half_life_days=100, lookback_days=250, event_date=TODAY)
    assert contribution(term, TODAY) == 40
    assert contribution(term, TODAY + timedelta(days=100)) == pytest.approx(20)
    assert contribution(term, TODAY + timedelta(days=200)) == pytest.approx(10)
    assert contribution(term, TODAY + timedelta(days=251)) == 0
    assert contribution(term, TODAY - timedelta(days=1)) == 0  # before the event
    undated = FindingTerm(weight=5, half_life_days=None, lookback_days=None, event_date=None)
    assert contribution(undated, TODAY) == 5
    assert contribution(FindingTerm(5, None, 30, None), TODAY) == 0
    assert trend_of(2) == "rising" and trend_of(-2) == "falling" and trend_of(0.2) == "steady"


def test_scores_per_person_and_household_with_decay(world):
    linked, admin = world
    _indicator(
        admin,
        [linked.police],
        name="Any police incident",
        weight=20,
        half_life_days=365,
        conditions=[{"column": "incident_date", "op": "present"}],
    )
    run = enrich_run(kind=RiskRun.Kind.NIGHTLY, today=date(2026, 1, 10))
    scores = _scores()
    # Alice: A1 today (20) and A2 from 2024-05-01 (619 days: 20 x 0.5^(619/365)).
    assert scores[linked.alice.pk] == pytest.approx(20 + 20 * 0.5 ** (619 / 365), abs=0.01)
    # Bob's B1 is dated 2026-01-01, nine days before.
    assert scores[linked.bob.pk] == pytest.approx(20 * 0.5 ** (9 / 365), abs=0.01)
    assert linked.carol.pk not in scores
    household = HouseholdRisk.objects.get(household=linked.alice.household)
    assert household.score == pytest.approx(
        scores[linked.alice.pk] + scores[linked.bob.pk], abs=0.02
    )
    assert household.members_scored == 2
    assert run.figures["persons_scored"] == 2
    later = enrich_run(kind=RiskRun.Kind.NIGHTLY, today=date(2027, 1, 10))
    assert _scores()[linked.bob.pk] < scores[linked.bob.pk]
    assert later.status == RiskRun.Status.DONE


def test_running_twice_gives_the_same_rows(world):
    linked, admin = world
    _indicator(
        admin, [linked.police], conditions=[{"column": "risk_grade", "op": "is", "value": "high"}]
    )
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=TODAY)
    first = (sorted(RiskFinding.objects.values_list("indicator_id", "record_id")), _scores())
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=TODAY)
    assert (
        sorted(RiskFinding.objects.values_list("indicator_id", "record_id")),
        _scores(),
    ) == first


def test_an_extract_is_scored_after_linkage(world):
    """Upload -> ingest -> linkage -> enrichment, through the tasks (in-process here)."""
    linked, admin = world
    _indicator(
        admin, [linked.police], conditions=[{"column": "risk_grade", "op": "is", "value": "high"}]
    )
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=TODAY)
    before = RiskFinding.objects.count()
    extract = upload(linked.police, csv_bytes([good_row("A9", incident_date="2026-02-01")]))
    run = RiskRun.objects.filter(kind=RiskRun.Kind.EXTRACT, extract=extract).get()
    assert run.status == RiskRun.Status.DONE
    assert RiskFinding.objects.count() == before + 1
    assert RiskFinding.objects.filter(record__source_id="A9").exists()


def test_changing_an_indicator_finds_every_record_again(world, django_capture_on_commit_callbacks):
    linked, admin = world
    indicator = _indicator(
        admin, [linked.police], conditions=[{"column": "risk_grade", "op": "is", "value": "high"}]
    )
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=TODAY)
    assert RiskFinding.objects.count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        indicator_save(
            indicator=indicator,
            by=admin,
            data=IndicatorInput(
                name="Indicator",
                kind="structured",
                datasets=[linked.police],
                weight=10,
                conditions=[{"column": "risk_grade", "op": "is", "value": "medium"}],
            ),
        )
    indicator.refresh_from_db()
    assert indicator.revision == 2
    assert list(RiskFinding.objects.values_list("record__source_id", "revision")) == [("A2", 2)]


# --- what a reader sees --------------------------------------------------------------------------


def test_reasons_and_score_come_only_from_fields_the_engine_shows(world, agency, member):
    linked, admin = world
    _indicator(
        admin, [linked.police], name="High risk", weight=30,
        conditions=[{"column": "risk_grade", "op": "is", "value": "high"}],
    )  # fmt: skip
    _indicator(
        admin, [linked.csc], name="Abuse or neglect", weight=7,
        conditions=[{"column": "category_of_need", "op": "is", "value": "abuse or neglect"}],
    )  # fmt: skip
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=TODAY)
    practitioner = member(Role.PRACTITIONER)
    membership = practitioner.memberships.get()
    # Police detail is shown without the risk grade; social care in full.
    version = protocol_in_force(
        author=practitioner,
        parties=[agency, linked.police.agency],
        rules=[
            {"dataset": linked.police, "tier": Tier.SUMMARY, "fields": ["field:incident_date"]},
            {"dataset": linked.csc, "tier": Tier.FULL},
        ],
    )
    give(version, practitioner)
    page = person_risk(
        user=practitioner, membership=membership, person=linked.alice,
        purpose="safeguarding", channel="web",
    )  # fmt: skip
    assert [r.indicator for r in page.reasons] == ["Abuse or neglect"]
    assert page.score > 0 and page.score <= 7
    # Bob, of Alice's household, has only police records, whose risk grade is not shared.
    assert page.household_score == page.score and page.household_members_shown == 2
    # Nobody else sees anything, and a person not covered is not found.
    stranger = member(Role.PRACTITIONER)
    assert (
        person_risk(
            user=stranger,
            membership=stranger.memberships.get(),
            person=linked.alice,
            purpose="safeguarding",
            channel="web",
        )  # fmt: skip
        is None
    )
    from audit.models import AuditAction, AuditEntry

    logged = AuditEntry.objects.reads().filter(action=AuditAction.RISK).order_by("pk")
    assert [row.outcome for row in logged] == ["ok", "not_found"]
    assert set(logged[0].detail["fields"]["reasons"]) == {str(linked.records["S1"].pk)}


def test_the_risk_page_answers_404_to_anyone_not_covered(world, client, member):
    linked, _ = world
    practitioner = member(Role.PRACTITIONER)
    client.force_login(practitioner)
    assert client.get(f"/persons/{linked.alice.reference}/risk/").status_code == 404
    assert client.get("/persons/NOSUCHREF/risk/").status_code == 404
    assert Person.objects.filter(reference=linked.alice.reference).exists()


def test_the_household_score_adds_the_members_findings_the_reader_may_see(world, agency, member):
    linked, admin = world
    _indicator(
        admin, [linked.police], name="High risk", weight=30,
        conditions=[{"column": "risk_grade", "op": "is", "value": "high"}],
    )  # fmt: skip
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=TODAY)
    practitioner = member(Role.PRACTITIONER)
    version = protocol_in_force(
        author=practitioner,
        parties=[agency, linked.police.agency],
        rules=[{"dataset": linked.police, "tier": Tier.FULL}],
    )
    give(version, practitioner)
    page = person_risk(
        user=practitioner, membership=practitioner.memberships.get(), person=linked.alice,
        purpose="safeguarding", channel="web",
    )  # fmt: skip
    # Alice's A1 and her brother Bob's B1 are both high risk, with no decay.
    assert page.score == 30
    assert page.household_score == 60 and page.household_members_shown == 2
