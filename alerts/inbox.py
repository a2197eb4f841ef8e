"""The alert inbox: the alerts delivered to a practitioner, the alert page with the reasons the
engine lets them see, and acknowledging, assigning and closing an alert.

The inbox asks the engine again at every read, so a protocol withdrawn after the alert was
raised hides it. What an alert shows of why it was raised (its reasons) is what the engine
shows of the records behind it, field by field.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.timesince import timesince

from agencies.models import Agency, Membership
from alerts.delivery import ALERT_PURPOSE, alert_persons_visible, findings_shown
from alerts.errors import AlertError, AlertNotFound
from alerts.models import (
    Alert,
    AlertEvent,
    AlertOutcome,
    AlertRule,
    AlertStatus,
    RuleKind,
)
from alerts.rules import rule_scores
from audit.models import AuditAction
from audit.services import access_log_write
from matching.screening import identifiers_in_text, screen_problem
from protocols.engine import PersonView, disclose, identifiers_shown
from protocols.fields import identity_key
from protocols.seals import sealed_record_ids
from risk.models import RiskFinding
from risk.scoring import FindingTerm

logger = logging.getLogger(__name__)

NOTE_MAX_LENGTH = 2000


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
            action=AuditAction.ALERT,
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
    visible = alert_persons_visible(membership, [person_id for _, person_id in rows], now)
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
    if alert is None or alert.person_id not in alert_persons_visible(
        membership, [alert.person_id], now
    ):
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
            if target is None or alert.person_id not in alert_persons_visible(
                target, [alert.person_id]
            ):
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
        action=AuditAction.ALERT,
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
