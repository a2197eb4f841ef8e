"""Raising alerts from the day's scores and findings, once per cause.

    alerts_evaluate(book=, today=)   after every scoring run (risk.services.enrich_run)

Raised alerts are delivered at the end of the same evaluation (alerts.delivery).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from django.utils import timezone

from alerts.delivery import alerts_deliver, alerts_withdraw_sealed
from alerts.models import Alert, AlertEvent, AlertRule, RuleKind
from alerts.rules import score_rule_met
from matching.models import LinkageRecord
from protocols.seals import sealed_findings
from risk.models import RiskFinding
from risk.scoring import ScoreBook


def alerts_evaluate(*, book: ScoreBook, today: date) -> dict[str, int]:
    """Raise the day's alerts for every active rule, end the causes that stopped holding, and
    deliver what is not yet delivered. Idempotent for the same day and data."""
    figures = {"raised": 0, "ended": 0, "delivered": 0, "withdrawn": 0}
    now_scores = book.scores_on(today)
    ids = book.person_ids.tolist()
    scores_before: dict[int, np.ndarray] = {0: now_scores}
    for rule in AlertRule.objects.filter(is_active=True).select_related("indicator"):
        if rule.kind == RuleKind.NEW_EVENT_WHILE_OPEN:
            figures["raised"] += _new_events_raise(rule, today)
            continue
        window = rule.window_days or 0
        if window and window not in scores_before:
            scores_before[window] = book.scores_on(today - timedelta(days=window))
        met = score_rule_met(rule, now_scores, scores_before[window])
        holding = {
            ids[position]: round(float(now_scores[position]), 2)
            for position in np.nonzero(met)[0].tolist()
        }
        raised, ended = _causes_apply(rule, holding, today, book)
        figures["raised"] += raised
        figures["ended"] += ended
    figures["withdrawn"] = alerts_withdraw_sealed(today=today, now=timezone.now())
    figures["delivered"] = alerts_deliver(now=timezone.now())
    return figures


def _causes_apply(
    rule: AlertRule, holding: dict[int, float], today: date, book: ScoreBook
) -> tuple[int, int]:
    """A score rule's causes: one alert per stretch of days over which the condition holds."""
    ongoing = set(
        Alert.objects.filter(rule=rule, condition_ended_on__isnull=True).values_list(
            "person_id", flat=True
        )
    )
    ended = ongoing - set(holding)
    ended_count = 0
    if ended:
        ended_count = Alert.objects.filter(
            rule=rule, condition_ended_on__isnull=True, person_id__in=list(ended)
        ).update(condition_ended_on=today)
    new = [pid for pid in holding if pid not in ongoing]
    contributing = _finding_keys(book.contributing(new, today)) if new else {}
    rows = [
        Alert(
            rule=rule,
            person_id=person_id,
            cause_key=f"from:{today.isoformat()}",
            raised_on=today,
            score=holding[person_id],
            finding_keys=contributing.get(person_id, []),
        )
        for person_id in new
    ]
    return _alerts_create(rows), ended_count


def _finding_keys(finding_ids: dict[int, list[int]]) -> dict[int, list[list[int]]]:
    """{person: finding ids} as {person: [indicator id, record id] pairs}, which outlast the
    next run's finding ids."""
    wanted = [f for ids in finding_ids.values() for f in ids]
    pair_of: dict[int, list[int]] = {}
    for start in range(0, len(wanted), 5000):
        for pk, indicator_id, record_id in RiskFinding.objects.filter(
            pk__in=wanted[start : start + 5000]
        ).values_list("pk", "indicator_id", "record_id"):
            pair_of[pk] = [indicator_id, record_id]
    return {
        person: sorted(pair_of[f] for f in ids if f in pair_of)
        for person, ids in finding_ids.items()
    }


def _new_events_raise(rule: AlertRule, today: date) -> int:
    """New findings of the rule's indicator for persons with a recent record of another agency."""
    if rule.indicator_id is None or rule.open_agency_id is None:
        return 0
    since = today - timedelta(days=rule.new_within_days or 14)
    findings = (
        RiskFinding.objects.filter(
            indicator_id=rule.indicator_id,
            event_date__gte=since,
            event_date__lte=today,
            record__is_retired=False,
            record__linkage__person__isnull=False,
        )
        # A sealed record's event raises nothing: an alert would say that it happened.
        .exclude(sealed_findings(today))
        .values_list("pk", "record_id", "record__linkage__person_id", "record__dataset__agency_id")
    )
    candidates = [row for row in findings if row[3] != rule.open_agency_id]
    if not candidates:
        return 0
    persons = list({row[2] for row in candidates})
    open_since = today - timedelta(days=rule.open_within_days or 365)
    open_persons: set[int] = set()
    for start in range(0, len(persons), 5000):
        open_persons.update(
            LinkageRecord.objects.filter(
                person_id__in=persons[start : start + 5000],
                agency_id=rule.open_agency_id,
                record__is_retired=False,
                record__event_date__gte=open_since,
            ).values_list("person_id", flat=True)
        )
    rows = [
        Alert(
            rule=rule,
            person_id=person_id,
            cause_key=f"record:{record_id}",
            raised_on=today,
            condition_ended_on=today,
            record_id=record_id,
            finding_keys=[[rule.indicator_id, record_id]],
        )
        for _, record_id, person_id, _ in candidates
        if person_id in open_persons
    ]
    return _alerts_create(rows)


def _alerts_create(rows: list[Alert]) -> int:
    """Insert alerts whose cause has none yet (rows of one rule). The unique constraint skips a
    cause already alerted, so two runs at once still raise it once."""
    if not rows:
        return 0
    rule_id = rows[0].rule_id
    persons = list({a.person_id for a in rows})
    existing: set[tuple[int, str]] = set()
    for start in range(0, len(persons), 5000):
        existing.update(
            Alert.objects.filter(
                rule_id=rule_id, person_id__in=persons[start : start + 5000]
            ).values_list("person_id", "cause_key")
        )
    fresh = [a for a in rows if (a.person_id, a.cause_key) not in existing]
    if not fresh:
        return 0
    Alert.objects.bulk_create(fresh, batch_size=2000, ignore_conflicts=True)
    unrecorded = Alert.objects.filter(
        rule_id=rule_id, raised_on=fresh[0].raised_on, events__isnull=True
    ).values_list("pk", flat=True)
    AlertEvent.objects.bulk_create(
        [AlertEvent(alert_id=pk, kind=AlertEvent.Kind.RAISED) for pk in unrecorded],
        batch_size=2000,
    )
    return len(fresh)
