"""The synthetic population generator: determinism, ground truth, agency subsets and noise.

Pure file generation, no database: each test reads the CSVs the service wrote, as a matcher would.
"""

import csv
import hashlib
import io
import json
import random
import unicodedata
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path

import pytest
from django.core.management import call_command

from sharehub_bridge.identifiers import nhs_number_is_valid, pnc_id_is_valid, upn_is_valid
from synthetic import notes
from synthetic.noise import NoiseRates
from synthetic.population import (
    PERIOD_START,
    REFERENCE_DATE,
    gendered_surname,
    population_build,
)
from synthetic.services import synthetic_population_write

DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%d/%m/%Y", "%Y-%m-%d", "%d-%b-%Y")
EVENT_DATE_COLUMNS = {
    "referrals": "referral_date",
    "incidents": "incident_date",
    "attendances": "attendance_date",
    "tenancies": "snapshot_date",
}


def parse_date(text: str) -> date | None:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date, no time
        except ValueError:
            continue
    return None


def age_on(dob: date, when: date) -> int:
    return when.year - dob.year - ((when.month, when.day) < (dob.month, dob.day))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def folded(text: str) -> str:
    text = text.replace("Ł", "L").replace("ł", "l")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()


class Output:
    """The files one run wrote, with the ground truth joined on."""

    def __init__(self, out_dir: Path) -> None:
        self.dir = out_dir
        self.manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
        self.datasets = {d["dataset"]: d for d in self.manifest["datasets"]}

    @cached_property
    def people(self) -> dict[str, dict[str, str]]:
        return {p["person_id"]: p for p in read_csv(self.dir / "ground_truth_people.csv")}

    @cached_property
    def truth(self) -> list[dict[str, str]]:
        return read_csv(self.dir / "ground_truth.csv")

    @cached_property
    def _rows(self) -> dict[str, list[dict[str, str]]]:
        return {name: read_csv(self.dir / d["file"]) for name, d in self.datasets.items()}

    def rows(self, dataset: str) -> list[dict[str, str]]:
        return self._rows[dataset]

    @cached_property
    def _person_by_record(self) -> dict[tuple[str, str], str]:
        return {(t["dataset"], t["source_record_id"]): t["person_id"] for t in self.truth}

    def person(self, dataset: str, row: dict[str, str]) -> dict[str, str]:
        """The true person behind an extract row."""
        record_id = row[self.datasets[dataset]["id_column"]]
        return self.people[self._person_by_record[(dataset, record_id)]]

    def people_in(self, dataset: str) -> set[str]:
        return {t["person_id"] for t in self.truth if t["dataset"] == dataset}


def dob_of(person: dict[str, str]) -> date:
    return date.fromisoformat(person["dob"])


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Output:
    out = tmp_path_factory.mktemp("synthetic")
    synthetic_population_write(people=2000, seed=7, out_dir=out)
    return Output(out)


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Output:
    out = tmp_path_factory.mktemp("clean")
    synthetic_population_write(people=1500, seed=11, out_dir=out, rates=NoiseRates.none())
    return Output(out)


# --- determinism ----------------------------------------------------------------------------------


