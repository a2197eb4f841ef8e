"""The dashboards' figures: computed after each scoring run, suppressed, and kept as a snapshot.

    insights_refresh(today=)     profiles and a snapshot, in every scoring run (sharehub.pipeline)
    drilldown_people(...)        the people behind a count, as the disclosure engine allows

Counts from 1 to 4 are published as "<5", and further counts are held back where the page's
other figures would give a small one away (insights.suppression). All the people figures of one
page (caseload per agency, the overlap matrix, the agency-set intersections, people by number of
agencies and the total) are protected together, because each is a sum of the same intersections
and a reader can combine them.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import date, timedelta
from itertools import combinations
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.db.models.functions import TruncMonth
from django.utils import timezone

from agencies.models import Agency
from alerts.models import Alert, AlertOutcome, AlertStatus
from core.charts import chart_data
from insights.models import Evaluation, InsightSnapshot, PersonProfile
from insights.suppression import Figure, protect, protect_table
from matching.models import LinkageRecord
from protocols.seals import sealed_q
from risk.models import PersonRisk, RiskDay
from risk.scoring import BANDS, band_of

CHUNK = 5_000
TREND_DAYS = 180
ALERT_MONTHS = 12


def _agencies() -> list[Agency]:
    # Bits of the agency mask; 62 agencies fit a signed 64-bit integer.
    return list(Agency.objects.order_by("pk")[:62])


def _bit_of(agencies: list[Agency]) -> dict[int, int]:
    return {agency.pk: position for position, agency in enumerate(agencies)}


def profiles_rebuild(*, agencies: list[Agency]) -> None:
    """One profile per person with a live record: which agencies know them, and their band."""
    bit_of = _bit_of(agencies)
    masks: dict[int, int] = {}
    households: dict[int, int | None] = {}
    rows = (
        LinkageRecord.objects.filter(
            person__isnull=False, person__is_active=True, record__is_retired=False
        )
        # Dashboards are read by every agency's analysts: a sealed record counts for nobody,
        # or a small-number cell could say who is known to a sexual health clinic.
        .exclude(sealed_q(today=timezone.localdate()))
        .order_by()
        .values_list("person_id", "agency_id", "person__household_id")
        .distinct()
        .iterator(chunk_size=50_000)
    )
    for person_id, agency_id, household_id in rows:
        bit = bit_of.get(agency_id)
        if bit is not None:
            masks[person_id] = masks.get(person_id, 0) | (1 << bit)
            households[person_id] = household_id
    # Only people with a score have a band: read them, not every profile's id.
    bands = {
        pid: band_of(score)
        for pid, score in PersonRisk.objects.filter(score__gt=0)
        .values_list("person_id", "score")
        .iterator(chunk_size=50_000)
    }
    with transaction.atomic():
        PersonProfile.objects.all().delete()
        PersonProfile.objects.bulk_create(
            (
                PersonProfile(
                    person_id=pid,
                    agency_mask=mask,
                    agencies=mask.bit_count(),
                    household_id=households.get(pid),
                    band=bands.get(pid, ""),
                )
                for pid, mask in masks.items()
            ),
            batch_size=CHUNK,
        )


def _set_label(mask: int, agencies: list[Agency]) -> str:
    return " + ".join(a.name for bit, a in enumerate(agencies) if mask & (1 << bit))


def _cell(protected, key, drill: str = "") -> dict[str, Any]:
    item = protected[key]
    return {
        "shown": item.shown,
        "suppressed": item.suppressed,
        # The true value only travels with a published count; a suppressed one never leaves.
        "value": None if item.suppressed else item.value,
        "drill": drill,
    }


def people_figures(agencies: list[Agency]) -> dict[str, Any]:
    """Caseload, overlap matrix, intersections and people by number of agencies, protected
    together."""
    atoms = dict(
        PersonProfile.objects.values_list("agency_mask").annotate(n=Count("person_id")).order_by()
    )
    bits = range(len(agencies))
    all_masks = list(atoms)
    figures = [Figure(f"set:{mask}", frozenset([mask])) for mask in all_masks]
    figures.append(Figure("total", frozenset(all_masks)))
    for bit in bits:
        figures.append(Figure(f"agency:{bit}", frozenset(m for m in all_masks if m & (1 << bit))))
    for first, second in combinations(bits, 2):
        both = (1 << first) | (1 << second)
        figures.append(
            Figure(f"pair:{first}:{second}", frozenset(m for m in all_masks if m & both == both))
        )
    for count in range(1, len(agencies) + 1):
        figures.append(
            Figure(f"count:{count}", frozenset(m for m in all_masks if m.bit_count() == count))
        )
    protected = protect(atoms, figures)

    caseload = [
        {"label": agency.name, **_cell(protected, f"agency:{bit}", f"agency:{bit}")}
        for bit, agency in enumerate(agencies)
    ]
    matrix = []
    for row in bits:
        cells = []
        for column in bits:
            if row == column:
                cells.append(_cell(protected, f"agency:{row}", f"agency:{row}"))
            else:
                low, high = sorted((row, column))
                cells.append(_cell(protected, f"pair:{low}:{high}", f"pair:{low}:{high}"))
        matrix.append({"label": agencies[row].name, "cells": cells})
    intersections = sorted(
        (
            {
                "label": _set_label(mask, agencies),
                "agencies": mask.bit_count(),
                "codes": [a.code for bit, a in enumerate(agencies) if mask & (1 << bit)],
                **_cell(protected, f"set:{mask}", f"set:{mask}"),
            }
            for mask in all_masks
        ),
        key=lambda c: (-(c["value"] if c["value"] is not None else 2.5), c["label"]),
    )
    by_count = [
        {"label": f"{n} agenc{'y' if n == 1 else 'ies'}", **_cell(protected, f"count:{n}")}
        for n in range(1, len(agencies) + 1)
    ]
    several = [c for c in intersections if c["agencies"] >= 2]
    return {
        "total": _cell(protected, "total"),
        "caseload": caseload,
        "caseload_chart": chart_data(
            "bar",
            "People known to each agency",
            [c["label"] for c in caseload],
            [("People", caseload)],
            x_title="Agency",
        ),
        "matrix": matrix,
        "matrix_labels": [a.name for a in agencies],
        "intersections": intersections,
        "upset_chart": chart_data(
            "horizontalBar",
            "People known to exactly these agencies (two or more)",
            [c["label"] for c in several],
            [("People", several)],
            x_title="People",
            y_title="",
        ),
        "by_count": by_count,
        "by_count_chart": chart_data(
            "bar",
            "People by number of agencies that know them",
            [c["label"] for c in by_count],
            [("People", by_count)],
            x_title="Agencies",
        ),
    }


def household_figures(agencies: list[Agency]) -> dict[str, Any]:
    masks: dict[int, int] = {}
    for household_id, mask in (
        PersonProfile.objects.filter(household__isnull=False)
        .values_list("household_id", "agency_mask")
        .iterator(chunk_size=50_000)
    ):
        masks[household_id] = masks.get(household_id, 0) | mask
    counts = Counter(mask.bit_count() for mask in masks.values())
    rows = {f"{n}": counts.get(n, 0) for n in range(1, len(agencies) + 1)}
    protected = protect_table(rows)
    cells = [
        {"label": f"{n} agenc{'y' if n == '1' else 'ies'}", **_cell(protected, n)} for n in rows
    ]
    return {
        "rows": cells,
        "total": _cell(protected, "Total"),
        "chart": chart_data(
            "bar",
            "Households by number of agencies involved",
            [c["label"] for c in cells],
            [("Households", cells)],
            x_title="Agencies",
            y_title="Households",
        ),
    }


def risk_figures(today: date) -> dict[str, Any]:
    bands = Counter(
        band_of(score)
        for score in PersonRisk.objects.filter(score__gt=0).values_list("score", flat=True)
    )
    protected = protect_table({key: bands.get(key, 0) for key, _, _ in BANDS})
    rows = [{"label": label, "band": key, **_cell(protected, key)} for key, label, _ in BANDS]
    days = list(RiskDay.objects.filter(day__gt=today - timedelta(days=TREND_DAYS)).order_by("day"))
    # One point a week keeps the trend readable; each day's counts are protected on their own.
    weekly = [d for d in days if (today - d.day).days % 7 == 0] or days[-1:]
    trend_labels = [f"{d.day:%d %b %Y}" for d in weekly]
    trend_series: dict[str, list[dict[str, Any]]] = {key: [] for key, _, _ in BANDS}
    trend_rows = []
    for day in weekly:
        day_protected = protect_table({key: int(day.bands.get(key, 0)) for key, _, _ in BANDS})
        cells = {key: _cell(day_protected, key) for key, _, _ in BANDS}
        for key in trend_series:
            trend_series[key].append(cells[key])
        trend_rows.append(
            {
                "label": f"{day.day:%d %B %Y}",
                "cells": [cells[k] for k, _, _ in BANDS],
                "total": _cell(day_protected, "Total"),
            }
        )
    return {
        "bands": rows,
        "total": _cell(protected, "Total"),
        "band_labels": [label for _, label, _ in BANDS],
        "chart": chart_data(
            "bar",
            "People by risk band",
            [r["label"] for r in rows],
            [("People", rows)],
            x_title="Risk band",
        ),
        "trend": trend_rows,
        "trend_chart": chart_data(
            "stackedBar",
            "People by risk band over time",
            trend_labels,
            [(label, trend_series[key]) for key, label, _ in BANDS],
            x_title="Week",
        ),
    }


def alert_figures(today: date) -> dict[str, Any]:
    since = (today.replace(day=1) - timedelta(days=31 * (ALERT_MONTHS - 1))).replace(day=1)
    raised = dict(
        Alert.objects.filter(raised_on__gte=since)
        .annotate(month=TruncMonth("raised_on"))
        .values_list("month")
        .annotate(n=Count("pk"))
        .order_by()
    )
    months = []
    cursor = since
    while cursor <= today:
        months.append(cursor)
        cursor = (cursor + timedelta(days=32)).replace(day=1)
    month_rows = {f"{m:%Y-%m}": int(raised.get(m, 0) or 0) for m in months}
    # TruncMonth gives a date on SQLite and PostgreSQL alike for a DateField.
    protected_months = protect_table(month_rows)
    month_cells = [{"label": f"{m:%B %Y}", **_cell(protected_months, f"{m:%Y-%m}")} for m in months]
    outcomes = Counter(
        Alert.objects.filter(status=AlertStatus.CLOSED, raised_on__gte=since).values_list(
            "outcome", flat=True
        )
    )
    outcome_rows = {value: outcomes.get(value, 0) for value in AlertOutcome.values}
    open_rows = Counter(
        Alert.objects.filter(raised_on__gte=since)
        .exclude(status=AlertStatus.CLOSED)
        .values_list("status", flat=True)
    )
    outcome_rows["still_open"] = sum(open_rows.values())
    protected_outcomes = protect_table(outcome_rows)
    labels = dict(AlertOutcome.choices) | {"still_open": "Not yet closed"}
    outcome_cells = [{"label": labels[k], **_cell(protected_outcomes, k)} for k in outcome_rows]
    return {
        "months": month_cells,
        "months_total": _cell(protected_months, "Total"),
        "months_chart": chart_data(
            "bar",
            "Alerts raised each month",
            [c["label"] for c in month_cells],
            [("Alerts", month_cells)],
            x_title="Month",
            y_title="Alerts",
        ),
        "outcomes": outcome_cells,
        "outcomes_total": _cell(protected_outcomes, "Total"),
        "outcomes_chart": chart_data(
            "horizontalBar",
            "Alerts by outcome",
            [c["label"] for c in outcome_cells],
            [("Alerts", outcome_cells)],
            x_title="Alerts",
            y_title="",
        ),
    }


def insights_refresh(*, today: date | None = None) -> InsightSnapshot:
    """Rebuild the profiles and write a new snapshot of every dashboard figure."""
    from insights.evaluation import evaluation_figures

    today = today or timezone.localdate()
    started = time.perf_counter()
    agencies = _agencies()
    profiles_rebuild(agencies=agencies)
    figures = {
        "agencies": [
            {"bit": bit, "id": a.pk, "code": a.code, "name": a.name}
            for bit, a in enumerate(agencies)
        ],
        "people": people_figures(agencies),
        "households": household_figures(agencies),
        "risk": risk_figures(today),
        "alerts": alert_figures(today),
        "evaluations": [
            evaluation_figures(evaluation, today=today) for evaluation in Evaluation.objects.all()
        ],
    }
    snapshot = InsightSnapshot.objects.create(
        computed_for=today, figures=figures, seconds=round(time.perf_counter() - started, 2)
    )
    # Only the newest is read; a week of older ones is kept for comparison, no more.
    keep = InsightSnapshot.objects.order_by("-pk").values_list("pk", flat=True)[:7]
    InsightSnapshot.objects.exclude(pk__in=list(keep)).delete()
    return snapshot


def snapshot_latest() -> InsightSnapshot | None:
    return InsightSnapshot.objects.order_by("-pk").first()
