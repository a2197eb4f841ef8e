"""Alert rules, raising alerts from the day's scores, delivering them, and acting on them.

    alerts_evaluate(book=, today=)   after every scoring run (risk.services.enrich_run)

An alert goes to the practitioners who subscribe to its rule and whose protocols let them see
the person (protocols.engine.persons_visible, the same test as a case summary); the inbox asks
the engine again at every read, so a protocol withdrawn after the alert was raised hides it.
What an alert shows of why it was raised (its reasons) is what the engine shows of the records
behind it, field by field.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.timesince import timesince

from agencies.models import Agency, Membership, Role
from alerts.models import (
    Alert,
    AlertDelivery,
    AlertEvent,
    AlertOutcome,
    AlertRule,
    AlertStatus,
    AlertSubscription,
    RuleKind,
)
from matching.models import LinkageRecord
from matching.screening import identifiers_in_text, screen_problem
from protocols.engine import (
    PersonView,
    disclose,
    finding_disclosed,
    identifiers_shown,
    persons_visible,
)
from protocols.fields import identity_key
from protocols.models import AccessLog, Purpose
from protocols.seals import sealed_findings, sealed_record_ids
from risk.models import RiskFinding, RiskIndicator
from risk.scoring import FindingTerm, ScoreBook, contribution

logger = logging.getLogger(__name__)

# Alerts are for keeping people safe: recipients and readers are asked about under this purpose.
ALERT_PURPOSE = Purpose.SAFEGUARDING
NOTE_MAX_LENGTH = 2000
# Persons per disclosure question when an alert's rule is asked again for one recipient.
ALERT_PERSONS_PER_BATCH = 500


class AlertError(ValueError):
    """A request about an alert that cannot be done; `problems` maps a field to what to fix."""

    def __init__(self, problems: dict[str, list[str]]):
        super().__init__("; ".join(p for ps in problems.values() for p in ps))
        self.problems = problems


class AlertNotFound(Exception):
    """Not an alert of this user's, or about a person they may no longer see: answer 404."""


# --- rules ---------------------------------------------------------------------------------------


@dataclass
class RuleInput:
    name: str
    kind: str
    description: str = ""
    threshold: float | None = None
    lower_threshold: float | None = None
    rise: float | None = None
    window_days: int | None = None
    indicator: RiskIndicator | None = None
    open_agency: Agency | None = None
    open_within_days: int | None = None
    new_within_days: int | None = None
    is_active: bool = True


# What each kind needs, and what it ignores.
_KIND_FIELDS = {
    RuleKind.SCORE_ABOVE: ("threshold",),
    RuleKind.SCORE_RISING: ("rise", "window_days"),
    RuleKind.STEP_DOWN: ("threshold", "lower_threshold", "window_days"),
    RuleKind.NEW_EVENT_WHILE_OPEN: (
        "indicator",
        "open_agency",
        "open_within_days",
        "new_within_days",
    ),
}
_ALL_FIELDS = (
    "threshold",
    "lower_threshold",
    "rise",
    "window_days",
    "indicator",
    "open_agency",
    "open_within_days",
    "new_within_days",
)
_FIELD_PROBLEMS = {
    "threshold": "Enter the score threshold, a number above 0.",
    "lower_threshold": "Enter the score it must fall below, a number above 0.",
    "rise": "Enter how much the score must rise by, a number above 0.",
    "window_days": "Enter the number of days to compare over, from 1 to 365.",
    "indicator": "Choose the indicator whose new events raise the alert.",
    "open_agency": "Choose the agency the person must already be open to.",
    "open_within_days": "Enter how recent the other agency's record must be, from 1 to 3650 days.",
    "new_within_days": "Enter how recent an event must be to count as new, from 1 to 90 days.",
}
_DAY_LIMITS = {"window_days": 365, "open_within_days": 3650, "new_within_days": 90}


