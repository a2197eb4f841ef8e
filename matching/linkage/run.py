"""A linkage run: its stages in order, under one lock, for an extract, a decision or everything."""

import time
from contextlib import ExitStack

import numpy as np
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from core.locks import LockId, advisory_lock
from matching import scoring
from matching.candidates import candidate_pairs, pair_levels, pair_weights
from matching.linkage.clusters import Thresholds, region_cluster
from matching.linkage.figures import Figures
from matching.linkage.households import households_refresh
from matching.linkage.keys import keys_refresh
from matching.linkage.persons import persons_store
from matching.linkage.population import Population, population_load
from matching.linkage.review import review_store
from matching.model import model_current, model_estimate, model_stale
from matching.models import LinkageModel, LinkageRecord, LinkageRun, Person, RecordApart, ReviewItem
from matching.tokens import keys_take

WHOLE_REGION_SHARE = 0.5


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
    # One run at a time: two runs assigning persons at once would undo each other. The run's own
    # lock (matching.linkage.alive) is held from before anyone can see it running until it has
    # written how it ended, so housekeeping knows a run whose worker died at once: taken in the
    # transaction that creates the run, it outlives it (a session lock).
    with advisory_lock(LockId.LINKAGE), ExitStack() as alive:
        with transaction.atomic():
            if run is None:
                run = LinkageRun.objects.create(
                    kind=kind or (LinkageRun.Kind.FULL if full else LinkageRun.Kind.INCREMENTAL),
                    extract_id=extract_id,
                    review_item_id=review_item_id,
                    heartbeat_at=timezone.now(),
                )
                alive.enter_context(advisory_lock(LockId.LINKAGE_RUN, run.pk))
            else:
                alive.enter_context(advisory_lock(LockId.LINKAGE_RUN, run.pk))
                # A relink delivered again may find that another delivery finished it, or that
                # housekeeping gave it up and queued its work as a run of its own.
                run.refresh_from_db()
                if run.is_finished:
                    return run
                now = timezone.now()
                LinkageRun.objects.filter(pk=run.pk).update(
                    status=LinkageRun.Status.RUNNING, started_at=now, heartbeat_at=now, figures={}
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
        households_refresh(population, run, figures)
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
    persons_store(population, region, result, run, figures)
    review_store(population, region, result, parameters, run, figures)
    started = figures.time("persons", started)
    figures.stage("households")
    households_refresh(population, run, figures)
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
