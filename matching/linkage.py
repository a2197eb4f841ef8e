"""Linkage: records -> candidate pairs -> scores -> persons (stable ids) -> households.

One code path serves every run. A run has a focus: the records an extract added or changed (an
incremental run), or every record (a full run). Candidate pairs are the pairs that involve a
focus record and share a blocking token; the persons those pairs touch, with all their records,
form the region that is clustered again. Everything outside the region keeps its person as it
is, so a 10,000-record extract costs its own pairs, not a rerun over a million records.

The only inputs are the keyed values of matching.tokens (computed from the sealed identities by
keys_refresh); nothing in this module sees a name or a number.
"""

import io
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from agencies.models import Dataset, SourceRecord
from matching import scoring
from matching.candidates import candidate_pairs, pair_levels
from matching.model import content_hash, model_current, model_estimate, model_stale, pair_mix
from matching.models import (
    Household,
    LinkageModel,
    LinkageRecord,
    LinkageRun,
    Person,
    PersonEvent,
    RecordApart,
    ReviewItem,
    SearchKey,
)
from matching.pseudonymise import identity_open, record_keys_compute
from matching.tokens import (
    RECORD_DTYPE,
    SEARCH_FIELDS,
    Keys,
    keys_count,
    keys_from_packed,
    keys_take,
    search_rows,
)
from sharehub.keys import linkage_key_version
from sharehub.locks import advisory_lock

logger = logging.getLogger(__name__)

WHOLE_REGION_SHARE = 0.5
SECOND_PASS = True
KEYS_BATCH = 2_000

LINKAGE_LOCK_ID = 0x5348_4C4B  # "SHLK": one linkage run at a time on PostgreSQL


@dataclass
class Thresholds:
    upper: float  # probability at or above which a pair links automatically
    lower: float  # probability at or above which an unlinked pair goes to review
    guard: float  # match weight below which two records are clearly different people

    @classmethod
    def configured(cls) -> "Thresholds":
        return cls(
            upper=settings.SHAREHUB_LINKAGE_UPPER,
            lower=settings.SHAREHUB_LINKAGE_LOWER,
            guard=settings.SHAREHUB_LINKAGE_GUARD_WEIGHT,
        )


# The stages of a run in order, with how far through the run each starts (for progress bars).
STAGES = {
    "keys": 0,
    "load": 20,
    "model": 25,
    "region": 35,
    "candidates": 40,
    "scoring": 50,
    "clustering": 65,
    "persons": 75,
    "households": 92,
}


@dataclass
class Figures:
    """What a run did, per stage: counts and seconds, stored on the run and printed by benches."""

    values: dict = field(default_factory=dict)
    run_id: int | None = None

    def stage(self, name: str) -> None:
        """Say on the run which stage it is in, for the people watching its progress."""
        if self.run_id is not None:
            LinkageRun.objects.filter(pk=self.run_id).update(stage=name)

    def time(self, stage: str, started: float) -> float:
        now = time.perf_counter()
        self.values[f"{stage}_seconds"] = round(now - started, 3)
        return now

    def __setitem__(self, key: str, value) -> None:
        self.values[key] = value


# --- Keys -----------------------------------------------------------------------------------------


def keys_refresh(*, record_ids: list[int] | None = None) -> list[int]:
    """(Re)compute the packed keys of records whose keys are missing, stale or asked for.

    Stale means made under an older linkage key, or before an extract last rewrote the record.
    Opens each identity in memory only for as long as its keys take to compute. Returns the ids
    of the records keyed.
    """
    version = linkage_key_version()
    records = SourceRecord.objects.filter(is_retired=False)
    if record_ids is not None:
        records = records.filter(pk__in=record_ids)
    if record_ids is None:
        # Only those that need it: no keys, keys under an old linkage key, or a record an extract
        # rewrote after its keys were made.
        from django.db.models import F, Q
        from django.db.models.functions import Length

        records = records.annotate(keys_length=Length("linkage__keys")).filter(
            Q(linkage__isnull=True)
            | ~Q(linkage__key_version=version)
            | Q(updated_at__gt=F("linkage__keys_made_at"))
            # Keys packed in an older layout (a release added a field): made again.
            | ~Q(keys_length=RECORD_DTYPE.itemsize)
        )
    agency_of = dict(Dataset.objects.values_list("pk", "agency_id"))
    done: list[int] = []
    now = timezone.now()
    # (record id, agency id, dataset id, keys, key version, made at, link rule): rows, not
    # model instances, which cost more to build than the keys do to compute.
    batch: list[tuple] = []
    for record_id, dataset, source_id, blob in records.values_list(
        "pk", "dataset_id", "source_id", "identity"
    ).iterator(chunk_size=KEYS_BATCH):
        identifiers = identity_open(
            agency_id=agency_of[dataset], dataset_id=dataset, source_id=source_id, blob=bytes(blob)
        )
        batch.append(
            (
                record_id,
                agency_of[dataset],
                dataset,
                record_keys_compute(identifiers),
                version,
                now,
                "",
            )
        )
        del identifiers
        if len(batch) >= KEYS_BATCH:
            done += _keys_write(batch)
            batch = []
    if batch:
        done += _keys_write(batch)
    return done


def _keys_write(rows: list[tuple]) -> list[int]:
    """Insert or replace keys in one statement per batch (Django's bulk_create spends longer
    building the SQL for 2,000 rows than the database takes to run it)."""
    _upsert(
        LinkageRecord._meta.db_table,
        ("record_id", "agency_id", "dataset_id", "keys", "key_version", "keys_made_at"),
        rows,
        # A new row's link rule starts empty; a replaced one keeps its own.
        insert_only=("link_rule",),
    )
    _search_keys_write(rows)
    return [row[0] for row in rows]


