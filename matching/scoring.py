"""Fellegi-Sunter scoring of record pairs from their keyed values, with m and u from the data.

Every comparison works on the packed keys of matching.tokens (keyed tokens and Bloom
encodings), never on plaintext. Each comparison puts a pair at one level (for names: exact,
similar, a little similar, different; or missing when either record lacks the field: missing
is no evidence either way). The weight of a level is log2(m/u): m is how often true matches sit
at that level, u how often non-matches do.

How the parameters are found (LINKAGE.md, after Splink):
- u from random pairs of records, nearly all of them non-matches;
- term frequencies: agreeing on a rare surname or forename weighs more than on a common one,
  counted on the keyed values (a value's share of the records is countable without reading it);
- m by expectation maximisation over candidate pairs, preferring pairs between datasets (which
  hold matches whenever two agencies know the same people, whatever order they arrived in), and
  starting from, and held near, prior m-probabilities from linkage studies of UK registers;
- a fit is checked before use (model_check): one that found almost no matches, or where
  agreement is not more likely among matches than among random pairs, is refused, and the prior
  m-probabilities are used instead, with the figures saying why.
"""

from dataclasses import dataclass, field

import numpy as np

from matching.tokens import Keys, keys_count

MISSING = -1

# Levels of each comparison by name, so rules read as words rather than numbers.
FORENAME_DIFFERENT, FORENAME_LITTLE, FORENAME_SIMILAR, FORENAME_SAME = 0, 1, 2, 3
SURNAME_DIFFERENT, SURNAME_LITTLE, SURNAME_SIMILAR, SURNAME_SAME = 0, 1, 2, 3
MIDDLE_DIFFERENT, MIDDLE_INITIAL, MIDDLE_SAME = 0, 1, 2
(
    DOB_DIFFERENT,
    DOB_DECADE,
    DOB_YEAR,
    DOB_DAY_MONTH,
    DOB_ONE_DIGIT,
    DOB_YEAR_MONTH,
    DOB_SWAPPED,
    DOB_SAME,
) = range(8)
(
    LOCATION_DIFFERENT,
    LOCATION_AREA,
    LOCATION_POSTCODE_OR_STREET,
    LOCATION_HOUSE_SIMILAR,
    LOCATION_DWELLING,
) = range(5)


@dataclass(frozen=True)
class Comparison:
    name: str
    label: str
    levels: tuple[str, ...]  # level 0 is always "different"; the last, full agreement
    # Prior m per level: where EM starts, and what it is held near (PRIOR_PAIRS). From what
    # linkage studies of UK registers report of keying error rates.
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
        (
            "different",
            "a little similar, sounds the same, or only an initial",
            "similar, or the other's middle name",
            "same or nickname",
        ),
        (0.03, 0.04, 0.08, 0.85),
        (0.9942, 0.0028, 0.0001, 0.0029),
    ),
    Comparison(
        "middle",
        "Middle name",
        ("different", "same initial", "same"),
        (0.08, 0.42, 0.50),
        (0.92, 0.06, 0.02),
    ),
    Comparison(
        "surname",
        "Surname",
        (
            "different",
            "a little similar, or sounds the same",
            "similar, or one part of a double-barrelled name",
            "same",
        ),
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
            "same day and month, year mistyped",
            "one digit different",
            "same year and month",
            "day and month swapped",
            "same",
        ),
        (0.01, 0.01, 0.02, 0.02, 0.03, 0.03, 0.03, 0.85),
        (0.8622, 0.1211, 0.014, 0.0025, 0.001, 0.0013, 0.00003, 0.0003),
    ),
    # Postcode and address in one comparison: a shared dwelling implies a shared postcode, and
    # counting both would give a household's members the same evidence twice.
    Comparison(
        "location",
        "Address and postcode",
        (
            "different",
            "same district or a similar address",
            "same postcode or street",
            "same house number and similar address",
            "same dwelling",
        ),
        (0.25, 0.10, 0.25, 0.05, 0.35),
        (0.905, 0.088, 0.0064, 0.0004, 0.0002),
    ),
    Comparison("gender", "Sex", ("different", "same"), (0.02, 0.98), (0.5, 0.5)),
)
COMPARISON_NAMES = tuple(c.name for c in COMPARISONS)
_COLUMN = {name: index for index, name in enumerate(COMPARISON_NAMES)}

# Dice coefficients of Bloom encodings: 0.8 is about one letter wrong in a name of six to eight
# letters; 0.6 about two, or a shared half of a double-barrelled surname.
SIMILAR_DICE = 0.8
LITTLE_SIMILAR_DICE = 0.6
ADDRESS_SIMILAR_DICE = 0.7
# Seven of a date's eight digits in place: one keyed digit wrong; six: two (a transposition).
DOB_DIGITS_DICE = 0.8
DOB_YEAR_SLIP_DICE = 0.7

_WORD_POPCOUNT = np.bitwise_count


