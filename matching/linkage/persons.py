"""Persons: a region's clusters -> persons, keeping ids stable and recording merges and splits.

(matching.persons follows persons through the merges recorded here.)
"""

import io
from collections import defaultdict

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from matching import scoring
from matching.linkage.clusters import RegionResult
from matching.linkage.figures import Figures
from matching.linkage.population import Population
from matching.models import LinkageRecord, LinkageRun, Person, PersonEvent


def persons_store(
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
