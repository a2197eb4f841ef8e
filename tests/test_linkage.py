"""Linkage end to end: extracts in, persons out, with stable ids, decisions and key rotation."""

import base64
import os

import numpy as np
import pytest
from django.core.management import call_command

from agencies.models import SourceRecord
from core import keys
from matching import scoring
from matching.candidates import candidate_pairs
from matching.linkage.run import linkage_run
from matching.models import LinkageRecord, LinkageRun, Person, PersonEvent, ReviewItem, SearchKey
from matching.pseudonymise import identity_open
from matching.tokens import RECORD_DTYPE, record_keys, search_rows
from tests.ingest_helpers import POLICE_DEFINITION, csv_bytes, good_row, police_dataset, upload

WITH_ADDRESS = {
    **POLICE_DEFINITION,
    "columns": [
        *POLICE_DEFINITION["columns"],
        {"column": "address", "identifier": "address"},
        {"column": "sex", "identifier": "gender"},
    ],
}
HEADER = [c["column"] for c in WITH_ADDRESS["columns"]]


def rows_csv(rows: list[dict]) -> bytes:
    return csv_bytes([{"address": "", "sex": "", **row} for row in rows], header=HEADER)


def person_of(dataset, source_id: str) -> int | None:
    return LinkageRecord.objects.get(record__dataset=dataset, record__source_id=source_id).person_id


@pytest.fixture
def police(agency):
    return police_dataset(agency, WITH_ADDRESS)


@pytest.fixture
def other(other_agency):
    return police_dataset(other_agency, WITH_ADDRESS)


ALICE = {"forename": "Alice", "surname": "Smith", "dob": "01/02/2015", "postcode": "LS6 2AB",
         "address": "12 Mount Way, Leeds", "nhs_number": ""}  # fmt: skip
# Her twin: same surname, date of birth and home; another forename and sex.
TOM = {**ALICE, "forename": "Thomas", "sex": "M"}
STRANGER = {"forename": "Jacob", "surname": "Okafor", "dob": "09/11/1982", "postcode": "LS9 1UW",
            "address": "4 Windsor Road, Leeds", "nhs_number": ""}  # fmt: skip


def test_an_extract_is_linked_as_soon_as_it_is_loaded(police, other):
    upload(police, rows_csv([good_row("P1", **ALICE), good_row("P2", **STRANGER)]))
    upload(other, rows_csv([good_row("O1", **{**ALICE, "forename": "Alise"})]))  # a typo

    assert person_of(police, "P1") == person_of(other, "O1")
    assert person_of(police, "P2") != person_of(police, "P1")
    runs = LinkageRun.objects.order_by("pk")
    assert [run.status for run in runs] == [LinkageRun.Status.DONE] * 2
    record = LinkageRecord.objects.get(record__source_id="O1")
    assert record.link_score > 0.99 and record.linked_with.source_id == "P1"


def test_twins_are_not_one_person(police, other):
    upload(police, rows_csv([good_row("P1", **{**ALICE, "sex": "F"}), good_row("P2", **TOM)]))
    upload(other, rows_csv([good_row("O1", **{**ALICE, "sex": "F"})]))

    assert person_of(police, "P1") == person_of(other, "O1")
    assert person_of(police, "P2") != person_of(police, "P1")


def test_an_incremental_run_touches_only_the_persons_its_records_may_belong_to(police, other):
    strangers = [
        good_row(f"S{n}", **{**STRANGER, "forename": name, "dob": f"0{n}/03/19{70 + n}"})
        for n, name in enumerate(["Jacob", "Maria", "Wen", "Aisha", "Pavel"], start=1)
    ]
    upload(police, rows_csv([good_row("P1", **ALICE), *strangers]))
    upload(other, rows_csv([good_row("O1", **ALICE)]))
    alice = person_of(police, "P1")
    assert person_of(other, "O1") == alice

    # A further extract of a dataset the model knows (no new estimate, no re-clustering of all).
    upload(other, rows_csv([good_row("O2", **ALICE)]), filename="more.csv")

    run = LinkageRun.objects.latest("pk")
    assert run.kind == LinkageRun.Kind.INCREMENTAL
    assert "model_estimated_because" not in run.figures
    assert run.figures["records"] == 8
    assert run.figures["region_records"] == 3  # Alice's three records, not the strangers
    assert person_of(other, "O2") == alice  # joined the person that was there, id kept