def rule_checked(data: RuleInput) -> dict[str, Any]:
    problems: dict[str, list[str]] = {}
    name = (data.name or "").strip()
    if not name:
        problems["name"] = ['Enter a name, for example "High risk: score above 40".']
    elif len(name) > 120:
        problems["name"] = ["Shorten the name to 120 characters or fewer."]
    if data.kind not in RuleKind.values:
        problems["kind"] = ["Choose what kind of rule it is."]
        raise AlertError(problems)
    needed = _KIND_FIELDS[RuleKind(data.kind)]
    cleaned: dict[str, Any] = {name_: None for name_ in _ALL_FIELDS}
    for name_ in needed:
        value = getattr(data, name_)
        ok = value is not None
        if ok and name_ in _DAY_LIMITS:
            ok = isinstance(value, int) and 1 <= value <= _DAY_LIMITS[name_]
        elif ok and name_ in ("threshold", "lower_threshold", "rise"):
            ok = isinstance(value, int | float) and 0 < value <= 10_000
        if not ok:
            problems.setdefault(name_, []).append(_FIELD_PROBLEMS[name_])
        cleaned[name_] = value
    if (
        data.kind == RuleKind.STEP_DOWN
        and not problems
        and data.lower_threshold is not None
        and data.threshold is not None
        and data.lower_threshold >= data.threshold
    ):
        problems.setdefault("lower_threshold", []).append(
            "The score it falls below must be lower than the score it was at."
        )
    if problems:
        raise AlertError(problems)
    return {
        "name": name,
        "kind": data.kind,
        "description": (data.description or "").strip(),
        "is_active": data.is_active,
        **cleaned,
    }


def rule_save(*, data: RuleInput, by, rule: AlertRule | None = None) -> AlertRule:
    cleaned = rule_checked(data)
    clash = AlertRule.objects.filter(name__iexact=cleaned["name"])
    if rule is not None:
        clash = clash.exclude(pk=rule.pk)
    if clash.exists():
        raise AlertError({"name": ["Another rule has this name: choose another."]})
    if rule is None:
        return AlertRule.objects.create(created_by=by, **cleaned)
    for name, value in cleaned.items():
        setattr(rule, name, value)
    rule.save()
    return rule


def subscription_set(*, membership: Membership, rule: AlertRule, subscribed: bool) -> None:
    """Subscribe or unsubscribe a practitioner, acting in `membership`, to a rule's alerts."""
    if membership.role != Role.PRACTITIONER or membership.agency_id is None:
        raise AlertError({"": ["Only practitioners subscribe to alerts."]})
    if subscribed:
        AlertSubscription.objects.get_or_create(rule=rule, membership=membership)
    else:
        AlertSubscription.objects.filter(rule=rule, membership=membership).delete()


def subscribed_rule_ids(membership: Membership) -> set[int]:
    return set(
        AlertSubscription.objects.filter(membership=membership).values_list("rule_id", flat=True)
    )


# --- raising -------------------------------------------------------------------------------------


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
        met = _score_rule_met(rule, now_scores, scores_before[window])
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


def alerts_withdraw_sealed(*, today: date, now) -> int:
    """Take back, from each recipient for whom its rule no longer holds, every alert not yet
    closed that stands on a record sealed on `today`; returns how many deliveries were taken.

    Ending the cause (condition_ended_on) is how an alert stops applying, but an ended alert
    stays in its recipients' inboxes until someone closes it: an alert that a sealed record
    raised would go on telling other agencies that something hidden puts the person at risk.
    So the delivery test (_holding_for) is asked again, as at delivery: the record's own
    agency still sees the record, so its practitioners keep the alert; others lose it from
    their inbox and its page. Its events stay, and it is raised afresh if the seal ends.
    Idempotent: a delivery taken back is not there to take again."""
    alerts = {
        alert.pk: alert
        for alert in Alert.objects.filter(delivered=True)
        .exclude(status=AlertStatus.CLOSED)
        .only("pk", "rule_id", "person_id", "raised_on", "finding_keys")
    }
    record_ids = sorted({record_id for a in alerts.values() for _, record_id in a.finding_keys})
    sealed: set[int] = set()
    for start in range(0, len(record_ids), 5000):  # under SQLite's limit on query parameters
        sealed |= sealed_record_ids(record_ids=record_ids[start : start + 5000], today=today)
    touched = {
        pk: alert
        for pk, alert in alerts.items()
        if any(record_id in sealed for _, record_id in alert.finding_keys)
    }
    if not touched:
        return 0
    deliveries: dict[int, list[int]] = defaultdict(list)
    for alert_id, membership_id in AlertDelivery.objects.filter(
        alert_id__in=list(touched)
    ).values_list("alert_id", "membership_id"):
        deliveries[membership_id].append(alert_id)
    rules = AlertRule.objects.in_bulk({alert.rule_id for alert in touched.values()})
    withdrawn = 0
    for membership in Membership.objects.filter(pk__in=list(deliveries)).select_related(
        "user", "agency"
    ):
        alert_ids = deliveries[membership.pk]
        holding = _holding_for(membership, [touched[pk] for pk in alert_ids], rules, now)
        gone = [pk for pk in alert_ids if pk not in holding]
        if not gone:
            continue
        with transaction.atomic():
            withdrawn += AlertDelivery.objects.filter(
                membership=membership, alert_id__in=gone
            ).delete()[0]
            Alert.objects.filter(pk__in=gone, assigned_to=membership).update(assigned_to=None)
    return withdrawn


