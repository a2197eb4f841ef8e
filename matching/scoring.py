"""Fellegi-Sunter scoring of record pairs from their keyed values, with m and u from the data.

Every comparison works on the packed keys of matching.tokens (keyed tokens and Bloom
encodings), never on plaintext. Each comparison puts a pair at one level (for names: exact,
similar, a little similar, different; or missing when either record lacks the field). The
weight of a level is log2(m/u): m is how often true matches sit at that level, u how often
non-matches do. u is measured on random pairs (nearly all non-matches); m and the share of
matches among candidate pairs are estimated by expectation maximisation over the candidate pairs
(as Splink does on plaintext), so the weights follow this partnership's data, not constants.
"""

from dataclasses import dataclass

import numpy as np

from matching.tokens import Keys, keys_count

MISSING = -1


@dataclass(frozen=True)
class Comparison:
    name: str
    label: str
    levels: tuple[str, ...]  # level 0 is always "disagree"; the last, full agreement
    # Starting m per level for EM, from what linkage studies of UK registers report.
    m_start: tuple[float, ...]
    # u per level in a population of a few thousand families (measured on the synthetic
    # generator's): what a young partnership's handful of records is blended with.
    u_start: tuple[float, ...]


COMPARISONS: tuple[Comparison, ...] = (
    Comparison("nhs", "NHS number", ("different", "same"), (0.05, 0.95), (0.9997, 0.0003)),
    Comparison("upn", "UPN", ("different", "same"), (0.05, 0.95), (0.9992, 0.0008)),
    Comparison("pnc", "PNC id", ("different", "same"), (0.05, 0.95), (0.99, 0.01)),
    Comparison(
        "forename",
        "Forename",
        ("different", "a little similar", "similar", "same or nickname"),
        (0.03, 0.04, 0.08, 0.85),
        (0.9942, 0.0028, 0.0001, 0.0029),
    ),
    Comparison(
        "surname",
        "Surname",
        ("different", "a little similar", "similar", "same"),
        (0.05, 0.04, 0.06, 0.85),
        (0.993, 0.0029, 0.0006, 0.0035),
    ),
    Comparison(
        "dob",
        "Date of birth",
        (
            "different",
            "same decade",
            "same year",
            "same year and month",
            "day and month swapped",
            "same",
        ),
        (0.01, 0.01, 0.02, 0.03, 0.03, 0.90),
        (0.8622, 0.1211, 0.015, 0.0013, 0.00003, 0.0003),
    ),
    # Postcode and address in one comparison: a shared dwelling implies a shared postcode, and
    # counting both would give a household's members the same evidence twice.
    Comparison(
        "location",
        "Address and postcode",
        (
            "different",
            "same district or street",
            "same postcode",
            "same house number and similar address",
            "same dwelling",
        ),
        (0.25, 0.10, 0.25, 0.05, 0.35),
        (0.905, 0.088, 0.0064, 0.0004, 0.0002),
    ),
    Comparison("gender", "Sex", ("different", "same"), (0.02, 0.98), (0.5, 0.5)),
)
COMPARISON_NAMES = tuple(c.name for c in COMPARISONS)

# Dice coefficients of Bloom encodings: 0.8 is about one letter wrong in a name of six to eight
# letters; 0.6 about two, or a shared half of a double-barrelled surname.
SIMILAR_DICE = 0.8
LITTLE_SIMILAR_DICE = 0.6
ADDRESS_SIMILAR_DICE = 0.7

_WORD_POPCOUNT = np.bitwise_count


