"""Review of matching.linkage: each test here demonstrates a bug and fails until it is fixed.

Each docstring says what the correct behaviour is.
"""

import pytest

from agencies.models import SourceRecord
from matching.linkage.run import linkage_run
from matching.models import LinkageRecord, LinkageRun, Person, PersonEvent, ReviewItem
from tests.ingest_helpers import good_row, police_dataset, upload
from tests.test_linkage import ALICE, STRANGER, WITH_ADDRESS, rows_csv


def record_of(dataset, source_id: str) -> LinkageRecord:
    return LinkageRecord.objects.get(record__dataset=dataset, record__source_id=source_id)


def person_of(dataset, source_id: str) -> int | None:
    return record_of(dataset, source_id).person_id


def pk_of(dataset, source_id: str) -> int:
    return SourceRecord.objects.get(dataset=dataset, source_id=source_id).pk


def item_of(dataset_a, a: str, dataset_b, b: str) -> ReviewItem | None:
    first, second = sorted((pk_of(dataset_a, a), pk_of(dataset_b, b)))
    return ReviewItem.objects.filter(record_a_id=first, record_b_id=second).first()


@pytest.fixture
def police(agency):
    return police_dataset(agency, WITH_ADDRESS)


@pytest.fixture
def other(other_agency):
    return police_dataset(other_agency, WITH_ADDRESS)


@pytest.fixture
def third(agency):
    return police_dataset(agency, {**WITH_ADDRESS, "name": "Police - missing persons"})


# --- 2. Incremental region ------------------------------------------------------------------------


def _two_persons_kept_apart(police, other, third):
    """R (police) and Q (other) are rejected as one person; X (third), like both and sharing R's
    NHS number, joins R. Returns (dataset, source id) of the record X joined (the only one
    keeping X apart from the other) and of the other."""
    upload(police, rows_csv([good_row("R", **{**ALICE, "nhs_number": "9434765919"})]))
    upload(other, rows_csv([good_row("Q", **ALICE)]))
    first, second = sorted((pk_of(police, "R"), pk_of(other, "Q")))
    ReviewItem.objects.update_or_create(
        record_a_id=first, record_b_id=second,
        defaults={"score": 30, "probability": 1.0, "status": ReviewItem.Status.REJECTED},
    )  # fmt: skip
    linkage_run(full=True)
    upload(third, rows_csv([good_row("X", **{**ALICE, "nhs_number": "9434765919"})]))
    assert person_of(police, "R") != person_of(other, "Q")
    if person_of(third, "X") == person_of(police, "R"):
        return (police, "R"), (other, "Q")
    assert person_of(third, "X") == person_of(other, "Q")
    return (other, "Q"), (police, "R")


def test_retiring_the_record_that_kept_two_persons_apart_lets_them_link(police, other, third):
    """Correct: once the record X joined (the only record known to differ from the other one) is
    retired, X and the other record - identical, nothing keeping them apart - are one person
    after the incremental run, as a full run makes them. The region must include the near
    partners of every record of a person that lost a record, not only the focus records'."""
    (keeper_set, keeper), (apart_set, apart) = _two_persons_kept_apart(police, other, third)

    upload(keeper_set, rows_csv([good_row("S", **STRANGER)]), mode="full", filename="full.csv")
    assert SourceRecord.objects.get(dataset=keeper_set, source_id=keeper).is_retired

    incremental = person_of(third, "X") == person_of(apart_set, apart)
    linkage_run(full=True)
    assert person_of(third, "X") == person_of(apart_set, apart)  # what a full run decides
    assert incremental, "the incremental run left X and its identical partner apart"


def test_a_record_changing_identity_frees_its_old_persons_other_records(police, other, third):
    """R and Q differ clearly (other NHS numbers, dates of birth decades apart); X, with neither
    an NHS number nor a date of birth, matches both as well: it could be either, so it joins
    neither and a reviewer is asked. Q's identity is then corrected to someone else entirely.

    Correct: after that incremental run X and R are one person, as a full run makes them. (R
    must be in the region though it is a partner of X, not of the focus record Q.)
    """
    upload(police, rows_csv([good_row("R", **{**ALICE, "sex": "F", "nhs_number": "9434765919"})]))
    upload(
        other,
        rows_csv([good_row("Q", **{**ALICE, "sex": "F", "dob": "01/02/1975",
                                   "nhs_number": "9434765870"})]),
    )  # fmt: skip
    upload(third, rows_csv([good_row("X", **{**ALICE, "sex": "F", "dob": ""})]))
    assert person_of(third, "X") not in (person_of(other, "Q"), person_of(police, "R"))
    assert ReviewItem.objects.filter(
        status=ReviewItem.Status.OPEN, reason=ReviewItem.Reason.GUARD
    ).exists()

    upload(other, rows_csv([good_row("Q", **STRANGER)]), filename="fix.csv")
    assert person_of(other, "Q") != person_of(third, "X")

    incremental = person_of(third, "X") == person_of(police, "R")
    linkage_run(full=True)
    assert person_of(third, "X") == person_of(police, "R")  # what a full run decides
    assert incremental, "the incremental run left X apart from R"


