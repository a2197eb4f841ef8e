"""Small-number suppression against readers who attack the page (insights.suppression).

The requirement a reviewer tests: no figure from 1 to 4 can be worked out from what the page
shows. Two oracles written here, independently of the module, play that reader:

- an integer-programming reader (scipy's milp): for each small figure, are there whole-number
  counts consistent with everything shown under which it has another value? Whole numbers,
  not the linear relaxation, because on overlap pages the relaxation leaves figures free that
  whole numbers pin, and a reader with a pencil uses whole numbers;
- for three agencies, a reader who enumerates every vector of atom counts consistent with the
  page and looks at the values each small figure takes.

Both read the page as shown: a number exactly, "<5" as 1..4, and "[c]" as at least 5 when it
hides a figure of 5 or more (zeros are always shown and small figures shown as "<5", so a
reader who knows the rules knows that much) and as at least 1 when it hides a small figure.
The mutant tests show both oracles catch a page that only hides the small figures.
"""

import itertools
import math
import time
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp

from insights import suppression
from insights.suppression import (
    SECONDARY_MARKER,
    Figure,
    Protected,
    ProtectedFigure,
    protect,
    protect_table,
)

THRESHOLD = 5
# Sized so that the file runs in well under 20 s: a five-agency page and its oracle take about
# 0.1 s, a three-agency page with both oracles about 0.04 s.
FIVE_AGENCY_EXAMPLES = settings(max_examples=70, deadline=None, database=None)
THREE_AGENCY_EXAMPLES = settings(max_examples=120, deadline=None, database=None)


def overlap_page(agencies: str) -> tuple[list[frozenset], list[Figure]]:
    """The overlap dashboard: atoms are the people known to exactly one set of agencies; the
    page shows each atom, each agency's caseload, each pairwise overlap, the total and how
    many people are known to k agencies."""
    atoms = [
        frozenset(group)
        for size in range(1, len(agencies) + 1)
        for group in itertools.combinations(agencies, size)
    ]
    figures = [Figure("only " + "".join(sorted(atom)), frozenset([atom])) for atom in atoms]
    figures += [
        Figure(f"caseload {agency}", frozenset(atom for atom in atoms if agency in atom))
        for agency in agencies
    ]
    figures += [
        Figure(f"overlap {a}{b}", frozenset(atom for atom in atoms if {a, b} <= atom))
        for a, b in itertools.combinations(agencies, 2)
    ]
    figures.append(Figure("Total", frozenset(atoms)))
    figures += [
        Figure(f"known to {k}", frozenset(atom for atom in atoms if len(atom) == k))
        for k in range(1, len(agencies) + 1)
    ]
    return atoms, figures


FIVE_ATOMS, FIVE_FIGURES = overlap_page("ABCDE")
THREE_ATOMS, THREE_FIGURES = overlap_page("ABC")


def table_figures(rows: Sequence[str]) -> list[Figure]:
    return [Figure(row, frozenset([row])) for row in rows] + [Figure("Total", frozenset(rows))]


def primary_only(atoms: Mapping[Hashable, int], figures: Sequence[Figure]) -> Protected:
    """The mutant: hide the small figures and nothing else."""
    shown = {}
    for figure in figures:
        value = sum(atoms[atom] for atom in figure.atoms)
        small = 0 < value < THRESHOLD
        shown[figure.key] = ProtectedFigure(
            figure.key,
            value,
            f"<{THRESHOLD}" if small else str(value),
            suppressed=small,
            reason="small" if small else "",
        )
    return Protected(shown)


def what_a_reader_knows(figures: Sequence[Figure], page: Protected) -> list[tuple[float, float]]:
    """The interval each figure lies in, read off the page."""
    intervals = []
    for figure in figures:
        shown = page[figure.key]
        if shown.shown == f"<{THRESHOLD}":
            intervals.append((1, THRESHOLD - 1))
        elif shown.shown == SECONDARY_MARKER:
            intervals.append((THRESHOLD if shown.value >= THRESHOLD else 1, math.inf))
        else:
            intervals.append((int(shown.shown), int(shown.shown)))
    return intervals