def _dice(blooms: np.ndarray, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dice of the two records' encodings per pair, and whether both records have one."""
    a = blooms[left]
    b = blooms[right]
    count_a = _WORD_POPCOUNT(a).sum(axis=1, dtype=np.int32)
    count_b = _WORD_POPCOUNT(b).sum(axis=1, dtype=np.int32)
    shared = _WORD_POPCOUNT(a & b).sum(axis=1, dtype=np.int32)
    present = (count_a > 0) & (count_b > 0)
    total = np.maximum(count_a + count_b, 1)
    return 2.0 * shared / total, present


def _exact(keys: Keys, field: str, left: np.ndarray, right: np.ndarray):
    a = keys[field][left]
    b = keys[field][right]
    return a == b, (a != 0) & (b != 0)


def comparison_levels(keys: Keys, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Level of every comparison for each pair (left[i], right[i]); MISSING where a side lacks it.

    Returns an int8 array of shape (pairs, comparisons), columns in COMPARISONS order.
    """
    levels = np.full((len(left), len(COMPARISONS)), MISSING, dtype=np.int8)

    def put(column: int, present: np.ndarray, level: np.ndarray) -> None:
        levels[:, column] = np.where(present, level, MISSING)

    for column, field in enumerate(("nhs", "upn", "pnc")):
        same, present = _exact(keys, field, left, right)
        put(column, present, same.astype(np.int8))

    # Forename and surname keyed the wrong way round agree as a set: both count as the same.
    names_swapped, _ = _exact(keys, "names_unordered", left, right)
    for column, field in ((3, "forename"), (4, "surname")):
        dice, present = _dice(keys[f"bloom_{field}"], left, right)
        same, both = _exact(keys, field, left, right)
        level = np.select(
            [(same & both) | names_swapped, dice >= SIMILAR_DICE, dice >= LITTLE_SIMILAR_DICE],
            [3, 2, 1],
            0,
        )
        put(column, present | both, level.astype(np.int8))

    same_dob, present = _exact(keys, "dob", left, right)
    same_pair, _ = _exact(keys, "dob_pair", left, right)
    same_ym, _ = _exact(keys, "dob_ym", left, right)
    same_y, _ = _exact(keys, "dob_y", left, right)
    same_decade, _ = _exact(keys, "dob_decade", left, right)
    level = np.select([same_dob, same_pair, same_ym, same_y, same_decade], [5, 4, 3, 2, 1], 0)
    put(5, present, level.astype(np.int8))

    same_postcode, has_postcode = _exact(keys, "postcode", left, right)
    same_outward, _ = _exact(keys, "outward", left, right)
    dice, has_address = _dice(keys["bloom_address"], left, right)
    similar_address = has_address & (dice >= ADDRESS_SIMILAR_DICE)
    same_dwelling, both = _exact(keys, "address_key", left, right)
    same_house, _ = _exact(keys, "house", left, right)
    # Neighbours' addresses differ in a digit or two ("12 Mount Way", "14 Mount Way"), so a
    # similar address only counts as a home when the house number agrees too; otherwise it is
    # the same street, worth what the same district is.
    level = np.select(
        [
            same_dwelling & both,
            same_house & similar_address,
            same_postcode & has_postcode,
            (same_outward & has_postcode) | similar_address,
        ],
        [4, 3, 2, 1],
        0,
    )
    put(6, has_postcode | has_address, level.astype(np.int8))

    same, present = _exact(keys, "gender", left, right)
    put(7, present, same.astype(np.int8))
    return levels


# --- Parameters -----------------------------------------------------------------------------------


@dataclass
class Parameters:
    """m and u per comparison level, and the prior share of matches among candidate pairs."""

    m: list[list[float]]
    u: list[list[float]]
    prior: float

    def as_json(self) -> dict:
        return {
            "comparisons": list(COMPARISON_NAMES),
            "m": [[float(x) for x in row] for row in self.m],
            "u": [[float(x) for x in row] for row in self.u],
            "prior": float(self.prior),
        }

    @classmethod
    def from_json(cls, data: dict) -> "Parameters":
        if list(data.get("comparisons", [])) != list(COMPARISON_NAMES):
            raise ValueError("Stored linkage parameters are for a different set of comparisons.")
        return cls(m=data["m"], u=data["u"], prior=data["prior"])

    def level_weights(self) -> np.ndarray:
        """log2(m/u) per (comparison, level), padded with 0; a MISSING level indexes the 0 pad."""
        width = max(len(c.levels) for c in COMPARISONS) + 1
        table = np.zeros((len(COMPARISONS), width))
        for index, comparison in enumerate(COMPARISONS):
            for level in range(len(comparison.levels)):
                table[index, level] = np.log2(self.m[index][level] / self.u[index][level])
        return table

    def prior_weight(self) -> float:
        return float(np.log2(self.prior / (1 - self.prior)))


def match_weights(levels: np.ndarray, parameters: Parameters) -> np.ndarray:
    """Match weight (log2 odds of a match) of each pair from its comparison levels."""
    table = parameters.level_weights()
    columns = np.arange(len(COMPARISONS))
    # MISSING (-1) indexes the table's last column, which is 0: a missing field is no evidence.
    return parameters.prior_weight() + table[columns, levels].sum(axis=1)


def probability(weights: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp2(-np.asarray(weights, dtype=float)))


# Floor on any m or u: a level never seen among matches is rare, not impossible, and a zero would
# make one field's disagreement outweigh every other agreement.
_FLOOR = 1e-6
U_PRIOR_PAIRS = 10_000


def u_estimate(keys: Keys, *, samples: int = 1_000_000, seed: int = 0) -> list[list[float]]:
    """u per comparison level from random pairs of records: nearly all of them are non-matches."""
    n = keys_count(keys)
    rng = np.random.default_rng(seed)
    samples = min(samples, max(n * (n - 1) // 2, 1))
    left = rng.integers(0, n, samples)
    right = rng.integers(0, n, samples)
    keep = left != right
    levels = comparison_levels(keys, left[keep], right[keep])
    u = []
    for index, comparison in enumerate(COMPARISONS):
        column = levels[:, index]
        observed = column[column != MISSING]
        counts = np.bincount(observed, minlength=len(comparison.levels)).astype(float)
        # Blended with U_PRIOR_PAIRS pairs' worth of u_start: a young partnership's few
        # records give few random pairs (two records, one pair), and a million pairs outweigh it.
        counts = counts + U_PRIOR_PAIRS * np.array(comparison.u_start)
        u.append([float(x) for x in np.maximum(counts / counts.sum(), _FLOOR)])
    return u


def level_patterns(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of `levels` and how often each occurs.

    Each row is packed into one integer (a base-8 digit per comparison) first: np.unique over
    integers is a plain sort, many times faster than its row-wise form on millions of pairs.
    """
    digits = (levels.astype(np.int64) + 1) * (8 ** np.arange(levels.shape[1], dtype=np.int64))
    codes, counts = np.unique(digits.sum(axis=1), return_counts=True)
    patterns = np.zeros((len(codes), levels.shape[1]), dtype=np.int8)
    for column in range(levels.shape[1]):
        patterns[:, column] = (codes // 8**column) % 8 - 1
    return patterns, counts


def em_estimate(
    levels: np.ndarray,
    u: list[list[float]],
    *,
    records: int,
    candidate_pairs: int | None = None,
    iterations: int = 200,
    tolerance: float = 1e-7,
) -> Parameters:
    """m by EM over the candidate pairs' levels (Fellegi-Sunter), with u from random pairs and
    the prior that two random records match.

    EM fits a two-class mixture to the candidates: matches (m) and candidate non-matches. The
    latter agree far more often than random pairs (blocking made them share a date of birth or
    a district), so EM gets its own u for them, starting from the random-pair estimate; using
    that u for weights would make a different date of birth evidence *for* a match. So, as Splink
    does, the weights are log2(m / u) with u measured on random pairs, and the prior is the
    expected number of matches over all pairs of `records`, not the share among candidates.

    Runs over the distinct level patterns with their counts, so millions of pairs cost no more
    than the few thousand patterns they show.
    """
    m = [list(c.m_start) for c in COMPARISONS]
    if not len(levels):
        # Nothing to learn from yet (a first, tiny extract): the starting values, and a prior of
        # one match per record, until the next estimate.
        prior = float(np.clip(1 / max(records, 2), 1e-12, 0.5))
        return Parameters(m=m, u=[[float(x) for x in row] for row in u], prior=prior)
    patterns, counts = level_patterns(levels)
    counts = counts.astype(float)
    random_u = [list(row) for row in u]
    u = [list(row) for row in u]
    prior = 0.1
    for _ in range(iterations):
        p = probability(match_weights(patterns, Parameters(m=m, u=u, prior=prior)))
        matched = p * counts
        unmatched = (1 - p) * counts
        new_m, new_u = [], []
        for index, comparison in enumerate(COMPARISONS):
            column = patterns[:, index]
            present = column != MISSING
            width = len(comparison.levels)
            m_totals = np.bincount(column[present], weights=matched[present], minlength=width)
            u_totals = np.bincount(column[present], weights=unmatched[present], minlength=width)
            # Pseudo-counts from the starting values: a comparison seldom present (a UPN only
            # schools hold) keeps sensible values instead of ones fitted to a handful of pairs.
            m_totals = m_totals + np.array(comparison.m_start)
            u_totals = u_totals + np.array(u[index])
            new_m.append(list(np.maximum(m_totals / m_totals.sum(), _FLOOR)))
            new_u.append(list(np.maximum(u_totals / u_totals.sum(), _FLOOR)))
        new_prior = float(np.clip(matched.sum() / counts.sum(), 1e-9, 1 - 1e-9))
        change = abs(new_prior - prior)
        for old, new in ((m, new_m), (u, new_u)):
            for row_old, row_new in zip(old, new, strict=True):
                change = max(change, max(abs(a - b) for a, b in zip(row_old, row_new, strict=True)))
        m, u, prior = new_m, new_u, new_prior
        if change < tolerance:
            break
    all_pairs = max(records * (records - 1) / 2, 1.0)
    # `levels` may be a sample of the candidate pairs: the share of matches applies to them all.
    expected_matches = prior * (candidate_pairs or counts.sum())
    population_prior = float(np.clip(expected_matches / all_pairs, 1e-12, 0.5))
    return Parameters(m=m, u=random_u, prior=population_prior)


def reasons(levels_row: np.ndarray, parameters: Parameters) -> dict[str, dict]:
    """Comparison -> the level a pair reached and its weight, for reviewers and explanations."""
    table = parameters.level_weights()
    found = {}
    for index, comparison in enumerate(COMPARISONS):
        level = int(levels_row[index])
        if level == MISSING:
            found[comparison.name] = {"label": comparison.label, "level": "missing", "weight": 0.0}
        else:
            found[comparison.name] = {
                "label": comparison.label,
                "level": comparison.levels[level],
                "weight": round(float(table[index, level]), 2),
            }
    return found


def rule_names(levels: np.ndarray) -> list[str]:
    """The deterministic rule each pair also meets, if any, for explanations; else "score"."""
    column = {name: levels[:, index] for index, name in enumerate(COMPARISON_NAMES)}
    names = np.select(
        [
            column["nhs"] == 1,
            column["upn"] == 1,
            column["pnc"] == 1,
            (column["forename"] == 3) & (column["surname"] == 3) & (column["dob"] == 5),
            (column["surname"] == 3) & (column["dob"] == 5) & (column["location"] >= 2),
        ],
        ["nhs", "upn", "pnc", "name_dob", "surname_dob_postcode"],
        "score",
    )
    return names.tolist()


def family_guards(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs that must not link automatically, and pairs that are clearly different people.

    Fellegi-Sunter treats comparisons as independent, and within a family they are not: a
    mother and her children share surname and address, twins share the date of birth too, and a
    father and son may share a forename. Their shared fields add up to a high score. DOMAIN.md:
    most false links are within a household. So, unless an NHS number, UPN or PNC id agrees:
    - a pair whose forenames clearly differ, or whose dates of birth are decades apart, is
      never linked automatically (a reviewer sees it if its score is high);
    - such a pair is clearly two people (no chain of links may join them) when a second thing
      also differs (sex, an identifier, or the date of birth as well as the forename), or when
      the dates of birth are decades apart;
    - an identifier shared by records whose forename and date of birth both differ is a
      relative's, copied onto the wrong record: it counts for nothing, and the two are apart.
    """
    column = {name: levels[:, index] for index, name in enumerate(COMPARISON_NAMES)}
    forename_differs = (column["forename"] >= 0) & (column["forename"] <= 1)
    # Not a slip of a day or a swapped day and month: a different year. Brothers both called
    # Muhammad (a calling name is used day to day) are born a year or two apart.
    dob_differs = (column["dob"] >= 0) & (column["dob"] <= 2)
    decades_apart = column["dob"] == 0
    # A shared identifier with a different forename and date of birth is a relative's number
    # keyed on the wrong record (a mother's NHS number on her baby's), not evidence.
    relatives_number = forename_differs & dob_differs
    identifier_agrees = (
        (column["nhs"] == 1) | (column["upn"] == 1) | (column["pnc"] == 1)
    ) & ~relatives_number
    identifier_differs = (column["nhs"] == 0) | (column["upn"] == 0) | (column["pnc"] == 0)
    # A placeholder forename ("Baby", "Unknown") is as ambiguous as a different one: newborn
    # twins are both "Baby Smith".
    not_automatic = ~identifier_agrees & (
        forename_differs | dob_differs | (column["forename"] == MISSING)
    )
    clearly_different = relatives_number | (
        ~identifier_agrees
        & (
            (
                forename_differs
                & (
                    (column["gender"] == 0)
                    | identifier_differs
                    | ((column["dob"] >= 0) & (column["dob"] <= 3))
                )
            )
            # A father and son of one name: decades apart is two people, whatever else agrees.
            | decades_apart
            | (dob_differs & identifier_differs)
        )
    )
    return not_automatic, clearly_different


def alike_but_one(levels: np.ndarray) -> np.ndarray:
    """Pairs alike in all but one thing: the forename, or the year of birth (same decade).

    The forename: twins, or one person known by a middle or calling name, or a placeholder
    ("Baby"). The year: brothers of one calling name, or a year keyed wrong. Pairwise each looks
    like both; linkage tells them apart by context (see linkage.region_cluster).
    """
    column = {name: levels[:, index] for index, name in enumerate(COMPARISON_NAMES)}
    year_slip = (column["forename"] == 3) & (column["dob"] >= 1) & (column["dob"] <= 2)
    home_and_surname = (column["surname"] >= 2) & (column["location"] >= 2)
    return only_forename_differs(levels) | (year_slip & home_and_surname)


def only_forename_differs(levels: np.ndarray) -> np.ndarray:
    """Pairs alike in everything but the forename: same surname, date of birth and home.

    Twins, or one person known by a middle or calling name ("Muhammad Usman" as "Usman"), or a
    placeholder forename ("Baby"). The two look the same pairwise; linkage tells them apart by
    context (see linkage.region_cluster).
    """
    column = {name: levels[:, index] for index, name in enumerate(COMPARISON_NAMES)}
    return (
        (column["forename"] <= 1)
        & (column["surname"] >= 2)
        & (column["dob"] >= 4)
        & (column["location"] >= 2)
    )
