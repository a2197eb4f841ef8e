"""Linkage quality measures shared by the linkage benchmarks (ShareHub's matcher and Splink).

Pure functions over plain dicts, no Django, so any linker's output can be scored the same way:

- a record is keyed `(agency, source_record_id)`, with `agency` the agency kind string used in
  `ground_truth.csv` (health, police, ...);
- `predicted` maps a record to the id of the cluster a linker put it in;
- `truth` maps a record to the synthetic person it really belongs to.

Pairwise scores treat linkage as a decision on every pair of records (same person or not). They
are computed from the contingency table of (predicted cluster, true person) counts, using
n choose 2 per cell, so 400,000 records with clusters of 50 take well under a second instead of
the millions of pairs that enumerating would need.
"""

import csv
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

RecordKey = tuple[str, str]


def ground_truth_load(directory: str | Path) -> dict[RecordKey, str]:
    """Read `ground_truth.csv` from a synthetic set: (agency, source_record_id) -> person_id."""
    truth: dict[RecordKey, str] = {}
    with open(Path(directory) / "ground_truth.csv", newline="") as f:
        for row in csv.DictReader(f):
            truth[(row["agency"], row["source_record_id"])] = row["person_id"]
    return truth


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def _ratio(numerator: int, denominator: int) -> float:
    # An empty denominator means there was nothing to get wrong (no predicted pairs for
    # precision, no true pairs for recall), so it scores as perfect rather than dividing by 0.
    return numerator / denominator if denominator else 1.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def pairwise_scores(
    predicted: Mapping[RecordKey, Hashable], truth: Mapping[RecordKey, Hashable]
) -> dict[str, Any]:
    """Pairwise and cluster-level precision, recall and F1 of `predicted` against `truth`.

    The records scored are those in `truth`. A record missing from `predicted` is a singleton
    (the linker said nothing about it, so it linked it to nothing); a predicted record that is
    not in `truth` is left out and counted in `records_not_in_truth`.

    Pairwise: a predicted pair is two records in one predicted cluster, a true pair two records
    of one person; precision = true predicted pairs / predicted pairs, recall = true predicted
    pairs / true pairs.

    Cluster level: a predicted cluster is exact when its records are exactly one person's
    records. `exact_cluster_match` (= `cluster_recall`) is the fraction of true persons
    reproduced exactly; `cluster_precision` is the fraction of predicted clusters (singletons
    included) that are exact.
    """
    cells: Counter[tuple[tuple[int, Hashable], Hashable]] = Counter()
    cluster_sizes: Counter[tuple[int, Hashable]] = Counter()
    person_sizes: Counter[Hashable] = Counter()
    missing = 0
    for key, person in truth.items():
        if key in predicted:
            # Tagging ids keeps a linker's cluster id from colliding with a singleton's key.
            cluster: tuple[int, Hashable] = (0, predicted[key])
        else:
            cluster = (1, key)
            missing += 1
        cells[(cluster, person)] += 1
        cluster_sizes[cluster] += 1
        person_sizes[person] += 1

    true_positive_pairs = sum(_pairs(n) for n in cells.values())
    predicted_pairs = sum(_pairs(n) for n in cluster_sizes.values())
    true_pairs = sum(_pairs(n) for n in person_sizes.values())
    precision = _ratio(true_positive_pairs, predicted_pairs)
    recall = _ratio(true_positive_pairs, true_pairs)

    # A cell is an exact cluster when it holds the whole predicted cluster and the whole person.
    exact = sum(
        1
        for (cluster, person), n in cells.items()
        if n == cluster_sizes[cluster] == person_sizes[person]
    )
    # Persons not split: all their records landed in one predicted cluster (maybe with others).
    unsplit = sum(1 for (_, person), n in cells.items() if n == person_sizes[person])
    cluster_precision = _ratio(exact, len(cluster_sizes))
    cluster_recall = _ratio(exact, len(person_sizes))

    return {
        "records": len(truth),
        "records_missing_from_predicted": missing,
        "records_not_in_truth": sum(1 for key in predicted if key not in truth),
        "true_persons": len(person_sizes),
        "predicted_clusters": len(cluster_sizes),
        "true_pairs": true_pairs,
        "predicted_pairs": predicted_pairs,
        "true_positive_pairs": true_positive_pairs,
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "exact_clusters": exact,
        "exact_cluster_match": cluster_recall,
        "cluster_precision": cluster_precision,
        "cluster_recall": cluster_recall,
        "cluster_f1": _f1(cluster_precision, cluster_recall),
        "persons_not_split": _ratio(unsplit, len(person_sizes)),
    }


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value).replace("|", "\\|")


