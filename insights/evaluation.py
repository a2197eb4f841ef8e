"""Outcome evaluation: did things change for the people who had an intervention?

For an evaluation's cohort (people with an event of a kind in a period, e.g. an early help
episode), each person's index date is their first such event. The outcome (records of a dataset,
e.g. police incidents, or findings of an indicator) is counted in the `months` before the index
date and in the `months` after it. Only people whose follow-up has fully passed count, so the
"after" window is as long as the "before" one for everyone. Figures are suppressed like every
dashboard count: people counts and event counts from 1 to 4 are not published, and a rate is
published only when the count it is made from is.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import date, timedelta
from typing import Any

from django.utils import timezone

from insights.models import Evaluation
from insights.suppression import Figure, protect, protect_table
from matching.models import LinkageRecord
from protocols.seals import sealed_q
from risk.models import RiskFinding

CHUNK = 5_000
DAYS_PER_MONTH = 30.44


def _events(
    *, dataset_id: int | None, indicator_id: int | None, person_ids=None, start=None, end=None
):
    """(person id, event date) of live, placed records of a dataset or findings of an indicator."""
    rows: Any
    if indicator_id is not None:
        rows = RiskFinding.objects.filter(
            indicator_id=indicator_id,
            record__is_retired=False,
            record__linkage__person__isnull=False,
            event_date__isnull=False,
        )
        person, when = "record__linkage__person_id", "event_date"
    else:
        rows = LinkageRecord.objects.filter(
            dataset_id=dataset_id or 0,
            person__isnull=False,
            record__is_retired=False,
            record__event_date__isnull=False,
        )
        person, when = "person_id", "record__event_date"
    # Outcomes are shown to every agency's analysts: sealed records count for nobody.
    dataset = "record__dataset_id" if indicator_id is not None else "dataset_id"
    rows = rows.exclude(sealed_q(today=timezone.localdate(), dataset=dataset))
    if start is not None:
        rows = rows.filter(**{f"{when}__gte": start})
    if end is not None:
        rows = rows.filter(**{f"{when}__lte": end})
    if person_ids is None:
        yield from rows.values_list(person, when).iterator(chunk_size=50_000)
        return
    ids = list(person_ids)
    for offset in range(0, len(ids), CHUNK):
        yield from rows.filter(**{f"{person}__in": ids[offset : offset + CHUNK]}).values_list(
            person, when
        )


def _alone(rows: dict[str, int]):
    """Figures published with no total: each is protected only against being small."""
    atoms: dict[Hashable, int] = {key: value for key, value in rows.items()}
    return protect(atoms, [Figure(key, frozenset([key])) for key in rows])


def evaluation_describe(evaluation: Evaluation) -> dict[str, str]:
    cohort = evaluation.cohort_indicator or evaluation.cohort_dataset
    outcome = evaluation.outcome_indicator or evaluation.outcome_dataset
    return {
        "cohort": str(cohort),
        "outcome": str(outcome),
        "period": f"{evaluation.period_start:%d %B %Y} to {evaluation.period_end:%d %B %Y}",
    }


def evaluation_figures(evaluation: Evaluation, *, today: date) -> dict[str, Any]:
    window = timedelta(days=round(evaluation.months * DAYS_PER_MONTH))
    index: dict[int, date] = {}
    for person_id, when in _events(
        dataset_id=evaluation.cohort_dataset_id,
        indicator_id=evaluation.cohort_indicator_id,
        start=evaluation.period_start,
        end=evaluation.period_end,
    ):
        if person_id not in index or when < index[person_id]:
            index[person_id] = when
    followed = {pid: day for pid, day in index.items() if day + window <= today}
    before: dict[int, int] = {}
    after: dict[int, int] = {}
    for person_id, when in _events(
        dataset_id=evaluation.outcome_dataset_id,
        indicator_id=evaluation.outcome_indicator_id,
        person_ids=followed,
    ):
        day = followed[person_id]
        if day - window <= when < day:
            before[person_id] = before.get(person_id, 0) + 1
        elif day < when <= day + window:
            after[person_id] = after.get(person_id, 0) + 1
    people = len(followed)
    periods = []
    for label, counts in (("Before", before), ("After", after)):
        with_event = len(counts)
        protected = protect_table({"with": with_event, "without": people - with_event})
        events = sum(counts.values())
        events_cell = _alone({"events": events})["events"]
        rate = (
            round(events / people, 2)
            if people and not events_cell.suppressed and not protected["Total"].suppressed
            else None
        )
        periods.append(
            {
                "label": f"{label} ({evaluation.months} months)",
                "people_with": protected["with"].shown,
                "people_with_value": None if protected["with"].suppressed else with_event,
                "events": events_cell.shown,
                "events_value": None if events_cell.suppressed else events,
                "rate": rate,
            }
        )
    cohort = _alone({"people": people, "waiting": len(index) - people})
    return {
        "id": evaluation.pk,
        "slug": f"evaluation-{evaluation.pk}",
        "chart_id": f"chart-evaluation-{evaluation.pk}",
        "name": evaluation.name,
        **evaluation_describe(evaluation),
        "months": evaluation.months,
        "people": cohort["people"].shown,
        "not_yet_followed": cohort["waiting"].shown,
        "periods": periods,
        "chart": {
            "type": "bar",
            "title": f"{evaluation.name}: outcome events per person",
            "labels": [p["label"] for p in periods],
            "series": [{"label": "Events per person", "values": [p["rate"] for p in periods]}],
            "suppressed": [[p["rate"] is None for p in periods]],
            "x_title": "",
            "y_title": "Events per person",
        },
    }
