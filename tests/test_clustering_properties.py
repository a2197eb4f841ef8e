"""Property-based tests of the chain guard: whatever the scores, clustering never puts two records
that are clearly different people (or that a reviewer said are different) into one person, and
always honours a reviewer's "same person" unless another decision contradicts it."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from matching import scoring
from matching.linkage.clusters import Thresholds, region_cluster
from matching.tokens import RECORD_DTYPE, keys_from_packed

WIDTHS = [len(c.levels) for c in scoring.COMPARISONS]
PARAMETERS = scoring.Parameters(
    m=[list(c.m_start) for c in scoring.COMPARISONS],
    u=[list(c.u_start) for c in scoring.COMPARISONS],
    prior=1e-4,
)
THRESHOLDS = Thresholds(upper=0.99, lower=0.5, guard=-10.0)


@st.composite
def scored_pairs(draw):
    size = draw(st.integers(min_value=2, max_value=12))
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, size - 1), st.integers(0, size - 1)).filter(
                lambda p: p[0] != p[1]
            ),
            min_size=1,
            max_size=40,
            unique_by=lambda p: (min(p), max(p)),
        )
    )
    left = np.array([min(p) for p in pairs], dtype=np.int32)
    right = np.array([max(p) for p in pairs], dtype=np.int32)
    levels = np.array(
        [[draw(st.integers(-1, width - 1)) for width in WIDTHS] for _ in pairs], dtype=np.int8
    )
    decided = draw(st.lists(st.sampled_from(range(len(pairs))), max_size=4, unique=True))
    split = draw(st.integers(0, len(decided)))
    confirmed = [(int(left[i]), int(right[i])) for i in decided[:split]]
    rejected = [(int(left[i]), int(right[i])) for i in decided[split:]]
    return size, left, right, levels, confirmed, rejected


def cluster(size, left, right, levels, confirmed, rejected):
    # region_cluster reads the keys only to count the records and to order ties.
    keys = keys_from_packed(np.zeros(size, dtype=RECORD_DTYPE).tobytes())
    weights = scoring.match_weights(levels, PARAMETERS)
    result = region_cluster(
        keys,
        left,
        right,
        levels,
        weights,
        thresholds=THRESHOLDS,
        confirmed=confirmed,
        rejected=rejected,
    )
    return result, weights


@settings(max_examples=300, deadline=None)
@given(scored_pairs())
def test_clearly_different_or_rejected_records_never_share_a_person(case):
    size, left, right, levels, confirmed, rejected = case
    result, weights = cluster(*case)
    _, family_different = scoring.family_guards(levels)
    apart = (weights < THRESHOLDS.guard) | family_different
    if confirmed:
        # A reviewer's "same person" is applied before any score and may bind records the
        # scores call different (that is what a decision is for); the guard covers the rest.
        return
    for a, b in zip(left[apart].tolist(), right[apart].tolist(), strict=True):
        assert result.labels[a] != result.labels[b]
    for a, b in rejected:
        assert result.labels[a] != result.labels[b]


@settings(max_examples=300, deadline=None)
@given(scored_pairs())
def test_confirmed_pairs_always_share_a_person_and_review_items_span_two(case):
    size, left, right, levels, confirmed, rejected = case
    result, _ = cluster(*case)
    for a, b in confirmed:
        assert result.labels[a] == result.labels[b]
    for a, b, _weight, _reason, _levels in result.review:
        if _reason == "score":
            assert result.labels[a] != result.labels[b]


@settings(max_examples=200, deadline=None)
@given(scored_pairs())
def test_every_linked_record_names_a_partner_in_its_own_person(case):
    result, _ = cluster(*case)
    for record, partner in enumerate(result.best_partner.tolist()):
        if partner >= 0:
            assert result.labels[record] == result.labels[partner]
