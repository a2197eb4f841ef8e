"""Small-number suppression for dashboard figures, audited as a reader would attack the page.

A count from 1 to threshold-1 (1..4 by default) is shown as "<5" (primary suppression): a group
that small may be identifiable. Hiding it is not enough when the page's other figures let a
reader work it out (a total minus the other rows), so further figures are hidden too
(secondary suppression, shown as "[c]"). A zero is shown as 0: a true zero discloses no one.

The page is modelled as disclosure-control audits model it. The people counted fall into
disjoint groups, the atoms (on an overlap page, the people known to exactly this set of
agencies), and every number on the page is the sum of some atoms: an atom alone, a total, a
caseload, an overlap. A reader knows:

- every published figure exactly (so every atom in a published zero is zero);
- every "<5" figure lies in [1, threshold-1];
- every "[c]" figure is at least `threshold`. Zeros are always shown and small figures are
  shown as "<5", so a reader who knows the rules reads "[c]" as ">= 5"; auditing it as merely
  unknown would miss that 14, [c], <5 with total 20 gives the "<5" away when the [c] is 5;
- every atom is a whole number, at least zero.

A small figure is exposed when these constraints allow it a single whole-number value. Each
bound is taken from the linear relaxation (scipy's HiGHS), rounded inwards, and where the
relaxation frees the figure only through fractional counts an integer program decides: on
overlap pages the relaxation can leave a figure free that whole numbers pin.

protect() takes the small figures in page order and, while one is exposed:

1. If hiding every published non-zero figure would free it, hides the smallest published
   figure (by value, then key) whose hiding alone frees it. If none does alone, it hides the
   smallest one the solver's proof of the bound rests on, and looks again.
2. Otherwise the "<5" bands pin it by themselves (four "<5" atoms whose "<5" sum is 4 are all
   1) and no hiding of published figures helps. Then one small figure is shown as "[c]"
   instead of "<5", so that all a reader knows of it is that it is not zero (it is audited so:
   a reader cannot tell it from a hidden figure >= 5): the smallest one whose widening, with
   every published figure hidden, frees the exposed one, else the smallest one the proof rests
   on; and it looks again.

Only a figure the relaxation's proof of a bound rests on (a non-zero multiplier) can move that
bound when hidden, so only those are tried; where whole numbers alone pin a figure, all are.
Hiding only removes what a reader knows, so a figure once found safe stays safe. Every step
hides one more figure or widens one more band, so protect() ends, and its choices go by value
and key, so the same page always comes out the same.

Not modelled: a reader who re-runs these choices. Knowing the smallest helpful figure is hidden
tells them a hidden figure is no more than the published ones that would also have helped.

Public API:

    Figure(key: str, atoms: frozenset)
    protect(atoms: Mapping[Hashable, int], figures: Sequence[Figure], *, threshold: int = 5)
        -> Protected
    protect_table(rows: Mapping[str, int], *, total_key: str = "Total", threshold: int = 5)
        -> Protected                      (each row an atom and a figure, plus the total)
    Protected[key] -> ProtectedFigure(key, value, shown, suppressed, reason)
        shown: "12", "0", "<5" or "[c]"; reason: "small" (value 1..threshold-1, shown "<5"
        or rarely "[c]"), "secondary" (hidden so that a small figure cannot be worked out)
        or "" (published)
    iter(Protected) -> the ProtectedFigures in page order
    Protected.as_rows(keys=None) -> list[tuple[str, str]]: (key, shown) in the order of keys
    SECONDARY_MARKER == "[c]"
"""

import enum
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import null_space
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

SECONDARY_MARKER = "[c]"

# Solver slack: a bound within this of an integer counts as that integer.
_TOLERANCE = 1e-6
# A constraint whose multiplier in the solver's proof is below this plays no part in the proof.
_DUAL_TOLERANCE = 1e-7
# Seconds for one integer program; a page's are tiny and take milliseconds.
_INTEGER_TIME_LIMIT = 5.0


@dataclass(frozen=True)
class Figure:
    """One number on the page: the sum of the counts of `atoms`."""

    key: str
    atoms: frozenset


@dataclass(frozen=True)
class ProtectedFigure:
    """One figure as the page shows it. `value` is the true count, for the audit and tests:
    render `shown`, and never store or show `value` for a suppressed figure."""

    key: str
    value: int
    shown: str
    suppressed: bool
    reason: str


