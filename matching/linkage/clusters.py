"""Clustering: a region's scored pairs -> clusters of records, each cluster one person.

Links are applied strongest first under the chain guard (no cluster holds two records known to
be different people), with reviewers' decisions as must-links and cannot-links.
"""

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from matching import scoring
from matching.model import content_hash, pair_mix
from matching.models import ReviewItem
from matching.tokens import Keys, keys_count

SECOND_PASS = True


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