def _score_rule_met(rule: AlertRule, now, before):
    """Whether a score rule holds, for arrays of every person's scores or one recipient's."""
    if rule.kind == RuleKind.SCORE_ABOVE:
        return now > (rule.threshold or 0)
    if rule.kind == RuleKind.SCORE_RISING:
        return now - before >= (rule.rise or 0)
    # Step-down: was at or above the threshold, now below the lower one.
    return (before >= (rule.threshold or 0)) & (now < (rule.lower_threshold or 0))


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


def alerts_deliver(*, now) -> int:
    """Deliver every undelivered alert to its rule's subscribers who may see the person, and
    tell each recipient once per rule and run. Claims each alert by its `delivered` flag."""
    from notifications.models import NotificationKind
    from notifications.services import notify

    pending = {
        alert.pk: alert
        for alert in Alert.objects.filter(delivered=False).only(
            "pk", "rule_id", "person_id", "raised_on", "finding_keys"
        )
    }
    if not pending:
        return 0
    by_rule: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for alert in pending.values():
        by_rule[alert.rule_id].append((alert.pk, alert.person_id))
    subscriptions = (
        AlertSubscription.objects.filter(
            rule_id__in=list(by_rule),
            membership__is_active=True,
            membership__role=Role.PRACTITIONER,
            membership__user__is_active=True,
        )
        .exclude(membership__agency__is_active=False)
        .select_related("membership__user", "membership__agency", "rule")
    )
    # One visibility question per practitioner, over every person of every rule they follow:
    # the cost grows with practitioners, not with practitioners x rules.
    by_membership: dict[int, list[AlertSubscription]] = defaultdict(list)
    for subscription in subscriptions:
        by_membership[subscription.membership_id].append(subscription)
    delivered = 0
    with transaction.atomic():
        claimed = set(
            Alert.objects.select_for_update(skip_locked=True)
            .filter(pk__in=list(pending), delivered=False)
            .values_list("pk", flat=True)
        )
        for followed in by_membership.values():
            membership = followed[0].membership
            wanted = {
                subscription.rule_id: [
                    (pk, pid) for pk, pid in by_rule[subscription.rule_id] if pk in claimed
                ]
                for subscription in followed
            }
            visible = _sees(
                membership, [pid for alerts in wanted.values() for _, pid in alerts], now
            )
            holding = _holding_for(
                membership,
                [pending[pk] for alerts in wanted.values() for pk, pid in alerts if pid in visible],
                {subscription.rule_id: subscription.rule for subscription in followed},
                now,
            )
            for subscription in followed:
                rows = [
                    AlertDelivery(alert_id=pk, membership=membership)
                    for pk, _ in wanted[subscription.rule_id]
                    if pk in holding
                ]
                if not rows:
                    continue
                AlertDelivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
                delivered += len(rows)
                count = len(rows)
                notify(
                    recipients=[membership.user],
                    kind=NotificationKind.ALERT_RAISED,
                    message=(
                        f"{count} new alert{'s' if count != 1 else ''} from the rule "
                        f"\u201c{subscription.rule.name}\u201d"
                    ),
                    link="/alerts/",
                )
        Alert.objects.filter(pk__in=claimed).update(delivered=True)
    return delivered


