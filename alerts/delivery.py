"""Delivering alerts, and taking back those that stand on a record sealed since.

An alert goes to the practitioners who subscribe to its rule and whose protocols let them see
the person (protocols.engine.persons_visible, the same test as a case summary), and for whom
its rule holds on what the engine shows them; the inbox (alerts.inbox) asks the engine again
at every read, so a protocol withdrawn after the alert was raised hides it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from django.db import transaction
from django.utils import timezone

from agencies.models import Membership, Role
from alerts.models import (
    Alert,
    AlertDelivery,
    AlertRule,
    AlertStatus,
    AlertSubscription,
    RuleKind,
)
from alerts.rules import rule_scores, score_rule_met
from core.purpose import Purpose
from protocols.engine import PersonView, disclose, finding_disclosed, persons_visible
from protocols.seals import sealed_record_ids
from risk.models import RiskFinding
from risk.scoring import FindingTerm

# Alerts are for keeping people safe: recipients and readers are asked about under this purpose.
ALERT_PURPOSE = Purpose.SAFEGUARDING
# Persons per disclosure question when an alert's rule is asked again for one recipient.
ALERT_PERSONS_PER_BATCH = 500


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
            visible = alert_persons_visible(
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
                met = bool(score_rule_met(rule, score, before))
            if met:
                holding.add(alert.pk)
    return holding


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


def alert_persons_visible(membership: Membership, person_ids, now=None) -> set[int]:
    """Which of `person_ids` the practitioner acting in `membership` may see for alerts."""
    return persons_visible(
        user=membership.user,
        membership=membership,
        person_ids=person_ids,
        purpose=ALERT_PURPOSE,
        now=now or timezone.now(),
    )