def _matrix(atom_keys: Sequence[Hashable], figures: Sequence[Figure]) -> np.ndarray:
    return np.array(
        [[1.0 if atom in figure.atoms else 0.0 for atom in atom_keys] for figure in figures]
    )


def _whole_counts(
    matrix: np.ndarray,
    intervals: Sequence[tuple[float, float]],
    extra: LinearConstraint | None = None,
    objective: np.ndarray | None = None,
) -> tuple[int, np.ndarray | None]:
    """Whole-number atom counts consistent with the page (and `extra`), optimal for
    `objective` if given: the solver's status and the counts, checked here, or None."""
    lower = np.array([low for low, _ in intervals], dtype=float)
    upper = np.array([high for _, high in intervals], dtype=float)
    constraints = [LinearConstraint(matrix, lower, upper)] + ([extra] if extra else [])
    result = milp(
        np.zeros(matrix.shape[1]) if objective is None else objective,
        constraints=constraints,
        integrality=np.ones(matrix.shape[1]),
        bounds=Bounds(0, np.inf),
        # HiGHS's MIP presolve fails with "Solve error" on some of these pages.
        options={"presolve": False},
    )
    assert result.status in (0, 2, 3), result.message
    if result.status != 0:
        return result.status, None
    counts = np.round(result.x)
    reached = matrix @ counts
    assert np.all(counts >= 0) and np.all(reached >= lower) and np.all(reached <= upper)
    return result.status, counts


def whole_number_range(
    atoms: Mapping[Hashable, int], figures: Sequence[Figure], page: Protected, key: str
) -> tuple[float, float]:
    """The smallest and largest value a reader can give figure `key`, in whole numbers."""
    atom_keys = list(atoms)
    matrix = _matrix(atom_keys, figures)
    intervals = what_a_reader_knows(figures, page)
    row = matrix[[figure.key for figure in figures].index(key)]
    _, lowest = _whole_counts(matrix, intervals, objective=row)
    status, highest = _whole_counts(matrix, intervals, objective=-row)
    return float(row @ lowest), math.inf if status == 3 else float(row @ highest)


def worked_out(
    atoms: Mapping[Hashable, int], figures: Sequence[Figure], page: Protected
) -> list[str]:
    """The small figures a reader can pin to one whole number (the integer-programming oracle)."""
    atom_keys = list(atoms)
    matrix = _matrix(atom_keys, figures)
    intervals = what_a_reader_knows(figures, page)
    values = matrix @ np.array([atoms[atom] for atom in atom_keys], dtype=float)
    # Counts that move one small figure often move others: each spares their solves.
    alternatives: list[np.ndarray] = []
    pinned = []
    for index, figure in enumerate(figures):
        value = values[index]
        if not 0 < value < THRESHOLD:
            continue
        if any(abs(matrix[index] @ counts - value) >= 1 for counts in alternatives):
            continue
        for low, high in ((value + 1, math.inf), (-math.inf, value - 1)):
            _, counts = _whole_counts(matrix, intervals, LinearConstraint(matrix[index], low, high))
            if counts is not None:
                alternatives.append(counts)
                break
        else:
            pinned.append(figure.key)
    return pinned