def _holding_for(
    membership: Membership, alerts: list[Alert], rules: dict[int, AlertRule], now
) -> set[int]:
    """The ids of `alerts` whose rule holds on what the engine shows the recipient.

    A rule is asked again of the findings the recipient may see (findings_shown): a score rule
    of their score on the alert's day, a new event of that event being shown. An alert that
    stood on fields withheld from someone would tell them what the records are withheld from
    saying (issue 20 finding 10), so it does not reach them.
    """
    from matching.models import Person
    from risk.services import persons_terms

    holding: set[int] = set()
    person_ids = sorted({alert.person_id for alert in alerts})
    for start in range(0, len(person_ids), ALERT_PERSONS_PER_BATCH):
        batch = set(person_ids[start : start + ALERT_PERSONS_PER_BATCH])
        views = disclose(
            user=membership.user,
            membership=membership,
            persons=Person.objects.filter(pk__in=batch),
            purpose=ALERT_PURPOSE,
            now=now,
        )
        terms = persons_terms(list(views))
        for alert in alerts:
            view = views.get(alert.person_id)
            if alert.person_id not in batch or view is None:
                continue
            shown = findings_shown(view, terms.get(alert.person_id, []))
            rule = rules[alert.rule_id]
            if rule.kind == RuleKind.NEW_EVENT_WHILE_OPEN:
                causes = {tuple(pair) for pair in alert.finding_keys}
                met = any((f.indicator_id, f.record_id) in causes for f, _ in shown) and any(
                    i.agency.pk == rule.open_agency_id for i in view.involvements
                )
            else:
                score, before = rule_scores(rule, [term for _, term in shown], alert.raised_on)
                met = bool(_score_rule_met(rule, score, before))
            if met:
                holding.add(alert.pk)
    return holding


def findings_shown(
    view: PersonView, terms: list[tuple[RiskFinding, FindingTerm]]
) -> list[tuple[RiskFinding, FindingTerm]]:
    """The findings of `terms` (risk.services.persons_terms) that may count for the reader of
    `view`: those whose every field read is shown to them (protocols.engine.finding_disclosed),
    as the person's risk page counts them."""
    return [
        (finding, term)
        for finding, term in terms
        if finding_disclosed(view, record_id=finding.record_id, field_keys=finding.field_keys)
    ]


def rule_scores(rule: AlertRule, terms: list[FindingTerm], day: date) -> tuple[float, float]:
    """The two scores a score rule compares, from `terms`: on `day`, and `window_days` before
    (the same day for a rule with no window)."""
    earlier = day - timedelta(days=rule.window_days or 0)
    return (
        sum(contribution(term, day) for term in terms),
        sum(contribution(term, earlier) for term in terms),
    )


# --- the inbox -----------------------------------------------------------------------------------


@dataclass
class InboxFilter:
    status: str = ""  # "" = not closed, or an AlertStatus
    rule_id: int | None = None
    mine: bool = False  # assigned to me


@dataclass
class InboxEntry:
    """One alert as its reader's inbox shows it, with what the engine shares of the person."""

    alert: Alert
    name: str  # "" unless a protocol shows the reader the person's name
    year_of_birth: int | None  # only where a date of birth is shown to the reader
    known_to: list[Agency]  # the agencies the reader may see know the person
    # Score rules: the scores the rule compares (rule_scores) on the day the alert was raised,
    # counted from the findings shown to the reader, as their risk page counts them: the score
    # stored with the alert may stand on records withheld from them. None for a new event.
    score: float | None
    score_before: float | None
    raised_ago: str  # "3 days ago"

    @property
    def score_change(self) -> float | None:
        if self.score is None or self.score_before is None:
            return None
        return round(self.score - self.score_before, 1)


@dataclass
class Inbox:
    alerts: list[Alert]
    counts: dict[str, int] = field(default_factory=dict)
    # Filled by alert_inbox_read, which logs what it shows.
    entries: list[InboxEntry] = field(default_factory=list)


def _delivered_to(membership: Membership) -> QuerySet[Alert]:
    return Alert.objects.filter(deliveries__membership=membership)


def _sees(membership: Membership, person_ids, now=None) -> set[int]:
    """Which of `person_ids` the practitioner acting in `membership` may see for alerts."""
    return persons_visible(
        user=membership.user,
        membership=membership,
        person_ids=person_ids,
        purpose=ALERT_PURPOSE,
        now=now or timezone.now(),
    )


