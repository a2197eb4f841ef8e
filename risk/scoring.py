"""Scores from findings: weight x 0.5^(age / half-life), summed per person, on any day.

A ScoreBook holds every live finding of the partnership as arrays, so the score of every
person on a day is one vectorised pass: today's for the scores, and an earlier day's for the
trajectory and for alert rules that compare with the past. The same arithmetic serves one
person's trajectory on their page (from the findings the disclosure engine lets the reader see).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

# The trend a person's score shows on their page and in the dashboard: now against this many
# days before.
RISING_WINDOW_DAYS = 30
# A change smaller than this is "steady": decay alone moves every score a little each day.
STEADY_CHANGE = 1.0

# Bands for the dashboard's distribution, lowest first: (key, label, lowest score in band).
BANDS = (
    ("low", "Low (under 10)", 0.0),
    ("medium", "Medium (10 to 24)", 10.0),
    ("high", "High (25 to 49)", 25.0),
    ("very_high", "Very high (50 or more)", 50.0),
)


def band_of(score: float) -> str:
    key = BANDS[0][0]
    for band, _, lowest in BANDS:
        if score >= lowest:
            key = band
    return key


def trend_of(change: float) -> str:
    if change >= STEADY_CHANGE:
        return "rising"
    if change <= -STEADY_CHANGE:
        return "falling"
    return "steady"


@dataclass(frozen=True)
class FindingTerm:
    """What one finding adds to a score; the numbers scoring needs and nothing else."""

    weight: float
    half_life_days: int | None
    lookback_days: int | None
    event_date: date | None


def contribution(term: FindingTerm, day: date) -> float:
    """What the finding adds to a score on `day`: 0 before its event, outside its look-back,
    or (undated) when the indicator has a look-back that an undated record cannot show."""
    if term.event_date is None:
        return term.weight if term.lookback_days is None else 0.0
    age = (day - term.event_date).days
    if age < 0 or (term.lookback_days is not None and age > term.lookback_days):
        return 0.0
    if term.half_life_days is None:
        return term.weight
    return term.weight * 0.5 ** (age / term.half_life_days)


class ScoreBook:
    """Every live finding, as arrays indexed by finding; persons are positions in `person_ids`."""

    def __init__(self, rows: list[tuple[int, float, int | None, int | None, date | None, int]]):
        # rows: (person id, weight, half-life, look-back, event date, finding id)
        ids = sorted({row[0] for row in rows})
        position = {pid: n for n, pid in enumerate(ids)}
        self.person_ids = np.array(ids, dtype=np.int64)
        count = len(rows)
        self._person = np.fromiter((position[r[0]] for r in rows), dtype=np.int64, count=count)
        self._weight = np.fromiter((r[1] for r in rows), dtype=np.float64, count=count)
        self._half_life = np.fromiter(
            (np.inf if r[2] is None else r[2] for r in rows), dtype=np.float64, count=count
        )
        self._lookback = np.fromiter(
            (np.inf if r[3] is None else r[3] for r in rows), dtype=np.float64, count=count
        )
        self._event = np.fromiter(
            (np.nan if r[4] is None else r[4].toordinal() for r in rows),
            dtype=np.float64,
            count=count,
        )
        self._finding = np.fromiter((r[5] for r in rows), dtype=np.int64, count=count)
        self.findings_per_person = np.bincount(self._person, minlength=len(ids))

    def __len__(self) -> int:
        return len(self.person_ids)

    def _values_on(self, day: date) -> np.ndarray:
        """What each finding adds on `day` (risk.scoring.contribution, vectorised)."""
        age = day.toordinal() - self._event
        undated = np.isnan(self._event)
        with np.errstate(invalid="ignore"):
            counts = np.where(
                undated,
                np.isinf(self._lookback),
                (age >= 0) & (age <= self._lookback),
            )
            decay = np.where(
                undated | np.isinf(self._half_life), 1.0, 0.5 ** (age / self._half_life)
            )
        return np.where(counts, self._weight * decay, 0.0)

    def scores_on(self, day: date) -> np.ndarray:
        """Every person's score on `day`, in the order of `person_ids`."""
        if not len(self._weight):
            return np.zeros(len(self.person_ids))
        return np.bincount(
            self._person, weights=self._values_on(day), minlength=len(self.person_ids)
        )

    def contributing(self, person_ids: list[int], day: date) -> dict[int, list[int]]:
        """{person id: ids of the findings adding to their score on `day`}: an alert's reasons."""
        if not len(self._weight):
            return {}
        positions = np.searchsorted(self.person_ids, np.array(person_ids, dtype=np.int64))
        wanted = np.zeros(len(self.person_ids), dtype=bool)
        valid = positions < len(self.person_ids)
        wanted[positions[valid]] = True
        chosen = wanted[self._person] & (self._values_on(day) > 0)
        found: dict[int, list[int]] = {}
        for person_position, finding_id in zip(
            self._person[chosen].tolist(), self._finding[chosen].tolist(), strict=True
        ):
            found.setdefault(int(self.person_ids[person_position]), []).append(finding_id)
        return found


def trajectory(terms: list[FindingTerm], days: list[date]) -> list[float]:
    """One person's score on each of `days`."""
    return [round(sum(contribution(t, day) for t in terms), 1) for day in days]