def worked_out_by_enumeration(
    atoms: Mapping[Hashable, int], figures: Sequence[Figure], page: Protected
) -> list[str]:
    """The small figures that take one value over every whole-number atom vector consistent
    with the page (the enumerating oracle, for small pages)."""
    atom_keys = list(atoms)
    intervals = what_a_reader_knows(figures, page)
    # A reader knows no upper bound on an atom inside only "[c]" figures. The cap keeps the
    # search finite; it can only make a figure look pinned that is not, never the reverse, so
    # a page that passes is still safe.
    cap = sum(atoms.values()) + THRESHOLD
    members = [[atom_keys.index(atom) for atom in figure.atoms] for figure in figures]
    ranges = []
    for position, atom in enumerate(atom_keys):
        low, high = 0, cap
        for figure_atoms, (figure_low, figure_high) in zip(members, intervals, strict=True):
            if position in figure_atoms:
                high = min(high, figure_high)
                if figure_atoms == [position]:
                    low = max(low, figure_low)
        # Nearest the true count first, so that alternatives turn up early.
        ranges.append(sorted(range(int(low), int(high) + 1), key=lambda c: abs(c - atoms[atom])))
    small = [
        index
        for index, figure in enumerate(figures)
        if 0 < sum(atoms[atom] for atom in figure.atoms) < THRESHOLD
    ]
    seen: dict[int, set[int]] = {index: set() for index in small}
    # A figure's lower bound is checked once its last atom is set.
    complete_at = [max(figure_atoms, default=-1) for figure_atoms in members]
    counts = [0] * len(atom_keys)

    def search(position: int) -> bool:
        """Set atoms from `position` on; True once every small figure took two values."""
        if position == len(atom_keys):
            for index in small:
                seen[index].add(sum(counts[atom] for atom in members[index]))
            return all(len(values) > 1 for values in seen.values())
        for count in ranges[position]:
            counts[position] = count
            consistent = True
            for index, figure_atoms in enumerate(members):
                partial = sum(counts[atom] for atom in figure_atoms if atom <= position)
                low, high = intervals[index]
                if partial > high or (complete_at[index] == position and partial < low):
                    consistent = False
                    break
            if consistent and search(position + 1):
                return True
        return False

    search(0)
    return [figures[index].key for index in small if len(seen[index]) < 2]


def assert_shown_honestly(
    atoms: Mapping[Hashable, int], figures: Sequence[Figure], page: Protected
) -> None:
    for figure in figures:
        shown = page[figure.key]
        assert shown.value == sum(atoms[atom] for atom in figure.atoms)
        if 0 < shown.value < THRESHOLD:
            assert shown.suppressed and shown.reason == "small"
            assert shown.shown in (f"<{THRESHOLD}", SECONDARY_MARKER)
        elif shown.suppressed:
            assert shown.reason == "secondary" and shown.shown == SECONDARY_MARKER
            assert shown.value >= THRESHOLD
        else:
            assert shown.reason == "" and shown.shown == str(shown.value)
    # Zeros are always published: a true zero discloses no one.
    assert all(page[f.key].shown == "0" for f in figures if page[f.key].value == 0)


def test_one_small_row_hides_the_next_smallest_row_with_it():
    rows = {"Police": 12, "Health": 3, "Education": 9}

    page = protect_table(rows)

    assert page.as_rows() == [
        ("Police", "12"),
        ("Health", "<5"),
        ("Education", "[c]"),
        ("Total", "24"),
    ]
    assert page["Health"].reason == "small" and page["Education"].reason == "secondary"
    # Education is at least 5, so Health = 24 - 12 - Education is anything from 1 to 4.
    assert whole_number_range(rows, table_figures(rows), page, "Health") == (1, 4)
    # Hiding only Health would give it away: 24 - 12 - 9.
    naive = primary_only(rows, table_figures(rows))
    assert whole_number_range(rows, table_figures(rows), naive, "Health") == (3, 3)


def test_two_ones_are_not_protected_by_hiding_only_them():
    rows = {"Police": 10, "Health": 1, "Education": 1}
    figures = table_figures(rows)

    # Each of the two is in [1, 4] and together they are 12 - 10 = 2, so both are 1.
    naive = primary_only(rows, figures)
    assert naive.as_rows() == [
        ("Police", "10"),
        ("Health", "<5"),
        ("Education", "<5"),
        ("Total", "12"),
    ]
    assert worked_out(rows, figures, naive) == ["Health", "Education"]

    page = protect_table(rows)

    assert page.as_rows() == [
        ("Police", "[c]"),
        ("Health", "<5"),
        ("Education", "<5"),
        ("Total", "12"),
    ]
    assert worked_out(rows, figures, page) == []
    assert whole_number_range(rows, figures, page, "Health") == (1, 4)