def test_a_merge_keeps_the_older_id_and_a_split_records_itself(police, other):
    # Two records too unlike to link: a reviewer says they are one person.
    upload(police, rows_csv([good_row("P1", **ALICE)]))
    unlike = {**ALICE, "forename": "Elsie", "surname": "Brown", "dob": "02/01/2015"}
    upload(other, rows_csv([good_row("O1", **unlike)]))
    older, newer = person_of(police, "P1"), person_of(other, "O1")
    assert older != newer and older < newer
    first, second = sorted(SourceRecord.objects.values_list("pk", flat=True))
    item, _ = ReviewItem.objects.update_or_create(
        record_a_id=first, record_b_id=second,
        defaults={"score": 0, "probability": 0.5, "status": ReviewItem.Status.CONFIRMED},
    )  # fmt: skip

    linkage_run(kind=LinkageRun.Kind.DECISION, review_item_id=item.pk)

    assert person_of(police, "P1") == person_of(other, "O1") == older
    assert PersonEvent.objects.filter(person_id=older, kind="merged", other_id=newer).exists()
    assert Person.objects.get(pk=newer).merged_into_id == older
    assert not Person.objects.get(pk=newer).is_active

    # Changing their mind splits them again: the part with the oldest record keeps the id.
    ReviewItem.objects.filter(pk=item.pk).update(status=ReviewItem.Status.REJECTED)
    linkage_run(kind=LinkageRun.Kind.DECISION, review_item_id=item.pk)

    assert person_of(police, "P1") == older
    split_off = person_of(other, "O1")
    assert split_off != older
    assert PersonEvent.objects.filter(person_id=older, kind="split").exists()
    assert PersonEvent.objects.filter(
        person_id=split_off, kind="split_from", other_id=older
    ).exists()


def test_review_decisions_survive_reruns_and_new_extracts(police, other):
    upload(police, rows_csv([good_row("P1", **ALICE)]))
    upload(other, rows_csv([good_row("O1", **ALICE)]))
    assert person_of(police, "P1") == person_of(other, "O1")
    first, second = sorted(SourceRecord.objects.values_list("pk", flat=True))
    ReviewItem.objects.update_or_create(
        record_a_id=first, record_b_id=second,
        defaults={"score": 30, "probability": 1.0, "status": ReviewItem.Status.REJECTED},
    )  # fmt: skip

    linkage_run(full=True)
    assert person_of(police, "P1") != person_of(other, "O1")

    # A third record like both cannot chain them together again.
    upload(police, rows_csv([good_row("P3", **ALICE)]), filename="more.csv")
    linkage_run(full=True)
    assert person_of(police, "P1") != person_of(other, "O1")


def test_a_retired_record_leaves_its_person(police):
    upload(police, rows_csv([good_row("P1", **ALICE), good_row("P2", **STRANGER)]))
    stranger = person_of(police, "P2")

    upload(police, rows_csv([good_row("P1", **ALICE)]), mode="full", filename="full.csv")

    record = LinkageRecord.objects.get(record__source_id="P2")
    assert record.record.is_retired and record.person_id is None
    assert not Person.objects.get(pk=stranger).is_active


def test_people_at_one_dwelling_form_a_household(police):
    mother = {**ALICE, "forename": "Grace", "dob": "14/07/1988", "sex": "F"}
    upload(
        police,
        rows_csv([
            good_row("P1", **ALICE),
            good_row("P2", **mother),
            good_row("P3", **STRANGER),
        ]),
    )  # fmt: skip
    persons = {ref: Person.objects.get(pk=person_of(police, ref)) for ref in ("P1", "P2", "P3")}
    assert persons["P1"].pk != persons["P2"].pk
    assert persons["P1"].household_id and persons["P1"].household_id == persons["P2"].household_id
    assert persons["P3"].household_id != persons["P1"].household_id
    household = persons["P1"].household_id

    # The stranger moves in: the household keeps its id and gains a member.
    moved = {**STRANGER, "address": ALICE["address"], "postcode": ALICE["postcode"]}
    upload(police, rows_csv([good_row("P3", **moved)]), filename="moved.csv")
    assert Person.objects.get(pk=person_of(police, "P3")).household_id == household


