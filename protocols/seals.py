"""Sealed records: what no other agency is ever shown, under any protocol, consent or override.

A SealRule names records of one agency dataset: those whose payload field equals a value
(compared ignoring case and spacing: "Sexual  Health" is "sexual health"), or those a risk
indicator found (risk.models.RiskFinding). A rule of a protocol version is in force while that
version is; a rule without a version is partnership-wide, set by a platform admin.

The disclosure engine (protocols.engine) leaves a sealed record out for every user acting for
an agency other than the record's own: no field, no "known to", no count. Everything that asks
the engine (search, alerts, risk reasons, households, link challenges, exports, drill-downs)
therefore never sees it. Subject access and retention read records directly and still reach
it; the owning agency's own users see it as their protocols allow.

Payloads are compared once, not on every read: a field-value rule's matches are kept as
SealedRecord rows, worked out when the rule is saved (protocols.tasks.seals_remark) and when an
extract loads (seals_mark_extract, before linkage makes the records findable). Rows are kept
for rules not yet in force too, so approving a version needs no re-marking; reads check that
the rule is in force. Indicator rules are read live from the findings, which risk keeps current.

Scores and alerts are shown across agencies, so a sealed record's findings count for nobody's
(risk.services.score_book_load, alerts.raising, alerts.delivery). Whenever the set of sealed
records changes (a rule marked, a version with rules coming into force, suspended or resumed)
everyone is scored again (seals_rescore_later); a version reaching its end or start date
changes it at midnight, which the nightly run scores.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import partial

from django.db import transaction
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q

from agencies.models import SourceRecord
from protocols.fields import FIELD, dataset_catalogues
from protocols.models import ProtocolVersion, SealedRecord, SealRule, VersionStatus
from protocols.signals import seals_changed

MARK_BATCH = 2000


# A yes/no column is stored as true or false (agencies' extracts say Y, yes, 1...), and an IG
# officer sealing by it types "yes": both read as the same answer.
_ANSWERS = {"true": "yes", "y": "yes", "false": "no", "n": "no"}


def seal_value(value: object) -> str:
    """A value as seals compare it: case and runs of spaces do not matter, nor how a yes or a
    no is written."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = " ".join(str(value).split()).casefold()
    return _ANSWERS.get(text, text)


def _in_force(today: date, *, prefix: str = "", version_id: int | None = None) -> Q:
    """Rules in force on `today`: partnership-wide ones, and those of a version in force; with
    `version_id`, that version's too, whatever its status (what a preview of it would seal)."""
    live = Q(**{f"{prefix}version__isnull": True}) | (
        Q(
            **{
                f"{prefix}version__status": VersionStatus.ACTIVE,
                f"{prefix}version__valid_from__lte": today,
            }
        )
        & (
            Q(**{f"{prefix}version__valid_to__isnull": True})
            | Q(**{f"{prefix}version__valid_to__gte": today})
        )
    )
    if version_id is not None:
        live |= Q(**{f"{prefix}version_id": version_id})
    return live


def seal_rules_in_force(today: date) -> Q:
    """A filter on SealRule: the rules sealing records on `today` (the transparency register
    publishes them)."""
    return _in_force(today)


def sealed_q(
    *, today: date, record: str = "record_id", dataset: str = "dataset_id", version_id=None
) -> Q:
    """A condition on a query whose rows carry a record id and a dataset id (LinkageRecord's
    by default): true when a rule in force seals the row's record."""
    marked = SealedRecord.objects.filter(record_id=OuterRef(record)).filter(
        _in_force(today, prefix="rule__", version_id=version_id)
    )
    found = SealRule.objects.filter(
        _in_force(today, version_id=version_id),
        indicator__isnull=False,
        dataset_id=OuterRef(dataset),
        indicator__findings__record_id=OuterRef(record),
    )
    return Q(Exists(marked)) | Q(Exists(found))