def alert_inbox(*, membership: Membership, filters: InboxFilter, now=None, limit=200) -> Inbox:
    """The alerts delivered to `membership` about people the user may still see, newest first."""
    now = now or timezone.now()
    alerts = _delivered_to(membership).select_related(
        "rule__indicator", "rule__open_agency", "person", "assigned_to__user"
    )
    if filters.status in AlertStatus.values:
        alerts = alerts.filter(status=filters.status)
    else:
        alerts = alerts.exclude(status=AlertStatus.CLOSED)
    if filters.rule_id:
        alerts = alerts.filter(rule_id=filters.rule_id)
    if filters.mine:
        alerts = alerts.filter(assigned_to=membership)
    found = list(alerts.order_by("-raised_at", "-pk")[: limit * 2])
    # One visibility question serves the list and the counts: every delivered alert's person.
    counts, visible = _counts_and_visible(membership, now)
    shown = [a for a in found if a.person_id in visible][:limit]
    return Inbox(alerts=shown, counts=counts)


# What an inbox row shows of a person's records: the name and the year of birth.
_INBOX_KEYS = frozenset(identity_key(k) for k in ("forename", "surname", "date_of_birth"))


def alert_inbox_read(
    *, membership: Membership, filters: InboxFilter, channel: str = "web", now=None
) -> Inbox:
    """The inbox with what the engine shares of each alert's person (the name where a protocol
    shows it; the agencies that know them, and the year of birth where a date of birth is
    shown) and each score as far as the reader is shown it. One disclosure question and one
    read of findings for the whole page, whatever the number of alerts. The read is logged, with
    every person it listed and the fields shown of each, as a search's is.
    """
    from protocols.summary import access_log_write
    from risk.services import persons_terms

    now = now or timezone.now()
    inbox = alert_inbox(membership=membership, filters=filters, now=now)
    persons = {alert.person_id: alert.person for alert in inbox.alerts}
    views = disclose(
        user=membership.user,
        membership=membership,
        persons=persons.values(),
        purpose=ALERT_PURPOSE,
        now=now,
    )
    scored = {
        alert.person_id
        for alert in inbox.alerts
        if alert.rule.kind != RuleKind.NEW_EVENT_WHILE_OPEN and alert.person_id in views
    }
    terms = persons_terms(sorted(scored)) if scored else {}
    logged: dict[str, dict[str, Any]] = {}
    for alert in inbox.alerts:
        # Seen a moment ago by alert_inbox; a protocol withdrawn since hides the person.
        view = views.get(alert.person_id)
        if view is None:
            continue
        shown = findings_shown(view, terms.get(alert.person_id, []))
        score: float | None = None
        before: float | None = None
        if alert.rule.kind != RuleKind.NEW_EVENT_WHILE_OPEN:
            now_score, then_score = rule_scores(
                alert.rule, [term for _, term in shown], alert.raised_on
            )
            score, before = round(now_score, 1), round(then_score, 1)
        inbox.entries.append(
            InboxEntry(
                alert=alert,
                name=view.name,
                year_of_birth=_year_of_birth(view.date_of_birth),
                known_to=list({i.agency.pk: i.agency for i in view.involvements}.values()),
                score=score,
                score_before=before,
                raised_ago=_ago(alert.raised_at, now),
            )
        )
        # A person on two alerts of the page is shown, and logged, alike on both.
        logged.setdefault(alert.person.reference, _inbox_logged(view, shown))
    if inbox.entries:
        access_log_write(
            user=membership.user,
            membership=membership,
            action=AccessLog.Action.ALERT,
            channel=channel,
            purpose=ALERT_PURPOSE,
            versions=sorted(set().union(*(view.versions for view in views.values()))),
            results=list(logged),
            fields={"results": logged},
        )
    return inbox


def _inbox_logged(view: PersonView, shown: list[tuple[RiskFinding, FindingTerm]]) -> dict:
    """What a row shows of a person, in the form audit.reads reads a search result in: the
    record ids and field keys behind the name, the year of birth and the score, and the
    datasets behind "known to"."""
    fields: dict[str, set[str]] = {}
    for record in view.records:
        keys = view.shown_keys[record.record_id] & _INBOX_KEYS
        if keys:
            fields[str(record.record_id)] = set(keys)
    for finding, _ in shown:
        fields.setdefault(str(finding.record_id), set()).update(finding.field_keys)
    return {
        "fields": {record: sorted(keys) for record, keys in sorted(fields.items())},
        "known_to": sorted({i.dataset_id for i in view.involvements}),
    }