def format_table(rows: Sequence[Mapping[str, object]], columns: Sequence[str] = ()) -> str:
    """A markdown table of `rows` (dicts), with `columns` or else the first row's keys as header.

    Floats show 4 decimals (precision/recall differences between linkers sit in the third),
    ints get thousands separators, a missing value is blank.
    """
    if not rows:
        return ""
    header = list(columns) or list(rows[0])
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c, "")) for c in header) + " |")
    return "\n".join(lines)


def agency_pair_scores(
    predicted: Mapping[RecordKey, Hashable], truth: Mapping[RecordKey, Hashable]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Pairwise precision, recall and F1 for each pair of agencies (an agency with itself too).

    A pair of records counts for (X, Y), X <= Y, when one is X's and the other Y's. Counted from
    per-cluster and per-person agency counts, like pairwise_scores, never by enumerating pairs.
    """
    cells: Counter[tuple[Hashable, Hashable, str]] = Counter()
    clusters: Counter[tuple[Hashable, str]] = Counter()
    persons: Counter[tuple[Hashable, str]] = Counter()
    for key, person in truth.items():
        cluster = (0, predicted[key]) if key in predicted else (1, key)
        agency = key[0]
        cells[(cluster, person, agency)] += 1
        clusters[(cluster, agency)] += 1
        persons[(person, agency)] += 1
    agencies = sorted({key[0] for key in truth})

    def pair_counts(counter: Counter, group_index: int) -> Counter[tuple[str, str]]:
        by_group: dict[Hashable, dict[str, int]] = {}
        for key, n in counter.items():
            group = key[:group_index]
            by_group.setdefault(group, {})[key[group_index]] = n
        totals: Counter[tuple[str, str]] = Counter()
        for counts in by_group.values():
            names = sorted(counts)
            for i, x in enumerate(names):
                totals[(x, x)] += _pairs(counts[x])
                for y in names[i + 1 :]:
                    totals[(x, y)] += counts[x] * counts[y]
        return totals

    true_positive = pair_counts(cells, 2)
    predicted_pairs = pair_counts(clusters, 1)
    true_pairs = pair_counts(persons, 1)
    scores = {}
    for i, x in enumerate(agencies):
        for y in agencies[i:]:
            tp, pp, tt = true_positive[(x, y)], predicted_pairs[(x, y)], true_pairs[(x, y)]
            if not tt and not pp:
                continue
            precision, recall = _ratio(tp, pp), _ratio(tp, tt)
            scores[(x, y)] = {
                "true_pairs": tt,
                "predicted_pairs": pp,
                "precision": precision,
                "recall": recall,
                "f1": _f1(precision, recall),
            }
    return scores


def household_precision(
    predicted: Mapping[RecordKey, Hashable],
    truth: Mapping[RecordKey, Hashable],
    household: Mapping[RecordKey, Hashable],
) -> dict[str, Any]:
    """Precision over the predicted pairs whose two records belong to one true household.

    Members of one household share surname and address (twins the date of birth too), so these
    are the pairs a linker most often joins wrongly (DOMAIN.md). Records without a household
    are left out.
    """
    cells: Counter[tuple[Hashable, Hashable, Hashable]] = Counter()
    clusters: Counter[tuple[Hashable, Hashable]] = Counter()
    for key, person in truth.items():
        home = household.get(key)
        if not home:
            continue
        cluster = (0, predicted[key]) if key in predicted else (1, key)
        cells[(cluster, home, person)] += 1
        clusters[(cluster, home)] += 1
    predicted_pairs = sum(_pairs(n) for n in clusters.values())
    true_positive = sum(_pairs(n) for n in cells.values())
    return {
        "predicted_pairs": predicted_pairs,
        "wrong_pairs": predicted_pairs - true_positive,
        "precision": _ratio(true_positive, predicted_pairs),
    }