def sealed_findings(today: date) -> Q:
    """A filter on risk.models.RiskFinding: findings on a record a rule in force seals. The
    partnership score and alerts are seen by every agency, so these never count towards them."""
    return sealed_q(today=today, record="record_id", dataset="record__dataset_id")


def sealed_from(agency_id: int | None, *, today: date, version_id: int | None = None):
    """An annotation for LinkageRecord rows: true when the row's record is sealed from a user
    acting for `agency_id`, which is every agency but the record's own."""
    return ExpressionWrapper(
        ~Q(agency_id=agency_id) & sealed_q(today=today, version_id=version_id),
        output_field=BooleanField(),
    )


def open_to(agency_id: int | None, *, today: date) -> Q:
    """A filter for LinkageRecord rows: the records a user acting for `agency_id` may be shown
    at all, as far as seals go."""
    return Q(agency_id=agency_id) | ~sealed_q(today=today)


def sealed_record_ids(
    *, record_ids: Iterable[int], today: date, version_id: int | None = None
) -> set[int]:
    """Which of `record_ids` a rule in force on `today` seals (with `version_id`, counting that
    version's rules as if in force): for a preview to show them as sealed. One query."""
    ids = list(record_ids)
    if not ids:
        return set()
    return set(
        SourceRecord.objects.filter(pk__in=ids)
        .filter(sealed_q(today=today, record="pk", dataset="dataset_id", version_id=version_id))
        .values_list("pk", flat=True)
    )


def rule_matches(rule: SealRule, payload: dict | None) -> bool:
    """Whether a field-value rule seals a record with `payload` (an indicator rule is decided
    by the findings, never here)."""
    if rule.indicator_id is not None or not rule.field_key.startswith(FIELD):
        return False
    found = (payload or {}).get(rule.field_key.removeprefix(FIELD))
    return found is not None and seal_value(found) == seal_value(rule.value)


def seal_reason(rule: SealRule, payload: dict | None = None) -> str:
    """Why a record is sealed, in words, for a preview: the rule's description and reason.
    With `payload`, "" when this rule does not seal it."""
    if payload is not None and not rule_matches(rule, payload):
        return ""
    return f"Sealed: {seal_describe(rule)}. {rule.reason}".strip()


def seal_describe(rule: SealRule, labels: dict[str, str] | None = None) -> str:
    """The rule in words, e.g. 'records where Clinic type is "sexual health"'."""
    indicator = rule.indicator if rule.indicator_id is not None else None
    if indicator is not None:
        return f'records the risk indicator "{indicator.name}" found'
    if labels is None:
        labels = {
            f.key: f.label for f in dataset_catalogues([rule.dataset_id]).get(rule.dataset_id, [])
        }
    label = labels.get(rule.field_key, rule.field_key.removeprefix(FIELD))
    return f'records where {label} is "{rule.value}"'


@dataclass(frozen=True)
class SealLine:
    """One rule as the protocol pages and the preview show it."""

    rule_id: int
    dataset_id: int
    dataset: str  # "Agency: Dataset"
    text: str
    reason: str
    partnership_wide: bool


def seal_lines(rules: Iterable[SealRule]) -> list[SealLine]:
    """Rules in words, in the order given. Two queries whatever the number of rules."""
    rules = list(rules)
    catalogues = dataset_catalogues({r.dataset_id for r in rules})
    lines = []
    for rule in rules:
        labels = {f.key: f.label for f in catalogues.get(rule.dataset_id, [])}
        lines.append(
            SealLine(
                rule_id=rule.pk,
                dataset_id=rule.dataset_id,
                dataset=f"{rule.dataset.agency.name}: {rule.dataset.name}",
                text=seal_describe(rule, labels),
                reason=rule.reason,
                partnership_wide=rule.version_id is None,
            )
        )
    return lines


def seals_of_version(version: ProtocolVersion) -> list[SealLine]:
    return seal_lines(version.seals.select_related("dataset__agency", "indicator"))


def seals_partnership_wide() -> list[SealLine]:
    return seal_lines(
        SealRule.objects.filter(version__isnull=True).select_related("dataset__agency", "indicator")
    )