def test_same_seed_writes_identical_bytes(run, tmp_path):
    synthetic_population_write(people=2000, seed=7, out_dir=tmp_path)
    first = sorted(p.name for p in run.dir.iterdir())
    assert first == sorted(p.name for p in tmp_path.iterdir())
    assert len(first) == 8
    for name in first:
        assert (run.dir / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_another_seed_writes_different_files(run, tmp_path):
    synthetic_population_write(people=2000, seed=8, out_dir=tmp_path)
    for name in ("ground_truth_people.csv", "health_attendances.csv", "police_incidents.csv"):
        assert (run.dir / name).read_bytes() != (tmp_path / name).read_bytes(), name


# --- ground truth ---------------------------------------------------------------------------------


def test_every_record_has_exactly_one_ground_truth_row_and_back(run):
    truth_ids = Counter((t["dataset"], t["source_record_id"]) for t in run.truth)
    assert max(truth_ids.values()) == 1
    record_ids = []
    for name, spec in run.datasets.items():
        ids = [row[spec["id_column"]] for row in run.rows(name)]
        assert len(ids) == len(set(ids)) == spec["rows"] > 0, name
        record_ids += [(name, i) for i in ids]
    assert set(truth_ids) == set(record_ids)
    assert run.manifest["ground_truth"]["records_rows"] == len(run.truth)
    for t in run.truth:
        assert run.people[t["person_id"]]["household_id"] == t["household_id"]
        assert t["agency"] == run.datasets[t["dataset"]]["agency"]


def test_manifest_records_seed_size_and_file_hashes(run):
    assert run.manifest["seed"] == 7
    assert run.manifest["people"] == len(run.people) == 2000
    for name, digest in run.manifest["sha256"].items():
        assert hashlib.sha256((run.dir / name).read_bytes()).hexdigest() == digest


def test_true_identifiers_pass_their_checks_and_are_unique(run):
    people = list(run.people.values())
    assert all(nhs_number_is_valid(p["nhs_number"]) for p in people)
    assert len({p["nhs_number"] for p in people}) == len(people)
    upns = [p["upn"] for p in people if p["upn"]]
    pncs = [p["pnc_id"] for p in people if p["pnc_id"]]
    assert upns and pncs
    assert all(upn_is_valid(u) for u in upns)
    assert all(pnc_id_is_valid(p) for p in pncs)
    assert len(set(upns)) == len(upns)


# --- who each agency sees -------------------------------------------------------------------------


def test_education_holds_only_pupils_of_school_age_and_all_of_them(run):
    in_education = run.people_in("school_census")
    for row in run.rows("school_census"):
        assert 4 <= age_on(dob_of(run.person("school_census", row)), REFERENCE_DATE) <= 16
    pupils = {
        pid for pid, p in run.people.items() if 4 <= age_on(dob_of(p), date(2025, 8, 31)) <= 15
    }
    assert in_education == pupils


def test_health_sees_most_people(run):
    assert len(run.people_in("attendances")) >= 0.8 * len(run.people)


def test_police_see_a_minority_concentrated_in_risky_households(run):
    known = run.people_in("incidents")
    risky = {pid for pid, p in run.people.items() if p["household_risk_factors"]}
    others = set(run.people) - risky
    assert len(known) < 0.2 * len(run.people)
    risky_rate = len(known & risky) / len(risky)
    other_rate = len(known & others) / len(others)
    assert risky_rate > 4 * other_rate


def test_social_care_holds_children_of_risky_households_and_their_parents(run):
    rows = run.rows("referrals")
    roles = Counter(row["person_role"] for row in rows)
    assert roles["Child"] > 0.55 * len(rows)
    assert roles["Parent/carer"] > 0
    people = run.people_in("referrals")
    risky = sum(1 for pid in people if run.people[pid]["household_risk_factors"])
    assert risky > 0.8 * len(people)
    child_households = {
        run.person("referrals", row)["household_id"]
        for row in rows
        if row["person_role"] == "Child"
    }
    for row in rows:
        person = run.person("referrals", row)
        when = parse_date(row["referral_date"])
        if row["person_role"] == "Child":
            assert age_on(dob_of(person), when) < 18
        else:
            assert age_on(dob_of(person), when) >= 18
            assert person["household_id"] in child_households


def test_housing_holds_adult_tenants_and_some_household_members(run):
    relationships = Counter()
    for row in run.rows("tenancies"):
        relationships[row["relationship"]] += 1
        if row["relationship"] in ("Tenant", "Joint tenant"):
            when = parse_date(row["snapshot_date"])
            assert age_on(dob_of(run.person("tenancies", row)), when) >= 18
    assert relationships["Tenant"] > relationships["Household member"] > 0


def test_risky_households_are_known_to_more_agencies(run):
    agencies_by_person = defaultdict(set)
    for t in run.truth:
        agencies_by_person[t["person_id"]].add(t["agency"])

    def mean_agencies(risky: bool) -> float:
        counts = [
            len(agencies_by_person[pid])
            for pid, p in run.people.items()
            if bool(p["household_risk_factors"]) == risky
        ]
        return sum(counts) / len(counts)

    assert mean_agencies(True) > 1.5 * mean_agencies(False)


def test_event_dates_fall_in_the_period_and_after_birth(run):
    for dataset, column in EVENT_DATE_COLUMNS.items():
        for row in run.rows(dataset):
            when = parse_date(row[column])
            assert when is not None, (dataset, row[column])
            assert PERIOD_START <= when <= REFERENCE_DATE
            assert when >= dob_of(run.person(dataset, row))


def test_people_appear_in_roles_that_fit_their_age_at_the_time(run):
    for row in run.rows("incidents"):
        age = age_on(dob_of(run.person("incidents", row)), parse_date(row["incident_date"]))
        if row["role"] in ("Child present", "Subject", "Missing person"):
            assert age < 18, row["role"]
        elif row["incident_type"] == "Domestic abuse":
            assert age >= 16, row["role"]
    for row in run.rows("attendances"):
        if row["reason"] in ("Delivery", "Antenatal booking"):
            person = run.person("attendances", row)
            assert person["sex"] == "F"
            assert 15 <= age_on(dob_of(person), parse_date(row["attendance_date"])) <= 46


# --- the population -------------------------------------------------------------------------------


def test_households_hold_parents_and_children_born_to_them(run):
    by_household = defaultdict(list)
    for p in run.people.values():
        by_household[p["household_id"]].append(p)
    mixed = sum(
        1
        for members in by_household.values()
        if any(age_on(dob_of(p), REFERENCE_DATE) >= 18 for p in members)
        and any(age_on(dob_of(p), REFERENCE_DATE) < 18 for p in members)
    )
    assert mixed > 0.15 * len(by_household)
    assert any(p["relation"] == "grandmother" for p in run.people.values())
    for p in run.people.values():
        for parent_id in (p["mother_id"], p["father_id"]):
            if parent_id:
                parent = run.people[parent_id]
                assert parent["household_id"] == p["household_id"]
                assert age_on(dob_of(parent), dob_of(p)) >= 16


@pytest.fixture(scope="module")
def large():
    return population_build(people=20_000, rng=random.Random("large"))


def test_a_larger_population_has_twins(large):
    births = defaultdict(list)
    for p in large.people:
        if p.mother is not None or p.father is not None:
            births[(p.household.index, p.dob)].append(p)
    twins = [kids for kids in births.values() if len(kids) == 2]
    assert 40 <= len(twins) <= 200
    # Same surname, give or take Polish grammar: a twin brother Jankowski, his sister Jankowska.
    assert all(
        a.forename != b.forename
        and gendered_surname(a.surname, "F") == gendered_surname(b.surname, "F")
        for a, b in twins
    )
    assert any(a.sex != b.sex for a, b in twins)
    assert any(a.sex == b.sex for a, b in twins)


def test_a_larger_population_has_namesakes_name_changes_and_moves(large):
    namesakes = [p for p in large.people if p.father and p.father.forename == p.forename]
    assert len(namesakes) >= 10
    married = [p for p in large.people if p.sex == "F" and len(p.surnames) > 1 and p.age >= 18]
    stepchildren = [p for p in large.people if p.relation == "stepchild" and len(p.surnames) > 1]
    assert married and stepchildren
    for p in married + stepchildren:
        changed_on, new = p.surnames[-1]
        assert PERIOD_START <= changed_on <= REFERENCE_DATE
        assert p.surname_at(changed_on) == new != p.surname_at(changed_on - timedelta(days=1))
    movers = [h for h in large.households if h.moved_on is not None]
    assert 0.05 < len(movers) / len(large.households) < 0.25
    assert any(p.group == "south_asian" and p.middle_name for p in large.people)
    assert any("-" in p.surname for p in large.people)
    assert any("'" in p.surname for p in large.people)


# --- noise ----------------------------------------------------------------------------------------


def test_clean_run_carries_the_truth(clean):
    for dataset in ("referrals", "incidents", "attendances", "school_census", "tenancies"):
        for row in clean.rows(dataset):
            person = clean.person(dataset, row)
            assert parse_date(row["dob"]) == dob_of(person), dataset
            assert row["forename"] == person["forename"] or dataset in ("incidents", "tenancies")
            assert folded(row["forename"]) == folded(person["forename"])
            surnames = {folded(person["surname"]), folded(person["previous_surname"])}
            assert folded(row["surname"]) in surnames, dataset
    for row in clean.rows("attendances"):
        assert row["nhs_number"] == clean.person("attendances", row)["nhs_number"]
    for row in clean.rows("school_census"):
        assert row["upn"] == clean.person("school_census", row)["upn"]
    local_ids = defaultdict(set)
    for row in clean.rows("referrals"):
        local_ids[clean.person("referrals", row)["person_id"]].add(row["person_id"])
    assert all(len(ids) == 1 for ids in local_ids.values())


def test_older_records_carry_the_old_address_and_surname(clean):
    before_move = after_move = old_surname = 0
    for row in clean.rows("attendances"):
        person = clean.person("attendances", row)
        when = parse_date(row["attendance_date"])
        if person["moved_on"]:
            if when >= date.fromisoformat(person["moved_on"]):
                assert row["postcode"] == person["postcode"]
                after_move += 1
            elif person["previous_postcode"] != person["postcode"]:
                assert row["postcode"] != person["postcode"]
                before_move += 1
        if person["surname_changed_on"]:
            changed = date.fromisoformat(person["surname_changed_on"])
            expected = person["surname"] if when >= changed else person["previous_surname"]
            assert row["surname"] == expected
            old_surname += when < changed
    assert before_move and after_move and old_surname


def test_noise_rates_are_roughly_as_configured(tmp_path):
    rates = replace(
        NoiseRates.none(),
        nhs_wrong=0.2,
        nhs_missing=0.1,
        postcode_format=0.4,
        dob_day_month_swap=0.3,
    )
    synthetic_population_write(people=2000, seed=5, out_dir=tmp_path, rates=rates)
    out = Output(tmp_path)
    rows = out.rows("attendances")
    present = [row["nhs_number"] for row in rows if row["nhs_number"]]
    assert 0.06 < 1 - len(present) / len(rows) < 0.14
    # A relative's valid number stands in for about one wrong number in twenty; the rest are
    # keying slips that the modulus 11 check catches.
    invalid = sum(not nhs_number_is_valid(n) for n in present) / len(present)
    assert 0.14 < invalid < 0.24
    unspaced = sum(1 for row in rows if row["postcode"] and " " not in row["postcode"])
    assert 0.24 < unspaced / len(rows) < 0.36  # 0.4 x the 75% of reformats that drop the space
    swappable = swapped = 0
    for row in rows:
        dob = dob_of(out.person("attendances", row))
        if dob.day <= 12 and dob.day != dob.month:
            swappable += 1
            swapped += parse_date(row["dob"]) == date(dob.year, dob.day, dob.month)
    assert 0.22 < swapped / swappable < 0.38


def test_default_noise_leaves_most_identifiers_right_but_not_all(run):
    rows = run.rows("attendances")
    exact = sum(
        1
        for row in rows
        if row["nhs_number"] == run.person("attendances", row)["nhs_number"]
        and parse_date(row["dob"]) == dob_of(run.person("attendances", row))
    )
    assert 0.75 < exact / len(rows) < 0.97
    invalid = [r["nhs_number"] for r in rows if r["nhs_number"]]
    assert 0 < sum(not nhs_number_is_valid(n) for n in invalid) < 0.06 * len(invalid)


def test_duplicates_and_repeats_inside_one_agency(run):
    local_ids = defaultdict(set)
    for row in run.rows("referrals"):
        local_ids[run.person("referrals", row)["person_id"]].add(row["person_id"])
    assert any(len(ids) > 1 for ids in local_ids.values())
    identities = defaultdict(set)
    for row in run.rows("attendances"):
        key = (row["forename"], row["dob"], row["nhs_number"])
        identities[run.person("attendances", row)["person_id"]].add(key)
    assert sum(len(keys) > 1 for keys in identities.values()) > 0.05 * len(identities)
    incidents = Counter(run.person("incidents", row)["person_id"] for row in run.rows("incidents"))
    assert incidents.most_common(1)[0][1] >= 4


def test_extracts_differ_in_format_as_real_ones_do(run):
    def share(dataset, column, fmt):
        values = [row[column] for row in run.rows(dataset) if row[column]]
        ok = 0
        for v in values:
            try:
                datetime.strptime(v, fmt)  # noqa: DTZ007 - checking the format only
                ok += 1
            except ValueError:
                pass
        return ok / len(values)

    assert share("attendances", "dob", "%Y-%m-%d") > 0.95
    assert share("incidents", "dob", "%d/%m/%Y") > 0.95
    assert share("school_census", "dob", "%d-%b-%Y") > 0.95
    assert share("referrals", "dob", "%Y-%m-%d %H:%M:%S") > 0.95
    police = run.rows("incidents")
    assert 0.05 < sum(1 for r in police if not r["dob"]) / len(police) < 0.2
    assert all(r["surname"] == r["surname"].upper() for r in police)
    postcodes = [r["postcode"] for r in run.rows("attendances") if r["postcode"]]
    assert any(" " not in pc for pc in postcodes)
    assert any(pc.islower() for pc in postcodes)


def test_placeholders_and_copied_parent_dates_of_birth_appear(run):
    forenames = Counter(row["forename"] for row in run.rows("attendances"))
    assert forenames["Baby"] > 0
    copied = 0
    for dataset in ("referrals", "attendances", "school_census"):
        for row in run.rows(dataset):
            person = run.person(dataset, row)
            parents = [run.people[i] for i in (person["mother_id"], person["father_id"]) if i]
            dob = parse_date(row["dob"])
            copied += any(dob == dob_of(p) for p in parents)
    assert copied > 0


def test_notes_affirm_risks_in_risky_households_and_only_negate_elsewhere(run):
    affirming = [s for phrases in notes.AFFIRMING.values() for s in phrases]
    risky_affirmed = quiet_affirmed = quiet = 0
    for row in run.rows("referrals"):
        said = any(s in row["case_notes"] for s in affirming)
        if run.person("referrals", row)["household_risk_factors"]:
            risky_affirmed += said
        else:
            quiet += 1
            quiet_affirmed += said
    assert risky_affirmed > 0
    assert quiet > 0 and quiet_affirmed == 0
    summaries = " ".join(row["summary"] for row in run.rows("incidents"))
    assert "DASH completed" in summaries and "denies" in summaries.lower()


def test_command_writes_the_files_and_prints_a_summary(tmp_path):
    stdout = io.StringIO()
    call_command("make_synthetic", people=300, seed=3, out=tmp_path, stdout=stdout)
    report = stdout.getvalue()
    assert "300 people" in report and "health_attendances.csv" in report
    assert json.loads((tmp_path / "manifest.json").read_text())["people"] == 300