# --- 3. Review items ------------------------------------------------------------------------------

A = {**ALICE, "sex": "F"}
# A's name, with no date of birth, another sex and living elsewhere: as likely one person as not,
# a review item (score).
B = {**ALICE, "sex": "M", "dob": "", "postcode": "LS9 1UW", "address": "4 Windsor Road"}


def test_a_withdrawn_item_reopens_when_its_pair_is_uncertain_again(police, other):
    """An item withdrawn while its two records shared a person (through a record since
    retired) is asked again once a run finds the pair uncertain again, with today's reasons;
    bulk_create(ignore_conflicts=True) alone would leave it withdrawn for ever, and
    review_decide refuses withdrawn items."""
    upload(police, rows_csv([good_row("A", **A)]))
    upload(other, rows_csv([good_row("B", **B)]))
    item = item_of(police, "A", other, "B")
    assert item.status == ReviewItem.Status.OPEN
    ReviewItem.objects.filter(pk=item.pk).update(status=ReviewItem.Status.WITHDRAWN, score=-99)

    linkage_run(full=True)

    item.refresh_from_db()
    assert person_of(police, "A") != person_of(other, "B")
    assert item.status == ReviewItem.Status.OPEN
    assert item.score != -99


def test_an_open_item_is_withdrawn_when_its_pair_is_no_longer_a_candidate(police, other):
    """_review_store's docstring: open items are withdrawn when their records "are no longer a
    candidate pair". B's identity is corrected to someone else entirely.

    Correct: the A-B item is withdrawn (a reviewer should not be asked about two unrelated
    records). Today only items whose records share a person are withdrawn.
    """
    upload(police, rows_csv([good_row("A", **A)]))
    upload(other, rows_csv([good_row("B", **B)]))
    assert item_of(police, "A", other, "B").status == ReviewItem.Status.OPEN

    upload(other, rows_csv([good_row("B", **STRANGER)]), filename="fix.csv")
    linkage_run(full=True)

    assert item_of(police, "A", other, "B").status == ReviewItem.Status.WITHDRAWN


def test_an_open_item_on_a_retired_record_is_withdrawn(police, other):
    """Correct: when B is retired the A-B item is withdrawn (it can no longer be a link: B has
    no person). Today it stays open, and confirming it changes nothing."""
    upload(police, rows_csv([good_row("A", **A)]))
    upload(other, rows_csv([good_row("B", **B)]))
    assert item_of(police, "A", other, "B").status == ReviewItem.Status.OPEN

    upload(other, rows_csv([good_row("S", **STRANGER)]), mode="full", filename="full.csv")
    linkage_run(full=True)

    assert item_of(police, "A", other, "B").status == ReviewItem.Status.WITHDRAWN


# --- Link details ---------------------------------------------------------------------------------


def test_link_details_do_not_point_at_a_record_that_left_the_person(police, other):
    """P1 and O1 are one person; O1's link details say "linked with P1". P1 is retired.

    Correct: O1, now alone in its person, has link_rule "alone" and no linked_with / score, as a
    full run leaves it. Today O1 is not a focus record and its person id did not change, so it
    keeps pointing at the retired P1 with a 0.99+ link probability.
    """
    upload(police, rows_csv([good_row("P1", **ALICE), good_row("P2", **STRANGER)]))
    upload(other, rows_csv([good_row("O1", **ALICE)]))
    assert person_of(police, "P1") == person_of(other, "O1")
    assert record_of(other, "O1").linked_with_id == pk_of(police, "P1")

    upload(police, rows_csv([good_row("P2", **STRANGER)]), mode="full", filename="full.csv")

    o1 = record_of(other, "O1")
    assert o1.person_id is not None
    assert (o1.link_rule, o1.linked_with_id, o1.link_score) == ("alone", None, None)


def test_a_record_that_gains_a_partner_gets_link_details(police, other):
    """P1 is linked alone; O1 then joins its person with a near-certain link.

    Correct: both records say how they are linked (P1: linked with O1, its score), as a full run
    gives them. Today P1 keeps "alone" because its person id did not change.
    """
    upload(police, rows_csv([good_row("P1", **ALICE)]))
    upload(other, rows_csv([good_row("O1", **ALICE)]))
    assert person_of(police, "P1") == person_of(other, "O1")

    p1 = record_of(police, "P1")
    assert p1.link_rule != "alone" and p1.linked_with_id == pk_of(other, "O1")