def _year_of_birth(value: str) -> int | None:
    """The year of a date of birth as the engine gives it (normalised at ingest: ISO)."""
    try:
        return date.fromisoformat(value).year
    except ValueError:
        return None


def _ago(moment, now) -> str:
    """ "3 days ago": the largest unit only, as a list is read at a glance."""
    if now - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, now, depth=1)} ago"


def _counts_and_visible(membership: Membership, now=None) -> tuple[dict[str, int], set[int]]:
    rows = list(_delivered_to(membership).values_list("status", "person_id"))
    visible = _sees(membership, [person_id for _, person_id in rows], now)
    counts = {status: 0 for status in AlertStatus.values}
    for status, person_id in rows:
        if person_id in visible:
            counts[status] += 1
    return counts, visible


def alert_counts(membership: Membership, now=None) -> dict[str, int]:
    """How many alerts of each status the user has, about people they may still see."""
    return _counts_and_visible(membership, now)[0]


def inbox_rules(membership: Membership) -> list[AlertRule]:
    """The rules an inbox can be filtered by: those subscribed to, or that sent an alert."""
    return list(
        AlertRule.objects.filter(
            Q(subscriptions__membership=membership) | Q(alerts__deliveries__membership=membership)
        ).distinct()
    )


def alert_for(*, membership: Membership, alert_id: int, now=None, lock=False) -> Alert:
    """The alert, if it was delivered to `membership` and the user may still see the person."""
    alerts = _delivered_to(membership).select_related("rule", "person", "assigned_to__user")
    if lock:
        alerts = alerts.select_for_update(of=("self",))
    alert = alerts.filter(pk=alert_id).first()
    if alert is None or alert.person_id not in _sees(membership, [alert.person_id], now):
        raise AlertNotFound
    return alert


def alert_recipients(alert: Alert) -> list[Membership]:
    """Who else the alert went to: the people it can be assigned to."""
    return list(
        Membership.objects.filter(
            pk__in=alert.deliveries.values("membership_id"), is_active=True
        ).select_related("user", "agency")
    )


def alert_acknowledge(*, membership: Membership, alert_id: int) -> Alert:
    with transaction.atomic():
        alert = alert_for(membership=membership, alert_id=alert_id, lock=True)
        if alert.status == AlertStatus.CLOSED:
            raise AlertError({"": ["This alert is closed."]})
        if alert.status == AlertStatus.OPEN:
            alert.status = AlertStatus.ACKNOWLEDGED
            alert.acknowledged_at = timezone.now()
            alert.save(update_fields=["status", "acknowledged_at"])
            _event(alert, AlertEvent.Kind.ACKNOWLEDGED, membership)
    return alert


def alert_assign(*, membership: Membership, alert_id: int, to_membership_id: int | None) -> Alert:
    """Assign to one of the alert's recipients (who may still see the person), or to nobody."""
    with transaction.atomic():
        alert = alert_for(membership=membership, alert_id=alert_id, lock=True)
        if alert.status == AlertStatus.CLOSED:
            raise AlertError({"": ["This alert is closed."]})
        target = None
        if to_membership_id:
            target = next((m for m in alert_recipients(alert) if m.pk == to_membership_id), None)
            if target is None or alert.person_id not in _sees(target, [alert.person_id]):
                raise AlertError(
                    {
                        "assign_to": [
                            "Choose someone the alert went to who can still see the person."
                        ]
                    }
                )
        alert.assigned_to = target
        if alert.status == AlertStatus.OPEN:
            alert.status = AlertStatus.ACKNOWLEDGED
            alert.acknowledged_at = timezone.now()
        alert.save(update_fields=["assigned_to", "status", "acknowledged_at"])
        _event(alert, AlertEvent.Kind.ASSIGNED, membership, to=target)
    if target is not None and target.user_id != membership.user_id:
        from notifications.models import NotificationKind
        from notifications.services import notify

        notify(
            recipients=[target.user],
            kind=NotificationKind.ALERT_ASSIGNED,
            message=f"An alert about person {alert.person.reference} was assigned to you",
            link=f"/alerts/{alert.pk}/",
        )
    return alert