def _search_keys_write(rows: list[tuple]) -> None:
    """The keyed values search looks records up by (matching.models.SearchKey), beside the keys
    they come from, so that only a change of keys writes their indexes."""
    found = search_rows([row[0] for row in rows], b"".join(row[3] for row in rows))
    _upsert(SearchKey._meta.db_table, ("record_id", *SEARCH_FIELDS), found)


def _upsert(
    table: str, columns: tuple[str, ...], rows: list[tuple], *, insert_only: tuple[str, ...] = ()
) -> None:
    """Insert `rows` or replace the rows with their record_id, in one statement; `columns` are
    replaced on conflict, the `insert_only` ones (whose values end each row) only inserted."""
    names = ", ".join(columns + insert_only)
    update = ", ".join(f"{name} = excluded.{name}" for name in columns if name != "record_id")
    sql = (
        f"INSERT INTO {table} ({names}) VALUES %s "  # noqa: S608 - names are ours
        f"ON CONFLICT (record_id) DO UPDATE SET {update}"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            from psycopg2.extras import execute_values

            execute_values(cursor.cursor, sql, rows, page_size=len(rows))
        else:
            placeholders = "(" + ", ".join(["%s"] * (len(columns) + len(insert_only))) + ")"
            cursor.executemany(sql.replace("%s", placeholders), rows)


# --- Loading --------------------------------------------------------------------------------------


@dataclass
class Population:
    """Every live record's keys and current person, as arrays indexed alike."""

    record_ids: np.ndarray  # int64
    person_ids: np.ndarray  # int64, 0 when not yet linked
    dataset_ids: np.ndarray  # int32
    event_days: np.ndarray  # int32 days since 1970, -1 when unknown: for current addresses
    keys: Keys
    agency_ids: np.ndarray  # int32

    def index_of(self, record_ids) -> np.ndarray:
        positions = np.searchsorted(self.record_ids, record_ids)
        positions = np.clip(positions, 0, max(len(self.record_ids) - 1, 0))
        found = self.record_ids[positions] == record_ids if len(self.record_ids) else positions
        return np.where(found, positions, -1)


def population_load() -> Population:
    rows = (
        LinkageRecord.objects.filter(record__is_retired=False)
        .order_by("record_id")
        .values_list(
            "record_id", "person_id", "dataset_id", "agency_id", "record__event_date", "keys"
        )
    )
    count = rows.count()
    record_ids = np.zeros(count, dtype=np.int64)
    person_ids = np.zeros(count, dtype=np.int64)
    dataset_ids = np.zeros(count, dtype=np.int32)
    agency_ids = np.zeros(count, dtype=np.int32)
    event_days = np.full(count, -1, dtype=np.int32)
    raw = bytearray(count * RECORD_DTYPE.itemsize)
    size = RECORD_DTYPE.itemsize
    epoch_ordinal = 719163  # date(1970, 1, 1).toordinal()
    index = 0
    for record_id, person_id, dataset_id, agency_id, event_date, blob in rows.iterator(
        chunk_size=20_000
    ):
        if index >= count:
            break  # rows added since the count belong to the next run
        record_ids[index] = record_id
        person_ids[index] = person_id or 0
        dataset_ids[index] = dataset_id
        agency_ids[index] = agency_id
        if event_date is not None:
            event_days[index] = event_date.toordinal() - epoch_ordinal
        raw[index * size : (index + 1) * size] = blob
        index += 1
    keys = keys_from_packed(memoryview(raw)[: index * size])
    del raw
    return Population(
        record_ids[:index],
        person_ids[:index],
        dataset_ids[:index],
        event_days[:index],
        keys,
        agency_ids[:index],
    )


# --- Clustering -----------------------------------------------------------------------------------


def _root(parent: list[int], x: int) -> int:
    """The root of x in a union-find forest, compressing the path on the way."""
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        parent[x], x = root, parent[x]
    return root


def _roots(parent: list[int]) -> np.ndarray:
    return np.fromiter((_root(parent, x) for x in range(len(parent))), np.int64, len(parent))


class _Clusters:
    """Union-find over record indexes, refusing any union that would put two records known to be
    different people (a guard pair or a rejected review) into one person."""

    def __init__(self, size: int, cannot: dict[int, set[int]]) -> None:
        self.parent = list(range(size))
        self.members: dict[int, list[int]] = {}
        self.cannot = cannot

    def find(self, x: int) -> int:
        return _root(self.parent, x)

    def labels(self) -> np.ndarray:
        return _roots(self.parent)

    def _members(self, root: int) -> list[int]:
        return self.members.get(root) or [root]

    def union(self, a: int, b: int, *, forced: bool = False) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        small, large = self._members(ra), self._members(rb)
        if len(small) > len(large):
            (ra, small), (rb, large) = (rb, large), (ra, small)
        if not forced and self.cannot:
            large_set = set(large)
            for member in small:
                if self.cannot.get(member, set()) & large_set:
                    return False
        self.parent[ra] = rb
        large.extend(small)  # in place: the larger list is never copied
        self.members[rb] = large
        self.members.pop(ra, None)
        return True


# A refused link within this many bits of the link that placed its record makes the record
# ambiguous (region_cluster): a factor of four in the odds.
AMBIGUITY_MARGIN = 2.0


def _links_applied(
    size: int,
    cannot: dict[int, set[int]],
    confirmed: list[tuple[int, int]],
    left: np.ndarray,
    right: np.ndarray,
    auto: np.ndarray,
    weights: np.ndarray,
) -> tuple["_Clusters", set[int]]:
    """Apply the automatic links (strongest first), refusing any the chain guard forbids; return
    the clusters and the records a refusal showed to be ambiguous: each placed by a link hardly
    stronger than the refused one."""
    clusters = _Clusters(size, cannot)
    for a, b in confirmed:
        clusters.union(a, b, forced=True)
    placed_by: dict[int, float] = {}
    ambiguous: set[int] = set()
    for index in auto.tolist():
        a, b = int(left[index]), int(right[index])
        weight = float(weights[index])
        if clusters.union(a, b):
            placed_by.setdefault(a, weight)
            placed_by.setdefault(b, weight)
            continue
        if b in cannot.get(a, ()):
            # A reviewer said these two records are different people: a decision, not a
            # record that could be either of two people.
            continue
        for end in (a, b):
            if end in placed_by and placed_by[end] - weight < AMBIGUITY_MARGIN:
                ambiguous.add(end)
    return clusters, ambiguous


@dataclass
class RegionResult:
    labels: np.ndarray  # cluster label per region position
    best_partner: np.ndarray  # region position of each record's strongest link in its cluster
    best_weight: np.ndarray
    best_rule: list[str]
    review: list[tuple[int, int, float, str, np.ndarray]]  # positions, weight, reason, levels


def _components(size: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected-component label of each of `size` nodes under the edges (a[i], b[i])."""
    parent = list(range(size))
    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        rx, ry = _root(parent, x), _root(parent, y)
        if rx != ry:
            parent[rx] = ry
    return _roots(parent)


def _vouched_for(
    confirmed: list[tuple[int, int]],
    left: np.ndarray,
    right: np.ndarray,
    auto: np.ndarray,
    constraint: np.ndarray,
) -> np.ndarray:
    """Which `constraint` pairs a reviewer's "same person" answers for: one end is a confirmed
    pair's record or automatically linked to it, the other likewise for the pair's other record.

    A reviewer who confirms two records knows how they differ (often a family guard's reason:
    another forename, another date of birth). Each side's own duplicates differ from the other
    side in just that way; held apart by the guard, a person's other agencies' records would be
    split off by the very decision that joined the two (a missed link reported from a household
    is exactly such a pair). Only score and family guards yield: a "different people" answer
    never does. One hop of automatic links, no chains, so the guard still stops a chain.
    """
    ends = {record for pair in confirmed for record in pair}
    near: dict[int, set[int]] = defaultdict(set)
    for a, b in zip(left[auto].tolist(), right[auto].tolist(), strict=True):
        if a in ends:
            near[a].add(b)
        if b in ends:
            near[b].add(a)
    vouched: set[tuple[int, int]] = set()
    for a, b in confirmed:
        for x in near[a] | {a}:
            for y in near[b] | {b}:
                vouched.add((min(x, y), max(x, y)))
    lows = np.minimum(left[constraint], right[constraint]).tolist()
    highs = np.maximum(left[constraint], right[constraint]).tolist()
    return np.fromiter(
        ((low, high) in vouched for low, high in zip(lows, highs, strict=True)),
        dtype=bool,
        count=len(constraint),
    )


def region_cluster(
    keys: Keys,
    left: np.ndarray,
    right: np.ndarray,
    levels: np.ndarray,
    weights: np.ndarray,
    *,
    thresholds: Thresholds,
    confirmed: list[tuple[int, int]],
    rejected: list[tuple[int, int]],
    parameters: scoring.Parameters | None = None,
) -> RegionResult:
    """Cluster the region's records from its scored pairs (positions index `keys`).

    Links are applied strongest first, each refused if it would put two records known to be
    different people into one person (the chain guard). Only clearly-different pairs that some
    chain of links could bring together are kept as constraints: the components of every link
    that might be applied bound that, so millions of obvious non-matches cost one array filter.
    """
    size = keys_count(keys)
    probabilities = scoring.probability(weights)
    not_automatic, family_different = scoring.family_guards(levels, parameters)
    clearly_different = (weights < thresholds.guard) | family_different
    confident = probabilities >= thresholds.upper
    auto = np.flatnonzero(confident & ~not_automatic)
    alike = np.flatnonzero(scoring.alike_but_one(levels) & ~clearly_different & confident)
    confirmed_a = np.array([pair[0] for pair in confirmed], dtype=np.int64)
    confirmed_b = np.array([pair[1] for pair in confirmed], dtype=np.int64)
    reach = _components(
        size,
        np.concatenate([left[auto], left[alike], confirmed_a]),
        np.concatenate([right[auto], right[alike], confirmed_b]),
    )
    constraint = np.flatnonzero(clearly_different & (reach[left] == reach[right]))
    if confirmed and len(constraint):
        constraint = constraint[~_vouched_for(confirmed, left, right, auto, constraint)]
    cannot: dict[int, set[int]] = defaultdict(set)
    for a, b in [
        *zip(left[constraint].tolist(), right[constraint].tolist(), strict=True),
        *rejected,
    ]:
        cannot[a].add(b)
        cannot[b].add(a)

    review: list[tuple[int, int, float, str, np.ndarray]] = []
    # Strongest first; pairs of equal weight in an order of their records' content, so the
    # same records cluster the same way whatever ids (load order) they have.
    content = content_hash(keys)
    tie = pair_mix(content[left] ^ content[right])
    auto = auto[np.lexsort((tie[auto], -weights[auto]))]
    clusters, ambiguous = _links_applied(size, cannot, confirmed, left, right, auto, weights)
    if ambiguous:
        # A record the chain guard had to choose for, between two people it matched about as
        # well (a police record with no date of birth, named like a father and like his son at
        # one address), could be either: none of its automatic links is made, and a reviewer
        # decides. Linked strongest first, it would go to whichever scored higher by a whisker
        # (LINKAGE.md: judge a merge by the clusters, not the single pair).
        marked = np.fromiter(ambiguous, dtype=np.int64)
        taken = np.isin(left[auto], marked) | np.isin(right[auto], marked)
        for index in auto[taken].tolist():
            a, b = int(left[index]), int(right[index])
            review.append((a, b, float(weights[index]), ReviewItem.Reason.GUARD, levels[index]))
        clusters, _ = _links_applied(size, cannot, confirmed, left, right, auto[~taken], weights)
    labels = clusters.labels()

    # Second pass: a record with no usable forename ("Baby", "Unknown", blank) alike in all else
    # to exactly one other person, and to no one else, is that person before they were named.
    # Not for two different forenames: twins are alike to each other and often to no one else
    # (an outside benchmark saw them merged), and a middle name used as a forename is a
    # comparison level of its own. Newborn twins both unnamed are alike to two people, and left.
    alike = alike[levels[alike, scoring.COMPARISON_NAMES.index("forename")] == scoring.MISSING]
    if len(alike) and SECOND_PASS:
        partners: dict[int, set[int]] = defaultdict(set)
        for index in alike.tolist():
            a, b = int(labels[left[index]]), int(labels[right[index]])
            if a != b:
                partners[a].add(b)
                partners[b].add(a)
        for index in alike[np.lexsort((tie[alike], -weights[alike]))].tolist():
            a, b = int(labels[left[index]]), int(labels[right[index]])
            if a != b and len(partners[a]) == 1 and len(partners[b]) == 1:
                clusters.union(int(left[index]), int(right[index]))
        labels = clusters.labels()

    # Each record's strongest link inside its cluster, for explanations and the export's score.
    same = labels[left] == labels[right]
    inside = np.flatnonzero(same)
    ends = np.concatenate([left[inside], right[inside]])
    others = np.concatenate([right[inside], left[inside]])
    pair_of = np.concatenate([inside, inside])
    order = np.lexsort((weights[pair_of], ends))  # by record, strongest link last
    last = np.r_[ends[order][1:] != ends[order][:-1], True] if len(order) else order.astype(bool)
    chosen = order[last]
    best_partner = np.full(size, -1, dtype=np.int64)
    best_weight = np.full(size, np.nan)
    best_rule = [""] * size
    best_partner[ends[chosen]] = others[chosen]
    best_weight[ends[chosen]] = weights[pair_of[chosen]]
    rules = scoring.rule_names(levels[pair_of[chosen]])
    for record, rule in zip(ends[chosen].tolist(), rules, strict=True):
        best_rule[record] = rule
    for a, b in confirmed:
        for me, other in ((a, b), (b, a)):
            if best_partner[me] < 0:
                best_partner[me], best_rule[me] = other, "review"

    middle = np.flatnonzero(
        (probabilities >= thresholds.lower)
        & (~confident | not_automatic)
        & ~same
        & ~family_different
    )
    # One item per pair of persons, their most alike records: twins with five records each are
    # one question for a reviewer, not twenty-five. A decision on it binds the two persons.
    if len(middle):
        low = np.minimum(labels[left[middle]], labels[right[middle]])
        high = np.maximum(labels[left[middle]], labels[right[middle]])
        order = np.lexsort((-weights[middle], high, low))
        first = np.r_[
            True, (low[order][1:] != low[order][:-1]) | (high[order][1:] != high[order][:-1])
        ]
        middle = middle[order[first]]
    for index in middle.tolist():
        review.append(
            (
                int(left[index]),
                int(right[index]),
                float(weights[index]),
                # A family guard held a score that would have linked it, or the score alone
                # fell between the thresholds.
                ReviewItem.Reason.GUARD if not_automatic[index] else ReviewItem.Reason.SCORE,
                levels[index],
            )
        )
    return RegionResult(labels, best_partner, best_weight, best_rule, review)


# --- Runs -----------------------------------------------------------------------------------------


def linkage_run(
    *,
    extract_id: int | None = None,
    full: bool = False,
    kind: str | None = None,
    review_item_id: int | None = None,
    reestimate: bool = False,
    run: LinkageRun | None = None,
) -> LinkageRun:
    """Link what changed (or, with full=True, everything) and store persons and households.

    A review decision's run re-clusters the two records' persons (review_item_id). With
    reestimate=True the model is estimated afresh first (a relink: matching.relink). `run` is a
    run already recorded (queued for a relink, so its progress can be followed from the start).
    """
    # One run at a time: two runs assigning persons at once would undo each other.
    with advisory_lock(LINKAGE_LOCK_ID):
        if run is None:
            run = LinkageRun.objects.create(
                kind=kind or (LinkageRun.Kind.FULL if full else LinkageRun.Kind.INCREMENTAL),
                extract_id=extract_id,
            )
        else:
            LinkageRun.objects.filter(pk=run.pk).update(
                status=LinkageRun.Status.RUNNING, started_at=timezone.now(), figures={}
            )
        figures = Figures(run_id=run.pk)
        try:
            _run(
                run,
                full=full,
                figures=figures,
                review_item_id=review_item_id,
                reestimate=reestimate,
            )
        except Exception:
            LinkageRun.objects.filter(pk=run.pk).update(
                status=LinkageRun.Status.FAILED, finished_at=timezone.now(), figures=figures.values
            )
            raise
        LinkageRun.objects.filter(pk=run.pk).update(
            status=LinkageRun.Status.DONE,
            finished_at=timezone.now(),
            figures=figures.values,
            stage="",
        )
        run.refresh_from_db()
        return run


def _model_for_run(
    population: Population, figures: Figures, *, reestimate: bool
) -> tuple[LinkageModel, scoring.Parameters, bool]:
    """The model this run scores with, and whether everything must be re-clustered under it: a
    new model re-clusters every record, or the persons would depend on the order the extracts
    came in (those placed under the old model would keep its decisions)."""
    model, parameters = model_current()
    stale = "asked to re-estimate" if reestimate else model_stale(model, population.agency_ids)
    if not stale and model is not None and parameters is not None:
        figures["model"] = model.pk
        return model, parameters, False
    figures.stage("model")
    figures["model_estimated_because"] = stale
    new_model, new_parameters, _ = model_estimate(
        population.keys, population.dataset_ids, population.agency_ids, figures
    )
    figures["model"] = new_model.pk
    return new_model, new_parameters, bool((population.person_ids != 0).any())


def pair_weights(
    keys: Keys,
    left: np.ndarray,
    right: np.ndarray,
    levels: np.ndarray,
    parameters: scoring.Parameters,
    frequencies: scoring.TermFrequencies,
) -> np.ndarray:
    """Each pair's match weight, with agreement on a rare name weighing more than on a common
    one (term frequencies of the whole population)."""
    return scoring.match_weights(levels, parameters) + scoring.tf_adjustments(
        keys, left, right, levels, parameters, frequencies
    )


def _run(
    run: LinkageRun,
    *,
    full: bool,
    figures: Figures,
    review_item_id: int | None = None,
    reestimate: bool = False,
) -> None:
    started = time.perf_counter()
    figures.stage("keys")
    refreshed = keys_refresh()
    figures["records_keyed"] = len(refreshed)
    started = figures.time("keys", started)

    # Records retired since the last run leave their persons; those persons are re-clustered.
    retired = LinkageRecord.objects.filter(record__is_retired=True, person__isnull=False)
    touched_by_retirement = set(retired.values_list("person_id", flat=True))
    retired.update(
        retired_from_person_id=models.F("person_id"),
        person=None,
        linked_with=None,
        link_rule="",
        link_score=None,
        run=run,
    )
    still_held = LinkageRecord.objects.filter(person_id__in=touched_by_retirement)
    Person.objects.filter(pk__in=touched_by_retirement).exclude(
        pk__in=still_held.values("person_id")
    ).update(is_active=False, household=None)

    figures.stage("load")
    population = population_load()
    figures["records"] = len(population.record_ids)
    started = figures.time("load", started)
    if not len(population.record_ids):
        _households_refresh(population, run, figures)
        return

    model, parameters, recluster = _model_for_run(population, figures, reestimate=reestimate)
    if recluster and not full:
        figures["reclustered_for_new_model"] = True
        full = True
    started = time.perf_counter()
    frequencies = scoring.TermFrequencies.count(population.keys)

    figures.stage("region")
    if full:
        region = np.arange(len(population.record_ids))
        focus = np.ones(len(region), dtype=bool)
    else:
        focus = np.zeros(len(population.record_ids), dtype=bool)
        positions = population.index_of(np.array(sorted(refreshed), dtype=np.int64))
        focus[positions[positions >= 0]] = True
        focus |= population.person_ids == 0
        if review_item_id is not None:
            pair = ReviewItem.objects.filter(pk=review_item_id).values_list(
                "record_a_id", "record_b_id"
            )
            for record_ids in pair:
                positions = population.index_of(np.array(record_ids, dtype=np.int64))
                focus[positions[positions >= 0]] = True
        if focus.sum() > WHOLE_REGION_SHARE * len(focus):
            # Most records are new (a first large extract): finding the region would score
            # nearly every pair once to find it and again to cluster it.
            region = np.arange(len(population.record_ids))
        else:
            region = _region_find(population, focus, parameters, frequencies, touched_by_retirement)
    figures["region_records"] = len(region)
    started = figures.time("region", started)

    figures.stage("candidates")
    keys = keys_take(population.keys, region)
    left, right = candidate_pairs(keys, None, figures)
    figures["candidate_pairs"] = len(left)
    started = figures.time("candidates", started)
    figures.stage("scoring")
    levels = pair_levels(keys, left, right)
    weights = pair_weights(keys, left, right, levels, parameters, frequencies)
    started = figures.time("scoring", started)

    figures.stage("clustering")
    confirmed, rejected = _decisions_in(population, region)
    result = region_cluster(
        keys,
        left,
        right,
        levels,
        weights,
        thresholds=Thresholds.configured(),
        confirmed=confirmed,
        rejected=rejected,
        parameters=parameters,
    )
    started = figures.time("clustering", started)
    # Every region record's link details are rewritten: a partner may have left or arrived even
    # where the person id stayed the same.
    figures.stage("persons")
    _persons_store(population, region, result, run, figures)
    _review_store(population, region, result, parameters, run, figures)
    started = figures.time("persons", started)
    figures.stage("households")
    _households_refresh(population, run, figures)
    figures.time("households", started)


def _region_find(
    population: Population,
    focus: np.ndarray,
    parameters: scoring.Parameters,
    frequencies: scoring.TermFrequencies,
    touched_persons: set[int],
) -> np.ndarray:
    """Positions of the records to cluster again: the focus records, every record of a person a
    focus record may belong to (or belonged to), and every record of a person a review item
    (decided or open) ties to them."""
    # Partners are sought for the focus records and for every record of the persons they (or
    # retired records) belonged to: when a record leaves a person, the rest of that person may
    # now link with someone the departed record kept them apart from.
    seed_persons = set(np.unique(population.person_ids[focus]).tolist()) | touched_persons
    seed_persons.discard(0)
    seed = focus | np.isin(population.person_ids, np.fromiter(seed_persons, dtype=np.int64))
    left, right = candidate_pairs(population.keys, seed)
    levels = pair_levels(population.keys, left, right)
    weights = pair_weights(population.keys, left, right, levels, parameters, frequencies)
    # Partners that might be the same person bring their persons in. Clearly different ones
    # need not: a focus record's own old person is in the region anyway (person_ids below), so a
    # person it was wrongly joined to is re-clustered with everything it holds.
    near = scoring.probability(weights) >= settings.SHAREHUB_LINKAGE_LOWER
    in_region = seed.copy()
    in_region[left[near]] = True
    in_region[right[near]] = True
    persons = set(np.unique(population.person_ids[in_region]).tolist()) | touched_persons
    # Decided pairs bind both records; an open one may be what kept a record apart (a record that
    # could be either of two people): when one side changes, the other is clustered again too.
    decided = [
        *ReviewItem.objects.filter(
            status__in=[
                ReviewItem.Status.CONFIRMED,
                ReviewItem.Status.REJECTED,
                ReviewItem.Status.OPEN,
            ]
        ).values_list("record_a_id", "record_b_id"),
        *RecordApart.objects.values_list("record_id", "other_id"),
    ]
    while True:
        persons.discard(0)
        in_region |= np.isin(population.person_ids, np.fromiter(persons, dtype=np.int64))
        region_ids = set(population.record_ids[in_region].tolist())
        more = set()
        for a, b in decided:
            if (a in region_ids) != (b in region_ids):
                more.add(b if a in region_ids else a)
        if not more:
            break
        positions = population.index_of(np.array(sorted(more), dtype=np.int64))
        positions = positions[positions >= 0]
        new_persons = set(population.person_ids[positions].tolist()) - persons
        in_region[positions] = True
        if not new_persons:
            break
        persons |= new_persons
    return np.flatnonzero(in_region)


def _decisions_in(
    population: Population, region: np.ndarray
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Reviewers' decisions as region positions: confirmed pairs, and rejected pairs with the
    records a reviewer took out of a person held apart from its other records."""
    position_of = {
        int(record_id): index for index, record_id in enumerate(population.record_ids[region])
    }
    confirmed: list[tuple[int, int]] = []
    rejected: list[tuple[int, int]] = []
    for a, b, status in ReviewItem.objects.filter(
        status__in=[ReviewItem.Status.CONFIRMED, ReviewItem.Status.REJECTED]
    ).values_list("record_a_id", "record_b_id", "status"):
        if a in position_of and b in position_of:
            pair = (position_of[a], position_of[b])
            (confirmed if status == ReviewItem.Status.CONFIRMED else rejected).append(pair)
    # A record a reviewer took out of a person is apart from each record the person had.
    for a, b in RecordApart.objects.values_list("record_id", "other_id"):
        if a in position_of and b in position_of:
            rejected.append((position_of[a], position_of[b]))
    return confirmed, rejected


def _persons_store(
    population: Population,
    region: np.ndarray,
    result: RegionResult,
    run: LinkageRun,
    figures: Figures,
) -> None:
    """Give each cluster a person id, keeping ids stable, and record merges and splits."""
    record_ids = population.record_ids[region]
    old = population.person_ids[region]
    labels = result.labels
    # The holder of an old person is the cluster holding most of its records, and of those the
    # one with its oldest record (lowest id: positions are in record id order); the person's id
    # stays with that part. Most, not oldest alone: when a reviewer takes one record out of a
    # person and it was the person's first, the reference practitioners know stays with the
    # records that are still that person, not with the one taken out.
    holder: dict[int, int] = {}
    parts: dict[int, set[int]] = defaultdict(set)
    counts: dict[tuple[int, int], int] = defaultdict(int)
    first_seen: dict[tuple[int, int], int] = {}
    for position, (label, person) in enumerate(zip(labels.tolist(), old.tolist(), strict=True)):
        if person:
            parts[person].add(label)
            counts[(person, label)] += 1
            first_seen.setdefault((person, label), position)
    for person, labels_of in parts.items():
        holder[person] = min(
            labels_of, key=lambda label: (-counts[(person, label)], first_seen[(person, label)])
        )
    claimants: dict[int, list[int]] = defaultdict(list)
    for person, label in holder.items():
        claimants[label].append(person)
    cluster_person: dict[int, int] = {}
    merges: list[tuple[int, int]] = []
    for label, persons in claimants.items():
        keep = min(persons)
        cluster_person[label] = keep
        merges.extend((keep, other) for other in persons if other != keep)
    new_labels = sorted(set(labels.tolist()) - set(cluster_person))
    with transaction.atomic():
        created = Person.objects.bulk_create([Person() for _ in new_labels], batch_size=5_000)
        for label, person in zip(new_labels, created, strict=True):
            cluster_person[label] = person.pk
        events: list[PersonEvent] = []
        distinct, sizes = np.unique(labels, return_counts=True)
        label_size = dict(zip(distinct.tolist(), sizes.tolist(), strict=True))
        for label in new_labels:
            events.append(
                PersonEvent(
                    person_id=cluster_person[label],
                    kind=PersonEvent.Kind.CREATED,
                    run=run,
                    records=label_size[label],
                )
            )
        for keep, other in merges:
            events.append(
                PersonEvent(person_id=keep, kind=PersonEvent.Kind.MERGED, other_id=other, run=run)
            )
            events.append(
                PersonEvent(
                    person_id=other, kind=PersonEvent.Kind.MERGED_INTO, other_id=keep, run=run
                )
            )
        if merges:
            for keep, other in merges:
                Person.objects.filter(pk=other).update(
                    is_active=False, merged_into_id=keep, household=None
                )
        splits = 0
        for person, labels_of in parts.items():
            if len(labels_of) > 1:
                splits += 1
                events.append(
                    PersonEvent(
                        person_id=person,
                        kind=PersonEvent.Kind.SPLIT,
                        run=run,
                        records=len(labels_of),
                    )
                )
                for label in labels_of:
                    if label != holder[person] and cluster_person[label] != person:
                        events.append(
                            PersonEvent(
                                person_id=cluster_person[label],
                                kind=PersonEvent.Kind.SPLIT_FROM,
                                other_id=person,
                                run=run,
                                records=label_size[label],
                            )
                        )
        PersonEvent.objects.bulk_create(events, batch_size=5_000)
        # Persons left with no record (all retired, or everything moved elsewhere) are closed.
        assigned = set(cluster_person.values())
        emptied = [p for p in parts if p not in assigned and p not in {o for _, o in merges}]
        if emptied:
            Person.objects.filter(pk__in=emptied).update(is_active=False)
        if assigned:
            Person.objects.filter(
                pk__in=list(assigned), is_active=False, merged_into__isnull=True
            ).update(is_active=True)
        figures["persons_created"] = len(new_labels)
        figures["persons_merged"] = len(merges)
        figures["persons_split"] = splits

        now = timezone.now()
        updates = []
        partner_ids = np.where(
            result.best_partner >= 0, record_ids[np.maximum(result.best_partner, 0)], 0
        )
        probabilities = scoring.probability(np.nan_to_num(result.best_weight, nan=0.0))
        for position, label in enumerate(labels.tolist()):
            partner = int(partner_ids[position])
            updates.append(
                (
                    int(record_ids[position]),
                    cluster_person[label],
                    result.best_rule[position] or ("" if partner else "alone"),
                    None
                    if np.isnan(result.best_weight[position])
                    else float(probabilities[position]),
                    partner or None,
                )
            )
        changed = _records_update(updates, run, now)
        figures["records_updated"] = changed
    population.person_ids[region] = np.fromiter(
        (cluster_person[label] for label in labels.tolist()), dtype=np.int64, count=len(labels)
    )


# A link probability moving by less than this is not a change worth a write.
SCORE_TOLERANCE = 1e-4


def _records_update(rows: list[tuple], run: LinkageRun, now) -> int:
    """Set person and link details on many LinkageRecord rows in few statements; returns how
    many rows changed.

    Rows are (record id, person id, rule, link probability, partner record id). The table name
    comes from the model and every value is a parameter.
    """
    table = LinkageRecord._meta.db_table
    values = [(*row, now, run.pk) for row in rows]
    if connection.vendor == "postgresql":
        # COPY into a temporary table, then one UPDATE joining it: a million rows in seconds,
        # where VALUES lists of 10,000 cost a parse and plan each.
        buffer = io.StringIO()
        null = "\\N"
        for record, person, rule, score, partner, at, run_id in values:
            score_text = null if score is None else repr(float(score))
            partner_text = null if partner is None else str(partner)
            buffer.write(
                f"{record}\t{person}\t{rule}\t{score_text}\t{partner_text}\t"
                f"{at.isoformat()}\t{run_id}\n"
            )
        buffer.seek(0)
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMPORARY TABLE IF NOT EXISTS linkage_updates (record bigint, "
                "person bigint, rule varchar(40), score double precision, partner bigint, "
                "at timestamptz, run bigint) ON COMMIT DROP"
            )
            cursor.cursor.copy_expert("COPY linkage_updates FROM STDIN", buffer)
            # Only rows whose person or link changed are written: a run that re-clusters a
            # million records under a new model leaves most of them where they were, and a
            # rewritten row costs its index entries and its WAL.
            cursor.execute(
                f"UPDATE {table} AS r SET person_id = v.person, link_rule = v.rule, "  # noqa: S608
                "link_score = v.score, linked_with_id = v.partner, linked_at = v.at, "
                "run_id = v.run FROM linkage_updates AS v WHERE r.record_id = v.record AND ("
                "r.person_id IS DISTINCT FROM v.person OR r.link_rule IS DISTINCT FROM v.rule "
                "OR r.linked_with_id IS DISTINCT FROM v.partner "
                "OR (r.link_score IS NULL) <> (v.score IS NULL) "
                f"OR abs(r.link_score - v.score) > {SCORE_TOLERANCE})"
            )
            changed = cursor.rowcount
            cursor.execute("DROP TABLE linkage_updates")
        return changed
    with connection.cursor() as cursor:
        before = connection.connection.total_changes
        cursor.executemany(
            f"UPDATE {table} SET person_id = %s, link_rule = %s, link_score = %s, "  # noqa: S608
            "linked_with_id = %s, linked_at = %s, run_id = %s WHERE record_id = %s AND ("
            "person_id IS NOT %s OR link_rule IS NOT %s OR linked_with_id IS NOT %s "
            "OR (link_score IS NULL) <> (%s IS NULL) "
            f"OR abs(link_score - %s) > {SCORE_TOLERANCE})",
            [
                (p, rule, score, partner, at, run_id, record, p, rule, partner, score, score)
                for record, p, rule, score, partner, at, run_id in values
            ],
        )
        return connection.connection.total_changes - before


def _review_store(
    population: Population,
    region: np.ndarray,
    result: RegionResult,
    parameters: scoring.Parameters,
    run: LinkageRun,
    figures: Figures,
) -> None:
    """Open a review item for each uncertain pair not yet decided; withdraw open items whose
    records now sit in one person through other links, or are no longer a candidate pair."""
    record_ids = population.record_ids[region]
    items = []
    for a, b, weight, reason, levels in result.review:
        first, second = sorted((int(record_ids[a]), int(record_ids[b])))
        items.append(
            ReviewItem(
                record_a_id=first,
                record_b_id=second,
                score=weight,
                probability=float(scoring.probability(np.array([weight]))[0]),
                reason=reason,
                comparison=scoring.reasons(levels, parameters),
                why=scoring.uncertain_because(levels),
                run=run,
            )
        )
    ReviewItem.objects.bulk_create(items, batch_size=2_000, ignore_conflicts=True)
    figures["review_items"] = len(items)
    # A pair withdrawn earlier and uncertain again is a question again, with today's reasons.
    asked = {(item.record_a_id, item.record_b_id): item for item in items}
    reopened = 0
    withdrawn_before = ReviewItem.objects.filter(
        status=ReviewItem.Status.WITHDRAWN, record_a_id__in={a for a, _ in asked}
    ).values_list("pk", "record_a_id", "record_b_id")
    for pk, a, b in withdrawn_before:
        item = asked.get((a, b))
        if item is not None:
            reopened += ReviewItem.objects.filter(pk=pk, status=ReviewItem.Status.WITHDRAWN).update(
                status=ReviewItem.Status.OPEN,
                score=item.score,
                probability=item.probability,
                reason=item.reason,
                comparison=item.comparison,
                why=item.why,
                run=run,
            )
    figures["review_items_reopened"] = reopened
    # Open items no longer a question: inside one person now (the links around them decided
    # it), no longer uncertain (both records were re-clustered and the pair was not asked), or
    # about a retired record. Not a pair a practitioner reported (matching.challenges): that
    # linkage is sure of it is what they dispute, and a reviewer answers them.
    person_of = dict(zip(record_ids.tolist(), population.person_ids[region].tolist(), strict=True))
    still_open = ReviewItem.objects.filter(status=ReviewItem.Status.OPEN, reported_at__isnull=True)
    withdrawn = list(
        still_open.filter(
            models.Q(record_a__is_retired=True) | models.Q(record_b__is_retired=True)
        ).values_list("pk", flat=True)
    )
    for pk, a, b in still_open.values_list("pk", "record_a_id", "record_b_id"):
        if (
            a in person_of
            and b in person_of
            and (person_of[a] == person_of[b] or (a, b) not in asked)
        ):
            withdrawn.append(pk)
    # Only items still open: a reviewer's decision saved since they were read stands.
    ReviewItem.objects.filter(
        pk__in=withdrawn, status=ReviewItem.Status.OPEN, reported_at__isnull=True
    ).update(status=ReviewItem.Status.WITHDRAWN)
    figures["review_items_withdrawn"] = len(withdrawn)
    figures["review_items_beyond_queue"] = _review_queue_trim(len(population.record_ids))
    figures["review_queue_open"] = ReviewItem.objects.filter(status=ReviewItem.Status.OPEN).count()


REVIEW_QUEUE_MIN = 50


def _review_queue_trim(records: int) -> int:
    """Keep the open review queue to what a team can work through (SHAREHUB_REVIEW_QUEUE_SHARE
    of the live records): the pairs most likely to be one person stay, the rest are withdrawn
    (a later run asks again if one rises). Pairs a practitioner reported always stay. Returns
    how many were withdrawn."""
    cap = max(REVIEW_QUEUE_MIN, round(settings.SHAREHUB_REVIEW_QUEUE_SHARE * records))
    asked_by_linkage = ReviewItem.objects.filter(
        status=ReviewItem.Status.OPEN, reported_at__isnull=True
    )
    beyond = list(
        asked_by_linkage.order_by("-probability", "pk").values_list("pk", flat=True)[cap:]
    )
    if beyond:
        asked_by_linkage.filter(pk__in=beyond).update(status=ReviewItem.Status.WITHDRAWN)
    return len(beyond)


# --- Households -----------------------------------------------------------------------------------


def _households_refresh(population: Population, run: LinkageRun, figures: Figures) -> None:
    """Group persons who live at the same dwelling now, keeping household ids stable.

    A person's current dwelling is the house number with the full postcode (or, without a
    postcode, with the street) of their most recent record that has one. Records without a house
    number (a health extract holds only the postcode) leave the person out of households rather
    than guess among neighbours.
    """
    started = time.perf_counter()
    # The house number with the postcode where there is one, else with the street: an extract
    # with no postcodes still places people in homes.
    address = np.where(
        population.keys["address_key"] != 0,
        population.keys["address_key"],
        population.keys["dwelling"],
    )
    has_address = (address != 0) & (population.person_ids != 0)
    positions = np.flatnonzero(has_address)
    # Latest record per person: sort by person then event day then record id, take the last.
    order = positions[
        np.lexsort(
            (
                population.record_ids[positions],
                population.event_days[positions],
                population.person_ids[positions],
            )
        )
    ]
    persons = population.person_ids[order]
    last = np.r_[persons[1:] != persons[:-1], True] if len(order) else np.zeros(0, dtype=bool)
    current_person = persons[last]
    current_address = address[order][last]
    groups: dict[int, list[int]] = defaultdict(list)
    for person, dwelling in zip(current_person.tolist(), current_address.tolist(), strict=True):
        groups[dwelling].append(person)

    old_household = dict(
        Person.objects.filter(is_active=True, household__isnull=False).values_list(
            "pk", "household_id"
        )
    )
    # Biggest groups choose first; a group keeps the household most of its members had.
    claimed: set[int] = set()
    assignment: dict[int, int] = {}
    new_groups: list[list[int]] = []
    for members in sorted(groups.values(), key=len, reverse=True):
        votes: dict[int, int] = defaultdict(int)
        for person in members:
            if person in old_household:
                votes[old_household[person]] += 1
        choice = None
        for household, _ in sorted(votes.items(), key=lambda item: (-item[1], item[0])):
            if household not in claimed:
                choice = household
                break
        if choice is None:
            new_groups.append(members)
            continue
        claimed.add(choice)
        for person in members:
            assignment[person] = choice
    with transaction.atomic():
        created = Household.objects.bulk_create([Household() for _ in new_groups], batch_size=5_000)
        for members, new_household in zip(new_groups, created, strict=True):
            claimed.add(new_household.pk)
            for person in members:
                assignment[person] = new_household.pk
        changed = [
            (person, household_id)
            for person, household_id in assignment.items()
            if old_household.get(person) != household_id
        ]
        left = [person for person in old_household if person not in assignment]
        by_household: dict[int, list[int]] = defaultdict(list)
        for person, household_id in changed:
            by_household[household_id].append(person)
        for household_id, members in by_household.items():
            Person.objects.filter(pk__in=members).update(household_id=household_id)
        if left:
            Person.objects.filter(pk__in=left).update(household=None)
        PersonEvent.objects.bulk_create(
            [
                PersonEvent(person_id=person, kind=PersonEvent.Kind.HOUSEHOLD, run=run)
                for person, _ in changed
            ]
            + [
                PersonEvent(person_id=person, kind=PersonEvent.Kind.HOUSEHOLD, run=run)
                for person in left
            ],
            batch_size=5_000,
        )
        Household.objects.filter(is_active=True).exclude(pk__in=claimed).update(is_active=False)
    figures["households"] = len(groups)
    figures["household_changes"] = len(changed) + len(left)
    figures.time("households_inner", started)