def _dice(blooms: np.ndarray, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dice of the two records' encodings per pair, and whether both records have one."""
    a = blooms[left]
    b = blooms[right]
    if a.ndim == 1:  # a one-word encoding
        a, b = a[:, None], b[:, None]
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


def _across(keys: Keys, one: str, other: str, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Whether field `one` of either record equals field `other` of the other (both present)."""
    a_one, b_other = keys[one][left], keys[other][right]
    b_one, a_other = keys[one][right], keys[other][left]
    return ((a_one == b_other) & (a_one != 0)) | ((b_one == a_other) & (b_one != 0))


def comparison_levels(keys: Keys, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Level of every comparison for each pair (left[i], right[i]); MISSING where a side lacks it.

    Returns an int8 array of shape (pairs, comparisons), columns in COMPARISONS order.
    """
    levels = np.full((len(left), len(COMPARISONS)), MISSING, dtype=np.int8)

    def put(name: str, present: np.ndarray, level: np.ndarray) -> None:
        levels[:, _COLUMN[name]] = np.where(present, level, MISSING)

    for name in ("nhs", "upn", "pnc"):
        same, present = _exact(keys, name, left, right)
        put(name, present, same.astype(np.int8))

    # Forename and surname keyed the wrong way round agree as a set: both count as the same.
    names_swapped, _ = _exact(keys, "names_unordered", left, right)
    # ... or sound the same the wrong way round (misspelt as well as swapped): both similar.
    swapped_sound = _across(keys, "forename_sound", "surname_sound", left, right) & (
        _across(keys, "surname_sound", "forename_sound", left, right)
    )

    dice, present = _dice(keys["bloom_forename"], left, right)
    same, both = _exact(keys, "forename", left, right)
    # A nickname of several full names meets each of them (Sammy: Samantha and Samuel).
    same |= _across(keys, "forename_alt", "forename", left, right)
    # A middle name given as the forename in one system ("James" for Robert James Smith), and a
    # forename written as an initial only ("J"): forename, middle name and initials share one
    # keyed namespace (matching.tokens), so these compare across fields.
    middle_as_forename = _across(keys, "forename", "middle", left, right)
    initial_only = _across(keys, "forename", "forename_initial", left, right)
    same_sound, _ = _exact(keys, "forename_sound", left, right)
    level = np.select(
        [
            (same & both) | names_swapped,
            (dice >= SIMILAR_DICE) | middle_as_forename | swapped_sound,
            (dice >= LITTLE_SIMILAR_DICE) | initial_only | (same_sound & both),
        ],
        [FORENAME_SAME, FORENAME_SIMILAR, FORENAME_LITTLE],
        FORENAME_DIFFERENT,
    )
    put("forename", present | both, level.astype(np.int8))

    same, both = _exact(keys, "middle", left, right)
    same_initial, both_initial = _exact(keys, "middle_initial", left, right)
    initial_only = _across(keys, "middle", "middle_initial", left, right)
    level = np.select(
        [same & both, same_initial | initial_only], [MIDDLE_SAME, MIDDLE_INITIAL], MIDDLE_DIFFERENT
    )
    put("middle", both_initial, level.astype(np.int8))

    dice, present = _dice(keys["bloom_surname"], left, right)
    same, both = _exact(keys, "surname", left, right)
    # One half of a double-barrelled or changed compound surname ("Smith-Jones" and "Jones").
    part = np.zeros(len(left), dtype=bool)
    for one in ("surname_first", "surname_last"):
        for other in ("surname_first", "surname_last"):
            part |= _across(keys, one, other, left, right)
    same_sound, _ = _exact(keys, "surname_sound", left, right)
    level = np.select(
        [
            (same & both) | names_swapped,
            (dice >= SIMILAR_DICE) | part | swapped_sound,
            (dice >= LITTLE_SIMILAR_DICE) | (same_sound & both),
        ],
        [SURNAME_SAME, SURNAME_SIMILAR, SURNAME_LITTLE],
        SURNAME_DIFFERENT,
    )
    put("surname", present | both, level.astype(np.int8))

    # A date known only to the month or the year (ingest kept what could be read) reaches those
    # levels and no higher: agreeing on less says less.
    same_dob, _ = _exact(keys, "dob", left, right)
    same_pair, _ = _exact(keys, "dob_pair", left, right)
    same_ym, _ = _exact(keys, "dob_ym", left, right)
    same_y, present = _exact(keys, "dob_y", left, right)
    same_decade, _ = _exact(keys, "dob_decade", left, right)
    same_md, has_md = _exact(keys, "dob_md", left, right)
    digits, _ = _dice(keys["bloom_dob"], left, right)
    level = np.select(
        [
            same_dob & (keys["dob"][left] != 0),
            same_pair & (keys["dob_pair"][left] != 0),
            same_ym & (keys["dob_ym"][left] != 0),
            digits >= DOB_DIGITS_DICE,
            # The same day and month, and a year two digits out (1968 keyed 1986): a slip, not a
            # father and son born on the same day forty years apart.
            same_md & has_md & (digits >= DOB_YEAR_SLIP_DICE),
            same_y,
            same_decade,
        ],
        [
            DOB_SAME,
            DOB_SWAPPED,
            DOB_YEAR_MONTH,
            DOB_ONE_DIGIT,
            DOB_DAY_MONTH,
            DOB_YEAR,
            DOB_DECADE,
        ],
        DOB_DIFFERENT,
    )
    put("dob", present, level.astype(np.int8))

    same_postcode, has_postcode = _exact(keys, "postcode", left, right)
    uk = (keys["outward"][left] != 0) & (keys["outward"][right] != 0)
    same_outward = (keys["outward"][left] == keys["outward"][right]) & uk
    dice, has_address = _dice(keys["bloom_address"], left, right)
    similar_address = has_address & (dice >= ADDRESS_SIMILAR_DICE)
    same_key, has_key = _exact(keys, "address_key", left, right)
    same_dwelling, has_dwelling = _exact(keys, "dwelling", left, right)
    same_street, has_street = _exact(keys, "street", left, right)
    same_house, has_house = _exact(keys, "house", left, right)
    # Neighbours' addresses differ in a digit or two ("12 Mount Way", "14 Mount Way"), so a
    # similar address only counts as a home when the house number agrees too; otherwise it is
    # the same street, worth what the same postcode is. Another country's postal code covers a
    # town, so agreeing on one is worth what the same district is.
    level = np.select(
        [
            (same_key & has_key) | (same_dwelling & has_dwelling),
            same_house & has_house & similar_address,
            (same_postcode & has_postcode & uk) | (same_street & has_street),
            same_outward | (same_postcode & has_postcode) | similar_address,
        ],
        [
            LOCATION_DWELLING,
            LOCATION_HOUSE_SIMILAR,
            LOCATION_POSTCODE_OR_STREET,
            LOCATION_AREA,
        ],
        LOCATION_DIFFERENT,
    )
    put("location", has_postcode | has_address, level.astype(np.int8))

    same, present = _exact(keys, "gender", left, right)
    put("gender", present, same.astype(np.int8))
    return levels


# --- Parameters -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """Pairs whose agreement on some comparisons is what relatives share: there, that agreement
    is no evidence of one person, and Fellegi-Sunter's independence would count it anyway."""

    name: str
    label: str
    shared: tuple[str, ...]


# Most specific first: a pair is in the first context whose conditions it meets.
CONTEXTS = (
    Context(
        "birth_at_home",
        "same surname, date of birth and home: one person, or twins",
        ("surname", "dob", "location"),
    ),
    Context("home", "same surname and home: one person, or one household", ("surname", "location")),
    Context("birth", "same surname and date of birth: one person, or twins", ("surname", "dob")),
)


@dataclass
class Parameters:
    """m and u per comparison level, and the prior share of matches among all pairs; with, for
    each family context the data allowed, the share of its pairs that are one person."""

    m: list[list[float]]
    u: list[list[float]]
    prior: float
    contexts: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {
            "comparisons": list(COMPARISON_NAMES),
            "levels": [len(c.levels) for c in COMPARISONS],
            "m": [[float(x) for x in row] for row in self.m],
            "u": [[float(x) for x in row] for row in self.u],
            "prior": float(self.prior),
            "contexts": {name: float(prior) for name, prior in self.contexts.items()},
        }

    @classmethod
    def from_json(cls, data: dict) -> "Parameters":
        if list(data.get("comparisons", [])) != list(COMPARISON_NAMES) or list(
            data.get("levels", [])
        ) != [len(c.levels) for c in COMPARISONS]:
            raise ValueError("Stored linkage parameters are for a different set of comparisons.")
        return cls(m=data["m"], u=data["u"], prior=data["prior"], contexts=data.get("contexts", {}))

    @classmethod
    def starting(cls, *, prior: float = 1e-4) -> "Parameters":
        """The prior m and u: what is used before the data can say better."""
        return cls(
            m=[list(c.m_start) for c in COMPARISONS],
            u=[list(c.u_start) for c in COMPARISONS],
            prior=prior,
        )

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
    """Match weight (log2 odds of a match) of each pair from its comparison levels.

    A pair in a family context (CONTEXTS) is weighed by that context's model where the data
    allowed one: the comparisons relatives share say nothing there, the rest weigh as for any
    pair, and the prior is the share of the context's pairs that are one person.
    """
    weights = _plain_weights(levels, parameters)
    if parameters.contexts:
        contexts = context_of(levels)
        for number, context in enumerate(CONTEXTS):
            prior = parameters.contexts.get(context.name)
            inside = np.flatnonzero(contexts == number)
            if prior is not None and len(inside):
                weights[inside] = context_weights(levels[inside], parameters, context, prior)
    return weights


def _plain_weights(levels: np.ndarray, parameters: Parameters) -> np.ndarray:
    table = parameters.level_weights()
    columns = np.arange(len(COMPARISONS))
    # MISSING (-1) indexes the table's last column, which is 0: a missing field is no evidence.
    return parameters.prior_weight() + table[columns, levels].sum(axis=1)


def context_of(levels: np.ndarray) -> np.ndarray:
    """The index in CONTEXTS of each pair's family context, -1 for none."""
    column = _columns(levels)
    surname = column["surname"] >= SURNAME_SIMILAR
    home = surname & (column["location"] == LOCATION_DWELLING)
    birth = surname & (column["dob"] >= DOB_SWAPPED)
    return np.select([birth & home, home, birth], [0, 1, 2], -1).astype(np.int8)


def context_weights(
    levels: np.ndarray, parameters: Parameters, context: Context, prior: float
) -> np.ndarray:
    """Match weights of pairs in `context`: its prior, and the comparisons it does not share."""
    table = parameters.level_weights()
    for name in context.shared:
        table[_COLUMN[name], :] = 0.0
    columns = np.arange(len(COMPARISONS))
    return float(np.log2(prior / (1 - prior))) + table[columns, levels].sum(axis=1)


# Fewest pairs in a family context to estimate its model from (context_estimate), and the range
# its share of one person's pairs must fall in to be believed.
CONTEXT_MIN_PAIRS = 200
CONTEXT_PRIOR_RANGE = (0.01, 0.999)


def probability(weights: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp2(-np.asarray(weights, dtype=float)))


# --- Term frequencies -----------------------------------------------------------------------------

# Names whose agreement is weighed by how common the name is (LINKAGE.md): the exact level's
# weight becomes log2(m / share of records with that name) instead of log2(m / u).
TF_FIELDS = {"forename": FORENAME_SAME, "surname": SURNAME_SAME}
TF_PRIOR_RECORDS = 1_000


@dataclass
class TermFrequencies:
    """Each keyed value's share of the records that have the field, per TF_FIELDS field."""

    values: dict[str, np.ndarray]  # sorted distinct keyed values
    shares: dict[str, np.ndarray]  # the share of records holding each
    present: dict[str, int] = field(default_factory=dict)  # records with the field

    @classmethod
    def count(cls, keys: Keys) -> "TermFrequencies":
        values, shares, present = {}, {}, {}
        for name in TF_FIELDS:
            column = keys[name]
            held = column[column != 0]
            distinct, counts = np.unique(held, return_counts=True)
            values[name] = distinct
            shares[name] = counts / max(len(held), 1)
            present[name] = len(held)
        return cls(values, shares, present)

    def share(self, name: str, keyed: np.ndarray) -> np.ndarray:
        distinct = self.values[name]
        if not len(distinct):
            return np.zeros(len(keyed))
        positions = np.clip(np.searchsorted(distinct, keyed), 0, len(distinct) - 1)
        found = distinct[positions] == keyed
        return np.where(found, self.shares[name][positions], 0.0)


def tf_adjustments(
    keys: Keys,
    left: np.ndarray,
    right: np.ndarray,
    levels: np.ndarray,
    parameters: Parameters,
    frequencies: TermFrequencies,
) -> np.ndarray:
    """What term frequencies add to each pair's weight: log2(u_exact / share of the value) for
    pairs agreeing exactly on a name, 0 elsewhere. A value never seen counts as rare as one
    record in the population. Not for a name a family context weighs as nothing: there the
    surname is the family's.

    The exact level also holds pairs whose two values differ (a nickname and its full name,
    forename and surname swapped): the commoner of the two sides' shares counts, as Splink's
    greatest(tf_l, tf_r) does, so a pair weighs the same whichever record is on the left - and
    so whatever order the records were loaded in."""
    adjustment = np.zeros(len(left))
    contexts = context_of(levels) if parameters.contexts else np.full(len(left), -1)
    for field_name, exact_level in TF_FIELDS.items():
        column = _COLUMN[field_name]
        shared_here = np.zeros(len(left), dtype=bool)
        for number, context in enumerate(CONTEXTS):
            if field_name in context.shared and context.name in parameters.contexts:
                shared_here |= contexts == number
        agree = np.flatnonzero((levels[:, column] == exact_level) & ~shared_here)
        if not len(agree):
            continue
        u_exact = parameters.u[column][exact_level]
        counts = (
            np.maximum(
                frequencies.share(field_name, keys[field_name][left[agree]]),
                frequencies.share(field_name, keys[field_name][right[agree]]),
            )
            * frequencies.present[field_name]
        )
        # Shrunk towards the comparison's own u by TF_PRIOR_RECORDS records' worth: with a few
        # records every name is "common" (two records sharing one make its share a half).
        shares = (counts + TF_PRIOR_RECORDS * u_exact) / (
            frequencies.present[field_name] + TF_PRIOR_RECORDS
        )
        adjustment[agree] += np.log2(u_exact / shares)
    return adjustment


# Floor on any m or u: a level never seen among matches is rare, not impossible, and a zero would
# make one field's disagreement outweigh every other agreement.
_FLOOR = 1e-6
U_PRIOR_PAIRS = 10_000
# How many pairs' worth of weight the prior m-probabilities carry in EM: enough that a handful of
# matches (a comparison seldom present, a small partnership) cannot pull m far from them, few
# enough that the data decides once it holds thousands of matches.
PRIOR_PAIRS = 200


def u_estimate(keys: Keys, *, samples: int = 1_000_000, seed: int = 0) -> list[list[float]]:
    """u per comparison level from random pairs of records: nearly all of them are non-matches."""
    n = keys_count(keys)
    if n * (n - 1) // 2 <= samples:
        # Few enough records to take every pair: exact, and the same in any order.
        left, right = np.triu_indices(n, 1)
    else:
        rng = np.random.default_rng(seed)
        left = rng.integers(0, n, samples)
        right = rng.integers(0, n, samples)
        keep = left != right
        left, right = left[keep], right[keep]
    levels = comparison_levels(keys, left, right)
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

    Each row is packed into one integer (a base-16 digit per comparison) first: np.unique over
    integers is a plain sort, many times faster than its row-wise form on millions of pairs.
    """
    digits = (levels.astype(np.int64) + 1) * (16 ** np.arange(levels.shape[1], dtype=np.int64))
    codes, counts = np.unique(digits.sum(axis=1), return_counts=True)
    patterns = np.zeros((len(codes), levels.shape[1]), dtype=np.int8)
    for column in range(levels.shape[1]):
        patterns[:, column] = (codes // 16**column) % 16 - 1
    return patterns, counts


@dataclass
class Fit:
    """An EM estimate and what it says about itself, for model_check and the run's figures."""

    parameters: Parameters
    share_of_matches: float  # among the candidate pairs EM saw
    expected_matches: float  # among all candidate pairs
    iterations: int
    converged: bool


def _log_likelihoods(patterns: np.ndarray, table: list[list[float]]) -> np.ndarray:
    """Sum over comparisons of log P(level | class), a missing level adding nothing."""
    width = max(len(c.levels) for c in COMPARISONS) + 1
    logs = np.zeros((len(COMPARISONS), width))
    for index, comparison in enumerate(COMPARISONS):
        logs[index, : len(comparison.levels)] = np.log(table[index])
    return logs[np.arange(len(COMPARISONS)), patterns].sum(axis=1)


# Splink's training order (LINKAGE.md): m is estimated in sessions, each on the candidate pairs
# that agree on one thing, never estimating a comparison's m from pairs chosen for agreeing on
# it. Session -> (the pairs it uses, the comparisons they were chosen by).
EM_SESSIONS = {
    "same date of birth": (lambda c: c["dob"] == DOB_SAME, ("dob",)),
    "same names": (
        lambda c: (c["forename"] == FORENAME_SAME) & (c["surname"] == SURNAME_SAME),
        ("forename", "surname"),
    ),
    # Members of one household share the surname as well as the home: its m is not learnt here.
    "same home": (lambda c: c["location"] == LOCATION_DWELLING, ("location", "surname")),
}
EM_SESSION_MIN_PAIRS = 100


def _em_session(
    patterns: np.ndarray,
    counts: np.ndarray,
    u: list[list[float]],
    skip: tuple[str, ...],
    iterations: int,
    tolerance: float,
) -> tuple[list[list[float]], float]:
    """m (for the comparisons not in `skip`) and the share of matches, by EM with u held at the
    random-pair u, over pairs chosen for agreeing on the `skip` comparisons."""
    used = np.array([name not in skip for name in COMPARISON_NAMES])
    m = [list(c.m_start) for c in COMPARISONS]
    share = 0.5
    for _ in range(iterations):
        table = np.zeros((len(COMPARISONS), max(len(c.levels) for c in COMPARISONS) + 1))
        for index, comparison in enumerate(COMPARISONS):
            if used[index]:
                for level in range(len(comparison.levels)):
                    table[index, level] = np.log2(m[index][level] / u[index][level])
        weights = np.log2(share / (1 - share)) + table[np.arange(len(COMPARISONS)), patterns].sum(
            axis=1
        )
        matched = probability(weights) * counts
        new_m = []
        for index, comparison in enumerate(COMPARISONS):
            if not used[index]:
                new_m.append(m[index])
                continue
            column = patterns[:, index]
            present = column != MISSING
            totals = np.bincount(
                column[present], weights=matched[present], minlength=len(comparison.levels)
            )
            totals = totals + PRIOR_PAIRS * np.array(comparison.m_start)
            new_m.append(list(np.maximum(totals / totals.sum(), _FLOOR)))
        new_share = float(np.clip(matched.sum() / counts.sum(), 1e-6, 1 - 1e-6))
        change = abs(new_share - share)
        for row_old, row_new in zip(m, new_m, strict=True):
            change = max(change, max(abs(a - b) for a, b in zip(row_old, row_new, strict=True)))
        m, share = new_m, new_share
        if change < tolerance:
            break
    return m, share


def em_estimate(
    levels: np.ndarray,
    u: list[list[float]],
    *,
    records: int,
    candidate_pairs: int | None = None,
    iterations: int = 200,
    tolerance: float = 1e-7,
) -> Fit:
    """m by EM over the candidate pairs' levels (Fellegi-Sunter), with u from random pairs and
    the prior that two random records match.

    m, as Splink trains it: one EM per session of EM_SESSIONS, with u held at the random-pair u,
    each estimating m only for the comparisons its pairs were not chosen by; a comparison's m is
    the average of its sessions' weighted by the matches each found (m_start where none could).
    Estimated over every candidate pair at once, with u free, EM would fit its "match" class to
    whatever agrees most (candidate pairs chosen for sharing a forename, say), and learn that one
    person's dates of birth often differ.

    The share of matches: with m held, a two-class EM over all the candidate pairs, the
    non-matches with their own u (blocking made them agree far more than random pairs). The
    weights are log2(m / u) with u from random pairs, and the prior is the expected number of
    matches over all pairs of `records`, not the share among candidates.

    m starts from, and is held near, each comparison's m_start (PRIOR_PAIRS pairs' worth), so a
    comparison seldom present keeps sensible values. Runs over the distinct level patterns with
    their counts, so millions of pairs cost no more than the few thousand patterns they show.
    """
    m = [list(c.m_start) for c in COMPARISONS]
    if not len(levels):
        # Nothing to learn from yet (a first, tiny extract): the starting values, and a prior of
        # one match per record, until the next estimate.
        prior = float(np.clip(1 / max(records, 2), 1e-12, 0.5))
        return Fit(Parameters(m, [[float(x) for x in row] for row in u], prior), 0.0, 0.0, 0, True)
    random_u = [list(row) for row in u]
    columns = _columns(levels)
    sums = [np.zeros(len(c.levels)) for c in COMPARISONS]
    weights_of = np.zeros(len(COMPARISONS))
    for chosen, skip in EM_SESSIONS.values():
        session = chosen(columns)
        if session.sum() < EM_SESSION_MIN_PAIRS:
            continue
        patterns, counts = level_patterns(levels[session])
        session_m, session_share = _em_session(
            patterns, counts.astype(float), random_u, skip, iterations, tolerance
        )
        found = session_share * counts.sum()
        for index, name in enumerate(COMPARISON_NAMES):
            if name not in skip:
                sums[index] += found * np.array(session_m[index])
                weights_of[index] += found
    for index in range(len(COMPARISONS)):
        if weights_of[index] > 0:
            m[index] = list(sums[index] / weights_of[index])

    patterns, counts = level_patterns(levels)
    counts = counts.astype(float)
    other_u = [list(row) for row in u]
    share = 0.1
    converged = False
    iteration = 0
    for iteration in range(1, iterations + 1):  # noqa: B007 - the count is reported
        p = probability(_plain_weights(patterns, Parameters(m=m, u=other_u, prior=share)))
        unmatched = (1 - p) * counts
        new_u = []
        for index, comparison in enumerate(COMPARISONS):
            column = patterns[:, index]
            present = column != MISSING
            totals = np.bincount(
                column[present], weights=unmatched[present], minlength=len(comparison.levels)
            )
            totals = totals + np.array(other_u[index])
            new_u.append(list(np.maximum(totals / totals.sum(), _FLOOR)))
        new_share = float(np.clip((p * counts).sum() / counts.sum(), 1e-9, 1 - 1e-9))
        change = abs(new_share - share)
        for row_old, row_new in zip(other_u, new_u, strict=True):
            change = max(change, max(abs(a - b) for a, b in zip(row_old, row_new, strict=True)))
        other_u, share = new_u, new_share
        if change < tolerance:
            converged = True
            break
    all_pairs = max(records * (records - 1) / 2, 1.0)
    # `levels` may be a sample of the candidate pairs: the share of matches applies to them all.
    expected_matches = share * (candidate_pairs or counts.sum())
    population_prior = float(np.clip(expected_matches / all_pairs, 1e-12, 0.5))
    return Fit(
        Parameters(m=m, u=random_u, prior=population_prior),
        share_of_matches=share,
        expected_matches=expected_matches,
        iterations=iteration,
        converged=converged,
    )


def context_estimate(levels: np.ndarray, parameters: Parameters) -> tuple[dict[str, float], dict]:
    """The share of each family context's candidate pairs that are one person, by a
    one-parameter EM over them with m and u held (the context's shared comparisons left out).
    Returns ({context: share}, {context: why not}) for the contexts that could not be believed
    (too few pairs, or a share below CONTEXT_PRIOR_RANGE). A share above the range is held at
    its top: a population with no twins in the sample still has some."""
    contexts = context_of(levels) if len(levels) else np.zeros(0, dtype=np.int8)
    found: dict[str, float] = {}
    refused: dict[str, str] = {}
    for number, context in enumerate(CONTEXTS):
        inside = levels[contexts == number]
        if len(inside) < CONTEXT_MIN_PAIRS:
            refused[context.name] = f"{len(inside)} candidate pairs, too few"
            continue
        patterns, counts = level_patterns(inside)
        low, high = CONTEXT_PRIOR_RANGE
        share = 0.5
        # EM for a mixing share creeps slowly towards a boundary, and the patterns are few.
        for _ in range(5_000):
            p = probability(context_weights(patterns, parameters, context, share))
            new_share = float(np.clip((p * counts).sum() / counts.sum(), 1e-6, high))
            if abs(new_share - share) < 1e-9:
                share = new_share
                break
            share = new_share
        if share >= low:
            found[context.name] = share
        else:
            refused[context.name] = f"{share:.1%} of its pairs one person, too few to believe"
    return found, refused


# The comparisons a fit must have learnt something about, when pairs have them, and the least
# m of full agreement that makes sense for each: among true matches most agree.
_MUST_AGREE = {"forename": 0.4, "surname": 0.4, "dob": 0.4}
# Fewer matches than this share of the records (or than MIN_MATCHES) is no fit: a first agency
# with no duplicates, whose candidate pairs are all non-matches.
MIN_MATCH_SHARE = 0.002
MIN_MATCHES = 5


def model_check(fit: Fit, levels: np.ndarray, *, records: int) -> str:
    """Why a fit must not be used ("" when it may): the reason goes into the run's figures.

    A degenerate fit is one whose "match" class is not people matching themselves: it found
    almost no matches, or full agreement on a name or the date of birth is not common among its
    matches, or its matches disagree on the forename more often than they agree (a household's
    members), or m and u are hardly apart (agreement says nothing).
    """
    if fit.expected_matches < max(MIN_MATCHES, MIN_MATCH_SHARE * records):
        return (
            f"EM found {fit.expected_matches:.0f} matches among the candidate pairs, too few to "
            "learn from (the records so far may hold no one twice)"
        )
    m, u = fit.parameters.m, fit.parameters.u
    present_share = (levels != MISSING).mean(axis=0) if len(levels) else np.zeros(len(COMPARISONS))
    for name, least in _MUST_AGREE.items():
        column = _COLUMN[name]
        if present_share[column] < 0.01:
            continue
        top = len(COMPARISONS[column].levels) - 1
        if m[column][top] < least:
            return (
                f"only {m[column][top]:.0%} of the matches EM found agree on "
                f"{COMPARISONS[column].label.lower()}: its matches are not one person's records"
            )
        if m[column][0] > m[column][top]:
            return (
                f"the matches EM found disagree on {COMPARISONS[column].label.lower()} more "
                "often than they agree"
            )
        if np.log2(m[column][top] / u[column][top]) < 1:
            return (
                f"agreement on {COMPARISONS[column].label.lower()} is hardly more common among "
                "the matches EM found than among random pairs"
            )
    return ""


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


def _columns(levels: np.ndarray) -> dict[str, np.ndarray]:
    return {name: levels[:, index] for index, name in enumerate(COMPARISON_NAMES)}


def rule_names(levels: np.ndarray) -> list[str]:
    """The deterministic rule each pair also meets, if any, for explanations; else "score"."""
    column = _columns(levels)
    names = np.select(
        [
            column["nhs"] == 1,
            column["upn"] == 1,
            column["pnc"] == 1,
            (column["forename"] == FORENAME_SAME)
            & (column["surname"] == SURNAME_SAME)
            & (column["dob"] == DOB_SAME),
            (column["surname"] == SURNAME_SAME)
            & (column["dob"] == DOB_SAME)
            & (column["location"] >= LOCATION_POSTCODE_OR_STREET),
            (column["forename"] == FORENAME_SAME)
            & (column["surname"] == SURNAME_SAME)
            & (column["location"] == LOCATION_DWELLING),
        ],
        ["nhs", "upn", "pnc", "name_dob", "surname_dob_postcode", "name_address"],
        "score",
    )
    return names.tolist()


def family_guards(
    levels: np.ndarray, parameters: Parameters | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs that must not link automatically, and pairs that are clearly different people.

    Fellegi-Sunter treats comparisons as independent, and within a family they are not: a
    mother and her children share surname and address, twins share the date of birth too, and a
    father and son may share a forename. Their shared fields add up to a high score. DOMAIN.md:
    most false links are within a household. Each rule is judged on what the two records both
    have, so a record without a date of birth is neither helped nor harmed by the rules about
    dates. Unless an NHS number, UPN or PNC id agrees, a pair is not linked automatically (a
    reviewer sees it if its score is high) when it looks like
    - twins: the forenames clearly differ where surname, date of birth and home agree;
    - siblings or a parent and child: the forenames clearly differ and so do the dates of birth
      (a different month or year), or there is no date of birth on one side to tell;
    - a father and son of one name: no date of birth to tell them apart, and the middle names
      differ;
    - two people of one name: nothing but names to go on (no date of birth on one side, no
      address on one side or a different one, and no middle name or initial in common).
    A placeholder forename ("Baby", "Unknown") or none counts as a forename that differs.
    A forename keyed badly on one record whose surname, date of birth and home all differ from
    a relative's is not one of these, and its score decides.

    Where a family context's model weighs a pair (match_weights: the household's shared surname
    and home counted as nothing), its score already says how likely one person is against a
    sibling, and the sibling rule gives way to it; the twin and father-and-son rules stand.

    Such a pair is clearly two people (no chain of links may join them) when a second thing also
    differs (sex, an identifier, the middle name, or the date of birth as well as the forename),
    or when the dates of birth are decades apart and not a slip of the year's digits (the day and
    month differ too). An identifier shared by records whose forename and date of birth both
    differ is a relative's, copied onto the wrong record: it counts for nothing, and the two are
    apart.
    """
    column = _columns(levels)
    forename_differs = (column["forename"] >= FORENAME_DIFFERENT) & (
        column["forename"] <= FORENAME_LITTLE
    )
    # Not a slip of a day or a digit, or a swapped day and month: a different month or year.
    # Brothers both called Muhammad (a calling name is used day to day) are born a year or two
    # apart.
    dob_differs = (column["dob"] >= DOB_DIFFERENT) & (column["dob"] <= DOB_YEAR)
    dob_missing = column["dob"] == MISSING
    decades_apart = column["dob"] == DOB_DIFFERENT
    middle_differs = column["middle"] == MIDDLE_DIFFERENT
    # The same full middle name is what twins and siblings seldom share; an initial they may.
    middle_agrees = column["middle"] == MIDDLE_SAME
    # A placeholder forename ("Baby", "Unknown") or none says no more than a different one:
    # newborn twins are both "Baby Smith". A forename only a letter or a sound away is a typo far
    # more often than a sibling's name: the score judges those.
    forename_unsure = (column["forename"] == FORENAME_DIFFERENT) | (column["forename"] == MISSING)
    twin_like = (
        forename_unsure
        & (column["surname"] >= SURNAME_SIMILAR)
        & (column["dob"] >= DOB_SWAPPED)
        & ((column["location"] >= LOCATION_POSTCODE_OR_STREET) | (column["location"] == MISSING))
    )
    # A shared identifier with a different forename and date of birth is a relative's number
    # keyed on the wrong record (a mother's NHS number on her baby's), not evidence.
    relatives_number = forename_differs & dob_differs
    identifier_agrees = (
        (column["nhs"] == 1) | (column["upn"] == 1) | (column["pnc"] == 1)
    ) & ~relatives_number
    identifier_differs = (column["nhs"] == 0) | (column["upn"] == 0) | (column["pnc"] == 0)
    modelled = np.zeros(len(levels), dtype=bool)
    if parameters is not None and parameters.contexts:
        contexts = context_of(levels)
        for number, context in enumerate(CONTEXTS):
            if context.name in parameters.contexts:
                modelled |= contexts == number
        # A missing or placeholder forename is not missing at random: "Baby", "Unknown" are
        # newborns and twins, and a newborn's record may carry a parent's date of birth. The
        # context's share of one person, learnt mostly from pairs with forenames, says nothing
        # of them.
        modelled &= column["forename"] != MISSING
    # Names alone, nothing else to go on (no date of birth, no address on one side, no middle
    # name or initial in common): two people of one name are common enough that it never links
    # by itself (an adult's police record with no date of birth would join a child of the same
    # name).
    names_only = (
        dob_missing
        & ((column["location"] == MISSING) | (column["location"] == LOCATION_DIFFERENT))
        & (column["middle"] < MIDDLE_INITIAL)
    )
    not_automatic = ~identifier_agrees & (
        # Twins are judged by the guard, never by the family context's share: that share is
        # of pairs, and one person's many records make it look as if twins were rarer still.
        (twin_like & ~middle_agrees)
        | ((forename_unsure & (dob_differs | dob_missing)) & ~middle_agrees & ~modelled)
        | (dob_missing & middle_differs)
        | names_only
    )
    clearly_different = relatives_number | (
        ~identifier_agrees
        & (
            (
                forename_differs
                & (
                    (column["gender"] == 0)
                    | identifier_differs
                    | middle_differs
                    | ((column["dob"] >= DOB_DIFFERENT) & (column["dob"] <= DOB_YEAR_MONTH))
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
    like both; linkage tells them apart by context (see matching.linkage.clusters.region_cluster).
    """
    column = _columns(levels)
    year_slip = (
        (column["forename"] == FORENAME_SAME)
        & (column["dob"] >= DOB_DECADE)
        & (column["dob"] <= DOB_YEAR)
    )
    home_and_surname = (column["surname"] >= SURNAME_SIMILAR) & (
        column["location"] >= LOCATION_POSTCODE_OR_STREET
    )
    return only_forename_differs(levels) | (year_slip & home_and_surname)


def only_forename_differs(levels: np.ndarray) -> np.ndarray:
    """Pairs alike in everything but the forename: same surname, date of birth and home.

    Twins, or one person known by a middle or calling name ("Muhammad Usman" as "Usman"), or a
    placeholder forename ("Baby"). The two look the same pairwise; linkage tells them apart by
    context (see matching.linkage.clusters.region_cluster).
    """
    column = _columns(levels)
    return (
        (column["forename"] <= FORENAME_LITTLE)
        & (column["surname"] >= SURNAME_SIMILAR)
        & (column["dob"] >= DOB_SWAPPED)
        & (column["location"] >= LOCATION_POSTCODE_OR_STREET)
    )


def uncertain_because(levels_row: np.ndarray) -> str:
    """In plain words, why linkage could not decide a pair by itself: what agrees, what differs,
    and the family it could be. For the reviewer; names no value, only which details."""
    row = levels_row[None, :]
    column = {name: int(levels_row[index]) for index, name in enumerate(COMPARISON_NAMES)}
    labels = {
        "forename": "forename",
        "surname": "surname",
        "dob": "date of birth",
        "location": "address",
    }
    top = {c.name: len(c.levels) - 1 for c in COMPARISONS}
    agree = [labels[n] for n in ("forename", "surname", "dob", "location") if column[n] == top[n]]
    near = [labels[n] for n in ("forename", "surname", "dob", "location") if 0 < column[n] < top[n]]
    differ = [labels[n] for n in ("forename", "surname", "dob", "location") if column[n] == 0]
    missing = [labels[n] for n in ("forename", "dob", "location") if column[n] == MISSING]
    parts = []
    if agree:
        parts.append(f"{_listed(agree)} agree{'s' if len(agree) == 1 else ''}")
    if near:
        parts.append(f"{_listed(near)} {'is' if len(near) == 1 else 'are'} close but not the same")
    if differ:
        parts.append(f"{_listed(differ)} differ{'s' if len(differ) == 1 else ''}")
    if missing:
        parts.append(
            f"{_listed(missing)} {'is' if len(missing) == 1 else 'are'} not on both records"
        )
    sentence = "; ".join(parts) + "." if parts else ""
    sentence = sentence[:1].upper() + sentence[1:]
    forename_unsure = column["forename"] in (MISSING, FORENAME_DIFFERENT, FORENAME_LITTLE)
    if forename_unsure and column["surname"] >= SURNAME_SIMILAR and column["dob"] >= DOB_SWAPPED:
        return sentence + " Twins look like this."
    if (
        forename_unsure
        and column["surname"] >= SURNAME_SIMILAR
        and column["location"] >= (LOCATION_HOUSE_SIMILAR)
    ):
        return sentence + " Two members of one household look like this."
    if column["dob"] == MISSING and column["middle"] == MIDDLE_DIFFERENT:
        return sentence + " A father and son of one name look like this."
    if only_forename_differs(row)[0] or alike_but_one(row)[0]:
        return sentence + " One person under two given names, or two relatives, look like this."
    return sentence


def _listed(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