def seal_rules_for(
    *, dataset_ids: Iterable[int], today: date, version_id: int | None = None
) -> list[SealRule]:
    """The rules in force on `today` over `dataset_ids` (with `version_id`, that version's as
    well): what a preview with a synthetic person can say would be sealed."""
    return list(
        SealRule.objects.filter(_in_force(today, version_id=version_id))
        .filter(dataset_id__in=list(dataset_ids))
        .select_related("dataset__agency", "indicator")
    )


def seals_mark(*, dataset_id: int, record_ids: Iterable[int] | None = None) -> int:
    """Work out which records of a dataset its field-value rules seal, and keep that as
    SealedRecord rows: added where a rule now matches, removed where it no longer does. Every
    record of the dataset, or only `record_ids`. Idempotent. Returns how many rows it added."""
    rules = list(
        SealRule.objects.filter(dataset_id=dataset_id, indicator__isnull=True).only(
            "pk", "field_key", "value", "indicator_id"
        )
    )
    records = SourceRecord.objects.filter(dataset_id=dataset_id)
    if record_ids is not None:
        records = records.filter(pk__in=list(record_ids))
    if not rules:
        SealedRecord.objects.filter(record__in=records).delete()
        return 0
    added = 0
    batch: list[tuple[int, dict]] = []
    for row in records.values_list("pk", "payload").iterator(chunk_size=MARK_BATCH):
        batch.append(row)
        if len(batch) >= MARK_BATCH:
            added += _mark_batch(rules, batch)
            batch = []
    if batch:
        added += _mark_batch(rules, batch)
    return added


def _mark_batch(rules: list[SealRule], batch: list[tuple[int, dict]]) -> int:
    wanted = {
        (rule.pk, record_id)
        for record_id, payload in batch
        for rule in rules
        if rule_matches(rule, payload)
    }
    ids = [record_id for record_id, _ in batch]
    with transaction.atomic():
        held = set(
            SealedRecord.objects.filter(record_id__in=ids).values_list("rule_id", "record_id")
        )
        stale = held - wanted
        if stale:
            for rule_id in {rule_id for rule_id, _ in stale}:
                SealedRecord.objects.filter(
                    rule_id=rule_id, record_id__in=[r for k, r in stale if k == rule_id]
                ).delete()
        new = wanted - held
        SealedRecord.objects.bulk_create(
            [SealedRecord(rule_id=rule_id, record_id=record_id) for rule_id, record_id in new],
            ignore_conflicts=True,
        )
    return len(new)


def seals_mark_extract(*, extract_id: int) -> int:
    """Mark the records an extract loaded or changed. Called once the extract is loaded, before
    linkage makes them findable (sharehub.pipeline), so a new sealed record is never shown
    unsealed."""
    record_ids = SourceRecord.objects.filter(last_extract_id=extract_id).values_list(
        "pk", "dataset_id"
    )
    by_dataset: dict[int, list[int]] = {}
    for record_id, dataset_id in record_ids:
        by_dataset.setdefault(dataset_id, []).append(record_id)
    added = 0
    for dataset_id, ids in by_dataset.items():
        if SealRule.objects.filter(dataset_id=dataset_id, indicator__isnull=True).exists():
            added += seals_mark(dataset_id=dataset_id, record_ids=ids)
    return added


def seals_remark_later(dataset_ids: Iterable[int]) -> None:
    """Re-mark datasets once the transaction that changed their rules commits."""
    from protocols.tasks import seals_remark

    for dataset_id in sorted(set(dataset_ids)):
        transaction.on_commit(partial(seals_remark.delay, dataset_id=dataset_id))


def seals_rescore_later() -> None:
    """Have everyone scored again once the transaction that changed what is sealed commits
    (sharehub.pipeline queues it), so a sealed record's findings stop counting (and an unsealed
    one's count again) at once rather than at the nightly run. The task is idempotent: two
    changes in a row cost a second run."""
    seals_changed.send(sender=SealRule)