def test_a_hidden_figure_reads_as_at_least_the_threshold():
    # The smallest other row is 5; hiding it would leave Health = 20 - 14 - Education with
    # Education at least 5 (it would be "<5" otherwise), so Health = 1. The next one up is hidden.
    rows = {"Police": 14, "Education": 5, "Health": 1}
    figures = table_figures(rows)

    page = protect_table(rows)

    assert page.as_rows() == [
        ("Police", "[c]"),
        ("Education", "5"),
        ("Health", "<5"),
        ("Total", "20"),
    ]
    assert worked_out(rows, figures, page) == []
    hiding_the_five = Protected(
        {
            **page.figures,
            "Police": ProtectedFigure("Police", 14, "14", suppressed=False, reason=""),
            "Education": ProtectedFigure(
                "Education", 5, "[c]", suppressed=True, reason="secondary"
            ),
        }
    )
    assert worked_out(rows, figures, hiding_the_five) == ["Health"]


def test_bands_that_pin_by_themselves_are_widened():
    # Four agencies each know one person no other agency knows, the fifth none: "known to 1"
    # is 4, and four "<5" atoms of at least 1 summing to a "<5" of at most 4 are all 1, however
    # much else is hidden. One of the small figures must be shown as "[c]" instead.
    counts = {atom: 10 for atom in FIVE_ATOMS}
    for agency in "ABCD":
        counts[frozenset(agency)] = 1
    counts[frozenset("E")] = 0

    page = protect(counts, FIVE_FIGURES)

    assert worked_out(counts, FIVE_FIGURES, primary_only(counts, FIVE_FIGURES))
    assert worked_out(counts, FIVE_FIGURES, page) == []
    assert_shown_honestly(counts, FIVE_FIGURES, page)
    widened = [f.key for f in page if f.reason == "small" and f.shown == SECONDARY_MARKER]
    assert widened == ["known to 1"]


def test_zeros_and_large_figures_alone_are_published_as_they_are():
    rows = {"Police": 12, "Health": 0, "Education": 9}

    page = protect_table(rows)

    assert page.as_rows() == [
        ("Police", "12"),
        ("Health", "0"),
        ("Education", "9"),
        ("Total", "21"),
    ]
    assert not any(figure.suppressed for figure in page)


counts_with_many_small = st.one_of(st.just(0), st.integers(1, 4), st.integers(5, 40))


@FIVE_AGENCY_EXAMPLES
@given(st.lists(counts_with_many_small, min_size=31, max_size=31))
def test_no_small_figure_on_the_five_agency_page_can_be_worked_out(drawn):
    counts = dict(zip(FIVE_ATOMS, drawn, strict=True))

    page = protect(counts, FIVE_FIGURES)

    assert_shown_honestly(counts, FIVE_FIGURES, page)
    assert worked_out(counts, FIVE_FIGURES, page) == []


@THREE_AGENCY_EXAMPLES
@given(
    st.lists(st.one_of(st.just(0), st.integers(1, 4), st.integers(5, 8)), min_size=7, max_size=7)
)
def test_no_small_figure_on_the_three_agency_page_can_be_worked_out_by_either_oracle(drawn):
    counts = dict(zip(THREE_ATOMS, drawn, strict=True))

    page = protect(counts, THREE_FIGURES)

    assert_shown_honestly(counts, THREE_FIGURES, page)
    assert worked_out(counts, THREE_FIGURES, page) == []
    assert worked_out_by_enumeration(counts, THREE_FIGURES, page) == []


def five_agency_counts(counts: str) -> dict[frozenset, int]:
    """Atom counts for the five-agency page, in the order of FIVE_ATOMS."""
    return dict(zip(FIVE_ATOMS, map(int, counts.split()), strict=True))


def test_the_same_page_comes_out_the_same():
    counts = five_agency_counts("0 1 2 3 4 5 7 1 1 0 2 9 3 1 4 12 0 2 2 1 6 3 1 0 4 2 8 1 3 2 1")

    first = protect(counts, FIVE_FIGURES)
    second = protect(dict(counts), list(FIVE_FIGURES))

    assert first == second
    assert any(figure.reason == "secondary" for figure in first)


def test_a_five_agency_page_protects_in_well_under_a_second():
    # About 0.1 s on a quiet machine; the bound is loose so a busy one does not fail it.
    counts = five_agency_counts(
        "3 1 40 1 9 4 7 1 4 22 1 1 3 2 40 1 2 23 4 1 4 4 1 16 1 3 3 0 28 1 4"
    )

    started = time.perf_counter()
    protect(counts, FIVE_FIGURES)

    assert time.perf_counter() - started < 1.0


