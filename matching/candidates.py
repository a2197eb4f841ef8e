"""Candidate pairs: which pairs of records are compared at all, their comparison levels and weights.

A pair is compared when the two records share a blocking value (matching.tokens): a union of
rules, each cheap and each catching what the others miss (LINKAGE.md). A record with no date of
birth is reached through its names and address, one with no address through its names and date
of birth; whatever a record has, some rule brings it to its other records.
"""

import numpy as np

from matching import scoring
from matching.tokens import Keys

# In the order pairs are attributed to them: each pair comes from the first block it shares.
BLOCKS = (
    "nhs",
    "upn",
    "pnc",
    "block_dfi",
    "block_dh",
    "block_dp",
    "block_sy",
    "block_fd",
    "block_fs",
    # The same home: a household's members are compared with each other, so a record whose
    # names are both mistyped or swapped still meets its other records there.
    "address_key",
    "dwelling",
    "block_hs",
    "block_hf",
    "block_nn",
    "block_ss",
)
# Not district and year of birth alone: at 100,000 records it made four pairs in five and found
# almost nothing the others miss (21 of 30,676 true pairs of the generator's 3,000 people). Not
# the date of birth alone, nor surname sound and year: at a million records they made 62 of 82
# million pairs; with one more thing each (matching.tokens) they lose 2 of 30,648 true pairs.
# A block bigger than this is a placeholder value many records share, or a name too common to
# say anything on its own: its pairs would cost more than they find, so it is skipped (its
# records still meet through the other blocks) and counted.
MAX_BLOCK = 400
# Blocks on names alone grow with the square of the population: kept to groups a family or two
# could fill; a bigger group is a common name, whose records meet through their other blocks.
MAX_BLOCK_OF = {"block_fs": 200, "block_ss": 100}
PAIR_CHUNK = 2_000_000


def candidate_pairs(
    keys: Keys, focus: np.ndarray | None, figures=None
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (left < right) sharing a blocking value, at least one side in `focus`.

    Each pair comes once: from the first block in BLOCKS that produces it (a later block skips a
    pair whose records already share an earlier block's value), so no global de-duplication of
    tens of millions of pairs is needed.
    """
    lefts, rights = [], []
    skipped_blocks = 0
    for number, block in enumerate(BLOCKS):
        values = keys[block]
        present = np.flatnonzero(values != 0)
        order = present[np.argsort(values[present], kind="stable")]
        sorted_values = values[order]
        if len(order) < 2:
            continue
        starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
        sizes = np.diff(np.r_[starts, len(order)])
        group_of = np.repeat(np.arange(len(starts)), sizes)
        too_big = sizes > MAX_BLOCK_OF.get(block, MAX_BLOCK)
        skipped_blocks += int(too_big.sum())
        usable = ~too_big[group_of]
        if focus is not None:
            # Only groups holding a focus record can produce a pair with one.
            focus_groups = np.zeros(len(starts), dtype=bool)
            focus_groups[group_of[focus[order]]] = True
            usable &= focus_groups[group_of]
        end_of_group = np.repeat(starts + sizes, sizes)
        positions = np.flatnonzero(usable)
        for offset in range(1, MAX_BLOCK):
            positions = positions[positions + offset < end_of_group[positions]]
            if not len(positions):
                break
            a = order[positions]
            b = order[positions + offset]
            left, right = np.minimum(a, b), np.maximum(a, b)
            keep = np.ones(len(left), dtype=bool)
            if focus is not None:
                keep &= focus[left] | focus[right]
            for earlier in BLOCKS[:number]:
                earlier_left = keys[earlier][left]
                keep &= ~((earlier_left != 0) & (earlier_left == keys[earlier][right]))
            # int32 halves the largest arrays a run holds (tens of millions of pairs).
            lefts.append(left[keep].astype(np.int32))
            rights.append(right[keep].astype(np.int32))
    if figures is not None:
        figures["blocks_skipped_as_too_big"] = skipped_blocks
    if not lefts:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32)
    return np.concatenate(lefts), np.concatenate(rights)


def pair_levels(keys: Keys, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    parts = [
        scoring.comparison_levels(
            keys, left[start : start + PAIR_CHUNK], right[start : start + PAIR_CHUNK]
        )
        for start in range(0, len(left), PAIR_CHUNK)
    ]
    if not parts:
        return np.zeros((0, len(scoring.COMPARISONS)), dtype=np.int8)
    return np.concatenate(parts)


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