def alert_close(*, membership: Membership, alert_id: int, outcome: str, note: str = "") -> Alert:
    problems: dict[str, list[str]] = {}
    if outcome not in AlertOutcome.values:
        problems["outcome"] = ["Choose the outcome."]
    note = (note or "").strip()
    if len(note) > NOTE_MAX_LENGTH:
        problems["note"] = [f"Shorten the note to {NOTE_MAX_LENGTH} characters or fewer."]
    with transaction.atomic():
        alert = alert_for(membership=membership, alert_id=alert_id, lock=True)
        if note and "note" not in problems:
            # Judged only against what the engine shows this practitioner of the person: a
            # refusal for a withheld surname or date of birth would disclose it.
            shown = identifiers_shown(
                user=membership.user,
                membership=membership,
                person_ids=[alert.person_id],
                purpose=ALERT_PURPOSE,
                now=timezone.now(),
            )
            kinds = identifiers_in_text(note, shown=shown)
            if kinds:
                problems["note"] = [screen_problem(kinds, what="note")]
        if alert.status == AlertStatus.CLOSED:
            problems.setdefault("", []).append("This alert is already closed.")
        if problems:
            raise AlertError(problems)
        alert.status = AlertStatus.CLOSED
        alert.outcome = outcome
        alert.closed_at = timezone.now()
        alert.save(update_fields=["status", "outcome", "closed_at"])
        _event(alert, AlertEvent.Kind.CLOSED, membership, outcome=outcome, note=note)
    return alert


def _event(alert, kind, membership, *, to=None, outcome="", note="") -> None:
    try:
        AlertEvent.objects.create(
            alert=alert,
            kind=kind,
            by=membership.user,
            by_membership=membership,
            to=to,
            outcome=outcome,
            note=note,
        )
    except IntegrityError:  # pragma: no cover - a foreign key gone mid-request
        logger.warning("alert %s: event not recorded", alert.pk)


@dataclass
class AlertReason:
    indicator: str
    dataset: str
    event_date: date | None
    phrase: str


@dataclass
class AlertPage:
    alert: Alert
    reasons: list[AlertReason]
    reasons_not_shared: bool
    recipients: list[Membership]
    events: list[AlertEvent]


def alert_read(*, membership: Membership, alert_id: int, channel: str = "web") -> AlertPage:
    """The alert with the reasons the engine lets the reader see; the read is logged."""
    from protocols.engine import disclose_view, finding_disclosed
    from protocols.models import AccessLog
    from protocols.summary import access_log_write

    now = timezone.now()
    alert = alert_for(membership=membership, alert_id=alert_id, now=now)
    view = disclose_view(
        user=membership.user,
        membership=membership,
        person=alert.person,
        purpose=ALERT_PURPOSE,
        now=now,
    )
    pairs = {(indicator_id, record_id) for indicator_id, record_id in alert.finding_keys}
    findings = [
        finding
        for finding in RiskFinding.objects.filter(record_id__in={r for _, r in pairs})
        .select_related("indicator", "record__dataset")
        .order_by("-event_date", "pk")
        if (finding.indicator_id, finding.record_id) in pairs
    ]
    dated = {r.record_id: r.event_date for r in view.records} if view else {}
    # A record sealed from the reader does not exist for them: not even "other records are
    # held" may hint at it (protocols.seals).
    sealed = sealed_record_ids(
        record_ids={f.record_id for f in findings}, today=timezone.localdate(now)
    )
    reasons = []
    hidden = False
    logged: dict[str, list[str]] = {}
    for finding in findings:
        if finding.record_id in sealed and finding.record.dataset.agency_id != membership.agency_id:
            continue
        if view is None or not finding_disclosed(
            view, record_id=finding.record_id, field_keys=finding.field_keys
        ):
            hidden = True
            continue
        reasons.append(
            AlertReason(
                indicator=finding.indicator.name,
                dataset=finding.record.dataset.name,
                event_date=dated.get(finding.record_id),
                phrase=finding.phrase,
            )
        )
        logged.setdefault(str(finding.record_id), []).extend(finding.field_keys)
    access_log_write(
        user=membership.user,
        membership=membership,
        action=AccessLog.Action.ALERT,
        channel=channel,
        purpose=ALERT_PURPOSE,
        person=alert.person,
        versions=sorted(view.versions) if view else [],
        fields={"alert": alert.pk, "reasons": logged},
    )
    return AlertPage(
        alert=alert,
        reasons=reasons,
        reasons_not_shared=hidden,
        recipients=alert_recipients(alert),
        events=list(alert.events.select_related("by", "to__user")),
    )