@dataclass(frozen=True)
class Protected:
    """The page after suppression: one ProtectedFigure per Figure, in the order given."""

    figures: Mapping[str, ProtectedFigure]

    def __getitem__(self, key: str) -> ProtectedFigure:
        return self.figures[key]

    def __iter__(self) -> Iterator[ProtectedFigure]:
        return iter(self.figures.values())

    def __len__(self) -> int:
        return len(self.figures)

    def as_rows(self, keys: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """(key, shown) for `keys`, or for every figure in page order."""
        chosen = self.figures.keys() if keys is None else keys
        return [(key, self.figures[key].shown) for key in chosen]


class _Known(enum.Enum):
    """What the page tells a reader about one figure."""

    EXACT = "published"
    SMALL = "shown <threshold: in [1, threshold - 1]"
    LARGE = "hidden as [c]: at least threshold"
    NONZERO = "small but shown [c]: at least 1"


@dataclass(frozen=True)
class _Pinned:
    """A small figure a reader can work out.

    For each side, the figures whose constraints the solver's proof of that bound uses: hiding a
    figure (or widening its band) can raise the maximum only if the proof of the maximum uses
    it, and the same for the minimum. None when the bound holds for whole numbers only, where
    there is no such proof and any figure might matter.
    """

    by_maximum: frozenset[int] | None
    by_minimum: frozenset[int] | None

    def may_raise_maximum(self, figure: int) -> bool:
        return self.by_maximum is None or figure in self.by_maximum

    def may_lower_minimum(self, figure: int) -> bool:
        return self.by_minimum is None or figure in self.by_minimum

    def relied_on(self, figures: Iterable[int]) -> list[int]:
        return [
            figure
            for figure in figures
            if self.may_raise_maximum(figure) or self.may_lower_minimum(figure)
        ]


@dataclass(frozen=True)
class _Safe:
    # Whole-number counts a reader cannot rule out, with the figure off its true value; None
    # when the figure can be as large as you like.
    witness: np.ndarray | None


@dataclass(frozen=True)
class _Side:
    """One bound of a figure: whether it stays at the figure's value, and if so the figures its
    proof rests on (None when whole numbers alone keep it there)."""

    pinned: bool
    relied_on: frozenset[int] | None = None
    witness: np.ndarray | None = None


@dataclass(frozen=True)
class _Optimum:
    objective: float
    point: np.ndarray
    relied_on: frozenset[int]


class _Reader:
    """A reader of the page, working out the range of each figure from what it shows.

    Each bound is first taken from the linear relaxation (fast, and its dual says which
    figures the bound rests on); when the relaxation lets a figure move only through fractional
    counts, an integer program decides, because overlapping figures can pin a figure for whole
    numbers that the relaxation leaves free (seen on four- and five-agency overlap pages).
    """

    def __init__(self, matrix: np.ndarray, values: Sequence[int], threshold: int) -> None:
        self.matrix = matrix
        self.values = values
        self.threshold = threshold
        # Whole-number counts feasible for the current page. Suppression only widens what is
        # feasible, so they stay feasible, and a figure one of them moves is safe for good.
        self.witnesses: list[np.ndarray] = []

    def moved_by_a_witness(self, figure: int) -> bool:
        if not self.witnesses:
            return False
        reached = np.array(self.witnesses) @ self.matrix[figure]
        return bool(np.any(np.abs(reached - self.values[figure]) >= 1 - _TOLERANCE))

    def exposure(
        self,
        figure: int,
        known: Sequence[_Known],
        *,
        current: bool = False,
        tighter: _Pinned | None = None,
        loosened: int | None = None,
    ) -> _Pinned | _Safe:
        """Whether a reader can pin `figure` to one whole number on the page `known`.

        `tighter` is the audit of the same page before figure `loosened` was hidden or its band
        widened: a bound whose proof does not use that figure still holds and is not solved
        again, and one that held for whole numbers only is solved in whole numbers straight
        away. `current` says `known` is the page as it stands, so points found are witnesses.
        """
        proofs: dict[bool, frozenset[int] | None] = {}
        for upward in (True, False):
            earlier = None
            if tighter is not None:
                earlier = tighter.by_maximum if upward else tighter.by_minimum
                if earlier is not None and loosened not in earlier:
                    proofs[upward] = earlier
                    continue
            side = self._side(
                figure,
                known,
                upward=upward,
                current=current,
                # Loosening the page cannot pin the relaxation again, so only whole numbers can.
                whole_numbers_only=tighter is not None and earlier is None,
            )
            if not side.pinned:
                return _Safe(side.witness)
            proofs[upward] = side.relied_on
        return _Pinned(by_maximum=proofs[True], by_minimum=proofs[False])

    def implied_by_others(self, known: Sequence[_Known]) -> set[int]:
        """The published figures the other published figures add up to (with signs), so that
        hiding one of them alone hides nothing: those with a part in some linear dependency
        among the published rows."""
        published = [index for index, kind in enumerate(known) if kind is _Known.EXACT]
        if not published:
            return set()
        dependencies = null_space(self.matrix[published].T)
        return {
            figure
            for figure, weights in zip(published, dependencies, strict=True)
            if np.any(np.abs(weights) > _TOLERANCE)
        }

    def _side(
        self,
        figure: int,
        known: Sequence[_Known],
        *,
        upward: bool,
        current: bool,
        whole_numbers_only: bool,
    ) -> _Side:
        value, row = self.values[figure], self.matrix[figure]
        if whole_numbers_only:
            witness = self._whole_counts_moving(figure, known, upward=upward)
            return _Side(pinned=witness is None, witness=witness)
        optimum = self._linear_optimum(-row if upward else row, known)
        if optimum is None:
            return _Side(pinned=False)
        if current and _is_whole(optimum.point):
            # A vertex pushed for this figure often moves others: it may spare their solves.
            self.witnesses.append(np.round(optimum.point))
        if upward:
            moves = -optimum.objective >= value + 1 - _TOLERANCE
        else:
            moves = optimum.objective <= value - 1 + _TOLERANCE
        if not moves:
            return _Side(pinned=True, relied_on=optimum.relied_on)
        if _is_whole(optimum.point):
            return _Side(pinned=False, witness=np.round(optimum.point))
        witness = self._whole_counts_moving(figure, known, upward=upward)
        if witness is None:
            return _Side(pinned=True, relied_on=None)
        return _Side(pinned=False, witness=witness)

    def _bounds(self, known: Sequence[_Known]) -> tuple[np.ndarray, np.ndarray]:
        lower = np.empty(len(known))
        upper = np.empty(len(known))
        for figure, kind in enumerate(known):
            if kind is _Known.EXACT:
                lower[figure] = upper[figure] = self.values[figure]
            elif kind is _Known.SMALL:
                lower[figure], upper[figure] = 1, self.threshold - 1
            elif kind is _Known.LARGE:
                lower[figure], upper[figure] = self.threshold, np.inf
            else:
                lower[figure], upper[figure] = 1, np.inf
        return lower, upper

    def _linear_optimum(self, objective: np.ndarray, known: Sequence[_Known]) -> _Optimum | None:
        """The relaxation's optimum, or None when it is unbounded."""
        lower, upper = self._bounds(known)
        exact = lower == upper
        below = ~exact & np.isfinite(upper)
        above = ~exact
        equal_figures = np.flatnonzero(exact)
        ub_figures = np.concatenate([np.flatnonzero(below), np.flatnonzero(above)])
        ub_rows = np.vstack([self.matrix[below], -self.matrix[above]])
        ub_limits = np.concatenate([upper[below], -lower[above]])
        result = linprog(
            objective,
            A_ub=ub_rows if len(ub_rows) else None,
            b_ub=ub_limits if len(ub_rows) else None,
            A_eq=self.matrix[exact] if len(equal_figures) else None,
            b_eq=lower[exact] if len(equal_figures) else None,
            bounds=(0, None),
            method="highs",
        )
        if result.status in (3, 4):
            # Unbounded (4 is "unbounded or infeasible", and the true counts are feasible).
            return None
        if result.status != 0:
            # The true counts satisfy every constraint, so this is a bug, not a page to publish.
            raise RuntimeError(f"suppression audit failed: {result.message}")
        relied_on: set[int] = set()
        if len(equal_figures):
            relied_on |= _with_multiplier(equal_figures, result.eqlin.marginals)
        if len(ub_rows):
            # Only upper bounds can be relaxed (a hidden figure is still at least 1), so a proof
            # resting on a lower bound gives no figure to change.
            upper_rows = int(below.sum())
            relied_on |= _with_multiplier(
                ub_figures[:upper_rows], result.ineqlin.marginals[:upper_rows]
            )
        return _Optimum(float(result.fun), result.x, frozenset(relied_on))

    def _whole_counts_moving(
        self, figure: int, known: Sequence[_Known], *, upward: bool
    ) -> np.ndarray | None:
        """Whole-number counts consistent with the page that move `figure` off its value."""
        lower, upper = self._bounds(known)
        value = self.values[figure]
        moved = LinearConstraint(
            self.matrix[figure],
            value + 1 if upward else -np.inf,
            np.inf if upward else value - 1,
        )
        result = milp(
            np.zeros(self.matrix.shape[1]),
            constraints=[LinearConstraint(self.matrix, lower, upper), moved],
            integrality=np.ones(self.matrix.shape[1]),
            bounds=Bounds(0, np.inf),
            # HiGHS's MIP presolve fails with "Solve error" on some of these pages (scipy
            # 1.17.1); the programs are small enough to need none.
            options={"presolve": False, "time_limit": _INTEGER_TIME_LIMIT},
        )
        if result.status == 0:
            witness = np.round(result.x)
            if self._consistent(witness, known) and abs(self.matrix[figure] @ witness - value) >= 1:
                return witness
            raise RuntimeError("suppression audit failed: the integer solution breaks the page")
        if result.status in (1, 2):
            # Infeasible: pinned. Out of time: treated as pinned, which only ever hides more.
            return None
        raise RuntimeError(f"suppression audit failed: {result.message}")

    def _consistent(self, counts: np.ndarray, known: Sequence[_Known]) -> bool:
        lower, upper = self._bounds(known)
        figures = self.matrix @ counts
        return bool(
            np.all(counts >= 0)
            and np.all(figures >= lower - _TOLERANCE)
            and np.all(figures <= upper + _TOLERANCE)
        )


def _with_multiplier(figures: np.ndarray, multipliers: np.ndarray) -> set[int]:
    return {
        int(figure)
        for figure, multiplier in zip(figures, multipliers, strict=True)
        if abs(multiplier) > _DUAL_TOLERANCE
    }


def _is_whole(point: np.ndarray) -> bool:
    return bool(np.all(np.abs(point - np.round(point)) <= _TOLERANCE))


def protect(
    atoms: Mapping[Hashable, int], figures: Sequence[Figure], *, threshold: int = 5
) -> Protected:
    """Suppress the page's figures so that no figure from 1 to threshold-1 can be derived."""
    _check_page(atoms, figures, threshold)
    atom_keys = list(atoms)
    matrix = np.array(
        [[1.0 if key in figure.atoms else 0.0 for key in atom_keys] for figure in figures]
    ).reshape(len(figures), len(atom_keys))
    values = [sum(atoms[key] for key in figure.atoms) for figure in figures]
    small = [index for index, value in enumerate(values) if 0 < value < threshold]
    known = [_Known.SMALL if index in small else _Known.EXACT for index in range(len(figures))]

    reader = _Reader(matrix, values, threshold)
    for target in small:
        if reader.moved_by_a_witness(target):
            continue
        found = reader.exposure(target, known, current=True)
        # Once hiding every published figure would free the target, it always would: hiding
        # more only loosens the page.
        freed_by_hiding_all = False
        while isinstance(found, _Pinned):
            step = _next_step(
                reader, figures, target, known, found, freed_by_hiding_all=freed_by_hiding_all
            )
            known[step.figure] = step.kind
            freed_by_hiding_all = step.freed_by_hiding_all
            found = (
                step.audit
                if step.audit is not None
                else reader.exposure(target, known, current=True)
            )
        if found.witness is not None:
            reader.witnesses.append(found.witness)

    return Protected(
        {
            figure.key: _protected_figure(figure.key, value, kind, threshold)
            for figure, value, kind in zip(figures, values, known, strict=True)
        }
    )


def protect_table(
    rows: Mapping[str, int], *, total_key: str = "Total", threshold: int = 5
) -> Protected:
    """A one-way table and its total: each row is an atom, published alone and in the total."""
    if total_key in rows:
        raise ValueError(f"a row is named {total_key!r}, the total's key")
    figures = [Figure(key, frozenset([key])) for key in rows]
    figures.append(Figure(total_key, frozenset(rows)))
    atoms: dict[Hashable, int] = {key: value for key, value in rows.items()}
    return protect(atoms, figures, threshold=threshold)


@dataclass(frozen=True)
class _Step:
    figure: int
    kind: _Known
    # The audit of the target once the step is taken, when the search for it already made it.
    audit: _Pinned | _Safe | None
    # Whether hiding every published figure would free the target, once found to.
    freed_by_hiding_all: bool


def _next_step(
    reader: _Reader,
    figures: Sequence[Figure],
    target: int,
    known: list[_Known],
    pinned: _Pinned,
    *,
    freed_by_hiding_all: bool,
) -> _Step:
    """The one figure to hide, or band to widen, next to free the pinned `target`."""
    values = reader.values

    def by_value(indexes: Iterable[int]) -> list[int]:
        return sorted(indexes, key=lambda index: (values[index], figures[index].key))

    published = by_value(
        index for index, kind in enumerate(known) if kind is _Known.EXACT and values[index] > 0
    )
    relied_on = pinned.relied_on(published)
    # Hiding a figure the other published figures add up to changes nothing on its own.
    implied = reader.implied_by_others(known) if relied_on else set()
    not_implied = [index for index in relied_on if index not in implied]
    trials: dict[int, _Pinned] = {}
    for candidate in not_implied:
        audit = _audit_changed(reader, target, known, pinned, candidate, _Known.LARGE)
        if isinstance(audit, _Safe):
            return _Step(candidate, _Known.LARGE, audit, freed_by_hiding_all)
        trials[candidate] = audit

    all_hidden = _changed(known, published, _Known.LARGE)
    if relied_on:
        with_all_hidden = None if freed_by_hiding_all else reader.exposure(target, all_hidden)
        if not isinstance(with_all_hidden, _Pinned):
            # Freeing it takes several hidden figures: hide the smallest the proof uses, and
            # look again.
            chosen = (not_implied or relied_on)[0]
            return _Step(chosen, _Known.LARGE, trials.get(chosen), freed_by_hiding_all=True)
    else:
        # The proof uses no published figure, so it holds with them all hidden.
        with_all_hidden = pinned

    # Even with every published figure hidden the "<5" bands pin it (four "<5" atoms whose
    # "<5" sum is 4 are all 1), so a band must widen. Which one is judged with all hidden; the
    # next look decides what to hide as well.
    banded = with_all_hidden.relied_on(
        by_value(index for index, kind in enumerate(known) if kind is _Known.SMALL)
    )
    for candidate in banded:
        audit = _audit_changed(
            reader, target, all_hidden, with_all_hidden, candidate, _Known.NONZERO
        )
        if isinstance(audit, _Safe):
            return _Step(candidate, _Known.NONZERO, None, freed_by_hiding_all=True)
    # Only "<5" upper bounds can pin it with all hidden, so the proof uses at least one.
    return _Step(banded[0], _Known.NONZERO, None, freed_by_hiding_all=False)


def _audit_changed(
    reader: _Reader,
    target: int,
    base: Sequence[_Known],
    pinned: _Pinned,
    figure: int,
    kind: _Known,
) -> _Pinned | _Safe:
    """The audit of `target`, pinned on `base`, once `figure` is changed to `kind`."""
    return reader.exposure(target, _changed(base, [figure], kind), tighter=pinned, loosened=figure)


def _changed(base: Sequence[_Known], figures: Iterable[int], kind: _Known) -> list[_Known]:
    result = list(base)
    for figure in figures:
        result[figure] = kind
    return result


def _protected_figure(key: str, value: int, kind: _Known, threshold: int) -> ProtectedFigure:
    if kind is _Known.EXACT:
        return ProtectedFigure(key, value, str(value), suppressed=False, reason="")
    if kind is _Known.SMALL:
        return ProtectedFigure(key, value, f"<{threshold}", suppressed=True, reason="small")
    reason = "secondary" if kind is _Known.LARGE else "small"
    return ProtectedFigure(key, value, SECONDARY_MARKER, suppressed=True, reason=reason)


def _check_page(atoms: Mapping[Hashable, int], figures: Sequence[Figure], threshold: int) -> None:
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    for key, count in atoms.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"atom {key!r} has count {count!r}; counts are whole numbers >= 0")
    keys = [figure.key for figure in figures]
    if len(set(keys)) != len(keys):
        raise ValueError("figure keys must be unique")
    for figure in figures:
        unknown = figure.atoms - atoms.keys()
        if unknown:
            raise ValueError(
                f"figure {figure.key!r} sums unknown atoms {sorted(map(repr, unknown))}"
            )