def test_linkage_key_rotation_recomputes_keys_and_keeps_persons(police, other, monkeypatch):
    upload(police, rows_csv([good_row("P1", **ALICE), good_row("P2", **STRANGER)]))
    upload(other, rows_csv([good_row("O1", **ALICE)]))
    before_persons = dict(LinkageRecord.objects.values_list("record_id", "person_id"))
    before_keys = dict(LinkageRecord.objects.values_list("record_id", "keys"))

    new_key = "2:" + base64.urlsafe_b64encode(b"n" * 32).decode()
    monkeypatch.setenv("SHAREHUB_LINKAGE_KEY", f"{new_key},{os.environ['SHAREHUB_LINKAGE_KEY']}")
    keys.linkage_keys.cache_clear()
    try:
        call_command("rotate_keys", "--linkage", stdout=open(os.devnull, "w"))  # noqa: SIM115
        rotated = LinkageRecord.objects.all()
        assert {r.key_version for r in rotated} == {2}
        assert all(bytes(r.keys) != bytes(before_keys[r.record_id]) for r in rotated)
        assert dict(rotated.values_list("record_id", "person_id")) == before_persons
        # Search's copies of the keyed values follow the keys they come from.
        searched = dict(SearchKey.objects.values_list("record_id", "surname"))
        assert searched == {
            r.record_id: search_rows([r.record_id], bytes(r.keys))[0][4] for r in rotated
        }
        for record in SourceRecord.objects.select_related("dataset"):
            identity = identity_open(
                agency_id=record.dataset.agency_id, dataset_id=record.dataset_id,
                source_id=record.source_id, blob=bytes(record.identity),
            )  # fmt: skip
            assert identity["surname"]
    finally:
        monkeypatch.undo()
        keys.linkage_keys.cache_clear()


FIELDS = ("forename", "surname", "date_of_birth", "postcode")


def test_candidate_pairs_come_once_each_and_respect_the_focus():
    people = [
        dict(zip(FIELDS, values, strict=True))
        for values in [
            ("Alice", "Smith", "2015-02-01", "LS6 2AB"),
            ("Alicia", "Smith", "2015-02-01", "LS6 2AB"),
            ("Alice", "Smyth", "2015-01-02", "LS6 2AB"),
            ("Jacob", "Okafor", "1982-11-09", "LS9 1UW"),
        ]
    ]
    packed = np.frombuffer(b"".join(record_keys(p) for p in people), dtype=RECORD_DTYPE)

    left, right = candidate_pairs(packed, None)
    pairs = list(zip(left.tolist(), right.tolist(), strict=True))
    assert len(pairs) == len(set(pairs))
    assert all(a < b for a, b in pairs)
    assert {(0, 1), (0, 2), (1, 2)} <= set(pairs)
    assert not any(3 in pair for pair in pairs)

    focus = np.array([False, False, True, False])
    left, right = candidate_pairs(packed, focus)
    assert set(zip(left.tolist(), right.tolist(), strict=True)) == {(0, 2), (1, 2)}


def test_level_patterns_round_trip_every_level():
    rng = np.random.default_rng(1)
    widths = [len(c.levels) for c in scoring.COMPARISONS]
    levels = np.stack([rng.integers(-1, w, 5_000) for w in widths], axis=1).astype(np.int8)
    patterns, counts = scoring.level_patterns(levels)
    assert counts.sum() == len(levels)
    expected = {tuple(row) for row in levels.tolist()}
    assert {tuple(row) for row in patterns.tolist()} == expected
