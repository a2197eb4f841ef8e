"""Alert rules: what each kind needs, checking and saving a rule, who subscribes to it, and what
a score rule compares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from agencies.models import Agency, Membership, Role
from alerts.errors import AlertError
from alerts.models import AlertRule, AlertSubscription, RuleKind
from risk.models import RiskIndicator
from risk.scoring import FindingTerm, contribution


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


def score_rule_met(rule: AlertRule, now, before):
    """Whether a score rule holds, for arrays of every person's scores or one recipient's."""
    if rule.kind == RuleKind.SCORE_ABOVE:
        return now > (rule.threshold or 0)
    if rule.kind == RuleKind.SCORE_RISING:
        return now - before >= (rule.rise or 0)
    # Step-down: was at or above the threshold, now below the lower one.
    return (before >= (rule.threshold or 0)) & (now < (rule.lower_threshold or 0))


def rule_scores(rule: AlertRule, terms: list[FindingTerm], day: date) -> tuple[float, float]:
    """The two scores a score rule compares, from `terms`: on `day`, and `window_days` before
    (the same day for a rule with no window)."""
    earlier = day - timedelta(days=rule.window_days or 0)
    return (
        sum(contribution(term, day) for term in terms),
        sum(contribution(term, earlier) for term in terms),
    )