# --- 4. Households --------------------------------------------------------------------------------


def test_a_merged_away_person_leaves_its_household(police, other):
    """Two persons at one dwelling share a household; a reviewer confirms they are one person.

    Correct: the merged-away (inactive) person is no longer a member of any household (as a
    person emptied by retirement is not). Today _households_refresh only looks at active persons,
    so the merged-away one keeps its household for ever (Household.members, person_explain).
    """
    upload(police, rows_csv([good_row("P1", **ALICE)]))
    unlike = {**ALICE, "forename": "Elsie", "surname": "Brown", "dob": "02/01/2015"}
    upload(other, rows_csv([good_row("O1", **unlike)]))
    older, newer = person_of(police, "P1"), person_of(other, "O1")
    assert older != newer
    household = Person.objects.get(pk=older).household_id
    assert household and Person.objects.get(pk=newer).household_id == household
    first, second = sorted((pk_of(police, "P1"), pk_of(other, "O1")))
    item, _ = ReviewItem.objects.update_or_create(
        record_a_id=first, record_b_id=second,
        defaults={"score": 0, "probability": 0.5, "status": ReviewItem.Status.CONFIRMED},
    )  # fmt: skip

    linkage_run(kind=LinkageRun.Kind.DECISION, review_item_id=item.pk)

    merged = Person.objects.get(pk=newer)
    assert not merged.is_active and merged.merged_into_id == older
    assert merged.household_id is None


# --- 1. Person events -----------------------------------------------------------------------------


def test_a_part_merged_into_an_older_person_is_not_also_a_split_from(police, other):
    """Q (older person) = {Jacob}; P = {P1 (P's oldest), P2}, both Alice. P1 is corrected to
    Jacob: P's id goes with P1 into Q's cluster, where the older Q keeps it (P merged into Q)
    and P2 goes to a new person.

    Correct: Q gets one event for taking in P (merged, other=P); the split_from P event belongs
    only to the part that got a new id (P2's). Today Q also gets "split_from P", because the
    split loop compares cluster_person[label] with P instead of skipping P's holder label.
    """
    upload(other, rows_csv([good_row("Q1", **STRANGER)]))
    upload(police, rows_csv([good_row("P1", **ALICE), good_row("P2", **ALICE)]))
    q, p = person_of(other, "Q1"), person_of(police, "P1")
    assert q < p and person_of(police, "P2") == p

    upload(police, rows_csv([good_row("P1", **STRANGER)]), filename="fix.csv")

    assert person_of(police, "P1") == q
    split_off = person_of(police, "P2")
    assert split_off not in (p, q)
    assert PersonEvent.objects.filter(person_id=q, kind="merged", other_id=p).exists()
    assert PersonEvent.objects.filter(person_id=split_off, kind="split_from", other_id=p).exists()
    assert not PersonEvent.objects.filter(person_id=q, kind="split_from", other_id=p).exists()


# --- A reviewer's "same person" and the family guard ----------------------------------------------


def test_a_same_person_decision_keeps_each_sides_duplicates_with_it(police, other):
    """A "same person" on two records a family guard keeps apart (another forename and date of
    birth, one home: what a practitioner reports as a missed link) joins them, and each side's
    own duplicates come too, rather than being split off by the guard between them and the
    other side (issue 21: the person lost their other agency's record)."""
    mia = {**ALICE, "forename": "Mia", "surname": "Turner", "dob": "05/05/2010"}
    upload(police, rows_csv([good_row("M1", **mia)]))
    upload(other, rows_csv([good_row("O1", **mia)]))
    upload(police, rows_csv([good_row("M2", **{**mia, "forename": "Mya", "dob": "15/05/2011"})]))
    linkage_run(full=True)
    assert person_of(police, "M1") == person_of(other, "O1") != person_of(police, "M2")

    first, second = sorted((pk_of(police, "M1"), pk_of(police, "M2")))
    ReviewItem.objects.update_or_create(
        record_a_id=first, record_b_id=second,
        defaults={"score": 1, "probability": 0.6, "status": ReviewItem.Status.CONFIRMED},
    )  # fmt: skip
    linkage_run(full=True)
    assert person_of(police, "M1") == person_of(police, "M2") == person_of(other, "O1")
    # A later duplicate of the other side's record joins them too.
    upload(other, rows_csv([good_row("O2", **{**mia, "forename": "Mya", "dob": "15/05/2011"})]))
    linkage_run(full=True)
    assert person_of(other, "O2") == person_of(police, "M2")
