"""Safeguarding overrides in force when a new version of their protocol is approved.

An override is held under one protocol version (consent.models.SafeguardingOverride.version),
and the disclosure engine honours it only under that version (protocols.engine, rule 6). When
the last party approves a successor, protocols.services.protocol_approve calls
overrides_carry_over, and each override in force under an earlier version of the protocol either

- carries over to the new version, for the datasets it opened whose rule there still gives way
  to an override ("consent needed unless a safeguarding override") and shows no more of them
  than the rule it was made under did, its expiry capped at the new version's longest override
  counted from when it began (never later than it was); or
- ends at once, when the new version does not serve the holder's agency and role for
  safeguarding, when none of its datasets carries over, or when it has already lasted as long
  as the new version allows.

Either way the step is kept (OverrideCarryOver) and audited, and the holder is told when the
override ended or stopped opening some records. The reviewing IG officer's judgement is of the
override as made; a wider rule would show more than they judged, so it needs a new override.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from agencies.models import Dataset, Membership
from consent.models import (
    CarryOverDrop,
    CarryOverEnd,
    OverrideCarryOver,
    SafeguardingOverride,
)
from core.purpose import Purpose
from notifications.models import NotificationKind
from notifications.services import notify
from protocols.models import LIVE_STATUSES, ConsentRule, DatasetRule, ProtocolVersion, Tier


def rule_shows_more(new: DatasetRule, old: DatasetRule | None) -> bool:
    """Whether `new` shows more of a dataset than `old`: more fields, or older records."""
    if old is None:
        return True
    if new.tier > old.tier:
        return True
    if new.tier == Tier.SUMMARY and old.tier == Tier.SUMMARY and set(new.fields) - set(old.fields):
        return True
    if old.lookback_days is not None and (
        new.lookback_days is None or new.lookback_days > old.lookback_days
    ):
        return True
    return False


def dataset_drop(new: DatasetRule | None, old: DatasetRule | None) -> str:
    """Why an override stops opening a dataset under a version whose rule for it is `new`,
    having opened it under `old`; "" when it carries over."""
    if new is None or new.tier < Tier.SUMMARY:
        return CarryOverDrop.NO_YIELDING_RULE
    if new.consent == ConsentRule.NONE:
        return CarryOverDrop.NO_CONSENT_NEEDED
    if new.consent != ConsentRule.UNLESS_OVERRIDE:
        return CarryOverDrop.NO_YIELDING_RULE
    if rule_shows_more(new, old):
        return CarryOverDrop.WIDER_RULE
    return ""


def expiry_under(override: SafeguardingOverride, version: ProtocolVersion) -> datetime:
    """When the override ends under `version`: when it would have, or sooner if `version`
    allows shorter overrides, counted from when it began (an approval is no fresh start)."""
    return min(
        override.expires_at, override.started_at + timedelta(hours=version.override_max_hours)
    )


def overrides_carry_over(
    *,
    version: ProtocolVersion,
    by=None,
    membership: Membership | None = None,
    now: datetime | None = None,
) -> list[OverrideCarryOver]:
    """Carry over to `version`, just put in force, or end, every override in force at `now`
    under an earlier version of its protocol; returns the steps taken. `by` (acting in
    `membership`) is the IG officer whose approval did it, for the audit trail.

    Idempotent: an override is claimed by a conditional update on the version it was held
    under, and a step is recorded once per override and version.
    """
    now = now or timezone.now()
    running = list(
        SafeguardingOverride.objects.active_at(now)
        .filter(protocol_id=version.protocol_id)
        .exclude(version_id=version.pk)
        .select_related("person", "user", "version")
        .order_by("started_at", "pk")
    )
    if not running:
        return []
    new_rules = {rule.dataset_id: rule for rule in version.rules.all()}
    old_rules = {
        (rule.version_id, rule.dataset_id): rule
        for rule in DatasetRule.objects.filter(version_id__in={o.version_id for o in running})
    }
    datasets = Dataset.objects.select_related("agency").in_bulk(
        {dataset_id for o in running for dataset_id in o.dataset_ids}
    )
    parties = set(version.parties.values_list("pk", flat=True))
    steps = []
    for override in running:
        serves = (
            version.purpose == Purpose.SAFEGUARDING
            and override.agency_id in parties
            and override.role in (version.roles or [])
        )
        kept: list[int] = []
        dropped: list[dict] = []
        for dataset_id in override.dataset_ids if serves else ():
            reason = dataset_drop(
                new_rules.get(dataset_id), old_rules.get((override.version_id, dataset_id))
            )
            if not reason:
                kept.append(dataset_id)
                continue
            dataset = datasets.get(dataset_id)
            dropped.append(
                {
                    "dataset": dataset_id,
                    "name": dataset.name if dataset else f"dataset {dataset_id}",
                    "agency": dataset.agency.name if dataset else "",
                    "reason": reason,
                }
            )
        expires = expiry_under(override, version)
        ended: str
        if not serves:
            ended = CarryOverEnd.NOT_FOR_HOLDER
        elif not kept:
            ended = CarryOverEnd.NOTHING_LEFT
        elif expires <= now:
            ended = CarryOverEnd.TIME_USED
        else:
            ended = ""
        step = _step(
            override,
            version=version,
            ended=ended,
            kept=kept,
            dropped=dropped,
            expires=expires,
            by=by,
            membership=membership,
            now=now,
        )
        if step is not None:
            steps.append(step)
    return steps


def _step(
    override: SafeguardingOverride,
    *,
    version: ProtocolVersion,
    ended: str,
    kept: list[int],
    dropped: list[dict],
    expires: datetime,
    by,
    membership: Membership | None,
    now: datetime,
) -> OverrideCarryOver | None:
    from audit.models import AuditAction
    from audit.services import audit_record

    from_version = override.version
    with transaction.atomic():
        claimed = SafeguardingOverride.objects.filter(
            pk=override.pk, version_id=from_version.pk, ended_at__isnull=True
        )
        if ended:
            updated = claimed.update(ended_at=now)
        else:
            updated = claimed.update(version=version, dataset_ids=kept, expires_at=expires)
        if not updated:
            return None  # ended, or carried over, meanwhile
        step = OverrideCarryOver.objects.create(
            override=override,
            from_version=from_version,
            to_version=version,
            at=now,
            ended=ended,
            expires_before=override.expires_at,
            expires_after=expires,
            dataset_ids=kept if not ended else [],
            dropped=dropped,
            by=by,
        )
        # Ids, codes and times only: the justification stays on the override.
        audit_record(
            action=AuditAction.OVERRIDE,
            actor=by,
            membership=membership,
            purpose=Purpose.SAFEGUARDING,
            person=override.person,
            versions=[from_version.pk, version.pk],
            detail={
                "override": override.pk,
                "carry_over": step.pk,
                "from_version": from_version.pk,
                "to_version": version.pk,
                "outcome": "ended" if ended else "carried",
                "ended": ended,
                "expires_before": override.expires_at,
                "expires_after": expires,
                "datasets": step.dataset_ids,
                "dropped": {str(item["dataset"]): item["reason"] for item in dropped},
            },
        )
        message = _holder_message(override, version=version, ended=ended, dropped=dropped)
        if message:
            notify(
                recipients=[override.user],
                kind=NotificationKind.OVERRIDE_ENDED,
                message=message,
                link=reverse("consent:override_detail", args=[override.pk]),
            )
    return step


def _holder_message(
    override: SafeguardingOverride, *, version: ProtocolVersion, ended: str, dropped: list[dict]
) -> str:
    """What the holder is told: that it ended, or what it stopped opening; nothing when it
    carried over whole (the summary's banner and the override page show its new end)."""
    where = f"version {version.number} of the protocol {version.name}"
    reference = override.person.reference
    if ended:
        return (
            f"Your safeguarding override for person {reference} ended when {where} was "
            "approved; the records it opened are withheld again. The override page says why."
        )
    if dropped:
        names = ", ".join(f"{item['agency']}, {item['name']}" for item in dropped)
        return (
            f"Your safeguarding override for person {reference} carried over to {where}, but "
            f"no longer opens {names}. The override page says why."
        )
    return ""


def overrides_left_behind(*, now: datetime | None = None) -> list[OverrideCarryOver]:
    """Carry over, or end, overrides still in force under a version of their protocol that
    is no longer its live one: left from before approvals carried them over. For
    `manage.py overrides_carry_over`; running it again finds nothing more."""
    now = now or timezone.now()
    stale = (
        SafeguardingOverride.objects.active_at(now)
        .exclude(version__status__in=LIVE_STATUSES)
        .values("protocol_id")
    )
    steps = []
    for version in ProtocolVersion.objects.filter(
        protocol_id__in=stale, status__in=LIVE_STATUSES
    ).order_by("pk"):
        steps += overrides_carry_over(version=version, now=now)
    return steps