# Hypothesis settings for the mutant searches: the same tries every run, so that a search that
# only usually finds its example cannot make a flaky test.
SEARCH = settings(
    max_examples=200,
    derandomize=True,
    phases=[Phase.generate],
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_the_oracle_catches_a_page_that_hides_only_the_small_figures():
    # Hand-built: one agency's only-known person, and everything else large: their caseload
    # minus the published atoms gives them away.
    counts = {atom: 10 for atom in FIVE_ATOMS}
    counts[frozenset("A")] = 2
    assert "only A" in worked_out(counts, FIVE_FIGURES, primary_only(counts, FIVE_FIGURES))

    # And one found by search, from the same counts as the property test.
    found = find(
        st.lists(counts_with_many_small, min_size=31, max_size=31),
        lambda drawn: bool(
            worked_out(
                dict(zip(FIVE_ATOMS, drawn, strict=True)),
                FIVE_FIGURES,
                primary_only(dict(zip(FIVE_ATOMS, drawn, strict=True)), FIVE_FIGURES),
            )
        ),
        settings=SEARCH,
    )
    assert worked_out(
        dict(zip(FIVE_ATOMS, found, strict=True)),
        FIVE_FIGURES,
        primary_only(dict(zip(FIVE_ATOMS, found, strict=True)), FIVE_FIGURES),
    )


def test_the_enumerating_oracle_catches_a_page_that_hides_only_the_small_figures():
    def caught(drawn) -> bool:
        counts = dict(zip(THREE_ATOMS, drawn, strict=True))
        naive = primary_only(counts, THREE_FIGURES)
        return bool(worked_out_by_enumeration(counts, THREE_FIGURES, naive))

    found = find(
        st.lists(
            st.one_of(st.just(0), st.integers(1, 4), st.integers(5, 8)), min_size=7, max_size=7
        ),
        caught,
        settings=SEARCH,
    )
    counts = dict(zip(THREE_ATOMS, found, strict=True))
    naive = primary_only(counts, THREE_FIGURES)
    # The two oracles agree on what the naive page gives away.
    assert worked_out_by_enumeration(counts, THREE_FIGURES, naive) == worked_out(
        counts, THREE_FIGURES, naive
    )


def test_the_oracle_catches_an_audit_that_trusts_the_relaxation(monkeypatch):
    # On this four-agency page the linear relaxation lets figures move by fractions that no
    # whole-number counts can: an audit that took the relaxation's points as counts would
    # publish a page whole numbers give away.
    four_atoms, four_figures = overlap_page("ABCD")
    by_name = {"".join(sorted(atom)): atom for atom in four_atoms}
    named = {"A": 3, "B": 3, "C": 0, "D": 3, "AB": 4, "AC": 4, "AD": 3, "BC": 0}
    named |= {"BD": 0, "CD": 2, "ABC": 0, "ABD": 1, "ACD": 1, "BCD": 0, "ABCD": 3}
    counts = {by_name[name]: count for name, count in named.items()}

    assert worked_out(counts, four_figures, protect(counts, four_figures)) == []

    # The mutant: every point of the relaxation taken for whole-number counts.
    monkeypatch.setattr(suppression, "_is_whole", lambda point: True)
    assert worked_out(counts, four_figures, protect(counts, four_figures))


@pytest.mark.parametrize(
    ("atoms", "figures", "message"),
    [
        ({"a": -1}, [Figure("a", frozenset("a"))], "whole numbers"),
        ({"a": 1.5}, [Figure("a", frozenset("a"))], "whole numbers"),
        ({"a": 1}, [Figure("a", frozenset("a")), Figure("a", frozenset())], "unique"),
        ({"a": 1}, [Figure("a", frozenset("ab"))], "unknown atoms"),
    ],
)
def test_a_malformed_page_is_refused(atoms, figures, message):
    with pytest.raises(ValueError, match=message):
        protect(atoms, figures)
