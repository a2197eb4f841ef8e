"""The public transparency register, read from the live configuration on each request.

What the partnership shares, why and on what terms, which risk indicators and alert rules it
applies to families, and how long each agency keeps what it sends, in words a member of the
public reads. Everything here is configuration: no person, no record, no count of either, and no
user (not even a protocol's author or approvers: agencies answer for their protocols, so agency
names only). Internal ids are left out too, so nothing hints at how many of anything exist.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import F, Max, Prefetch, Q
from django.utils import dateformat, timezone

from agencies.models import Agency, AgencyKind, Dataset, DatasetVersion, Role
from agencies.periods import period_in_words
from alerts.models import AlertRule, RuleKind
from audit.models import AuditAction, AuditEntry
from core.purpose import Purpose
from protocols.fields import FieldInfo, dataset_catalogues, payload_key
from protocols.models import (
    ConsentFromOthers,
    ConsentRule,
    DatasetRule,
    ProtocolVersion,
    SealRule,
    Tier,
    VersionStatus,
)
from protocols.seals import seal_lines, seal_rules_in_force
from risk.models import ConditionOp, IndicatorKind, RiskIndicator

# The register's sentences for a rule's consent condition: the model's labels are written for IG
# officers choosing one; these say what happens to a family's records.
CONSENT_IN_WORDS = {
    ConsentRule.NONE: "shared without asking for consent",
    ConsentRule.NEEDED: "shared only with the person's consent",
    ConsentRule.UNLESS_OVERRIDE: (
        "shared only with the person's consent, unless a safeguarding override is recorded "
        "because asking would put someone at risk"
    ),
}
CONSENT_FROM_OTHERS_IN_WORDS = {
    ConsentFromOthers.OWNER_CONFIRMS: (
        "Consent recorded by one agency opens another agency's records only once that agency "
        "confirms it."
    ),
    ConsentFromOthers.AT_ONCE: (
        "Consent recorded by one agency opens another agency's records at once; that agency "
        "is told."
    ),
}
ALERT_KIND_IN_WORDS = {
    RuleKind.SCORE_ABOVE: "A person's risk score goes above a threshold",
    RuleKind.SCORE_RISING: "A person's risk score rises quickly",
    RuleKind.NEW_EVENT_WHILE_OPEN: "A new event for a person another agency is working with",
    RuleKind.STEP_DOWN: "A person's risk score has fallen (a possible step-down)",
}


@dataclass(frozen=True)
class SharedDataset:
    agency: str
    dataset: str
    tier: str  # e.g. "summary: date of birth, GP practice"
    consent: str
    records: str  # how far back records are shared


@dataclass(frozen=True)
class ProtocolEntry:
    reference: str
    name: str
    version: int
    purpose: str
    purpose_detail: str
    lawful_basis: str
    legal_gateway: str
    dpia_reference: str
    in_force: str
    parties: list[str]
    roles: list[str]
    staged: str
    overrides: str
    consent_from_others: str
    datasets: list[SharedDataset]


@dataclass(frozen=True)
class IndicatorEntry:
    name: str
    description: str
    counts: str
    datasets: list[str]
    weight: int
    weight_in_words: str


@dataclass(frozen=True)
class AlertRuleEntry:
    name: str
    description: str
    kind: str
    when: str


@dataclass(frozen=True)
class ContributedDataset:
    name: str
    retention_days: int
    retention: str


@dataclass(frozen=True)
class AgencyEntry:
    name: str
    kind: str
    datasets: list[ContributedDataset]


@dataclass(frozen=True)
class Register:
    partnership: str
    today: date
    last_changed: datetime | None
    protocols: list[ProtocolEntry]
    indicators: list[IndicatorEntry]
    alert_rules: list[AlertRuleEntry]
    agencies: list[AgencyEntry]
    # Sealed categories (protocols.seals): the records no protocol, consent or override ever
    # discloses to another agency, in words, partnership-wide ones first.
    sealed: list[str] = field(default_factory=list)


def _in_sentence(label: str) -> str:
    """A label inside a sentence: "Date of birth" reads "date of birth", "GP practice" stays."""
    if len(label) > 1 and label[1].isupper():
        return label
    return label[:1].lower() + label[1:]


def _days_in_words(days: int) -> str:
    if days % 365 == 0:
        years = days // 365
        return "1 year" if years == 1 else f"{years} years"
    return "1 day" if days == 1 else f"{days} days"


def _hours_in_words(hours: int) -> str:
    if hours % 24 == 0:
        days = hours // 24
        return "1 day" if days == 1 else f"{days} days"
    return "1 hour" if hours == 1 else f"{hours} hours"


def _day(day: date) -> str:
    return dateformat.format(day, "j F Y")


def _number(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _list_in_words(items: list[str], *, last: str = "and") -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {last} " + items[-1]


def _tier_in_words(rule: DatasetRule, labels: dict[str, str]) -> str:
    if rule.tier == Tier.KNOWN_TO:
        return "only that the agency knows the person, and the date of its latest record"
    if rule.tier == Tier.FULL:
        return "full: every field"
    # In the dataset's own order (identifiers first), as the agency's records read.
    order = list(labels)
    keys = sorted(rule.fields, key=lambda k: order.index(k) if k in order else len(order))
    named = [_in_sentence(labels.get(key, "a field no longer in use")) for key in keys]
    return "summary: " + (", ".join(named) if named else "no fields named")


def weight_in_words(weight: int, half_life_days: int | None, lookback_days: int | None) -> str:
    points = "1 point" if weight == 1 else f"{weight} points"
    if half_life_days:
        text = f"Counts for {points}, halving every {_days_in_words(half_life_days)}"
    else:
        text = f"Counts for {points}, however old"
    if lookback_days:
        text += f"; only events in the last {_days_in_words(lookback_days)} count"
    return text


def _condition_in_words(condition: dict, labels: dict[str, str]) -> str:
    label = labels.get(payload_key(condition["column"]), condition["column"])
    words = f"{_in_sentence(label)} {ConditionOp(condition['op']).label}"
    value = condition.get("value")
    if isinstance(value, list):
        words += " " + _list_in_words([f'"{v}"' for v in value], last="or")
    elif isinstance(value, str) and value:
        words += f' "{value}"'
    elif value is not None and value != "":
        words += f" {_number(value)}"
    return words


def _indicator_counts(indicator: RiskIndicator, labels: dict[str, str]) -> str:
    if indicator.kind == IndicatorKind.VOCABULARY:
        phrases = _list_in_words([f'"{p}"' for p in indicator.phrases], last="or")
        text = f"Free-text notes that mention {phrases} (not where the note says otherwise"
        if any("*" in p for p in indicator.phrases):
            text += '; "*" stands for any ending of the word'
        text += ")"
        if indicator.text_columns:
            columns = [_in_sentence(labels.get(payload_key(c), c)) for c in indicator.text_columns]
            text += f", read in {_list_in_words(columns)}"
        return text
    parts = [_condition_in_words(c, labels) for c in indicator.conditions]
    return "A record where " + _list_in_words(parts) if parts else "Any record"


def _alert_when(rule: AlertRule) -> str:
    if rule.kind == RuleKind.SCORE_ABOVE:
        return f"Score above {_number(rule.threshold)}"
    if rule.kind == RuleKind.SCORE_RISING:
        return (
            f"Score up by {_number(rule.rise)} or more within "
            f"{_days_in_words(rule.window_days or 0)}"
        )
    if rule.kind == RuleKind.STEP_DOWN:
        return (
            f"Score was {_number(rule.threshold)} or more {_days_in_words(rule.window_days or 0)} "
            f"ago and is now under {_number(rule.lower_threshold)}"
        )
    indicator = rule.indicator.name if rule.indicator else "an indicator"
    agency = rule.open_agency.name if rule.open_agency else "another agency"
    return (
        f'"{indicator}" found in a record from the last '
        f"{_days_in_words(rule.new_within_days or 0)}, for a person {agency} has a record about "
        f"from the last {_days_in_words(rule.open_within_days or 0)}"
    )


def _in_force_filter(today: date) -> Q:
    """What the disclosure engine counts as in force (protocols.engine.grants_for): active, and
    within its dates. A suspended, expired, not yet started, draft or replaced version is not."""
    return Q(status=VersionStatus.ACTIVE, valid_from__lte=today) & (
        Q(valid_to__isnull=True) | Q(valid_to__gte=today)
    )


def _labels(catalogues: dict[int, list[FieldInfo]], dataset_ids) -> dict[str, str]:
    return {f.key: f.label for pk in dataset_ids for f in catalogues.get(pk, [])}


def protocols_in_force(*, today: date) -> list[ProtocolEntry]:
    versions = list(
        ProtocolVersion.objects.filter(_in_force_filter(today))
        .select_related("protocol")
        .prefetch_related(
            Prefetch("parties", queryset=Agency.objects.order_by("name")),
            Prefetch(
                "rules",
                queryset=DatasetRule.objects.filter(tier__gt=Tier.HIDDEN).select_related(
                    "dataset__agency"
                ),
            ),
        )
        .order_by("name", "protocol__reference")
    )
    catalogues = dataset_catalogues({r.dataset_id for v in versions for r in v.rules.all()})
    entries = []
    for version in versions:
        shared = []
        for rule in version.rules.all():
            labels = _labels(catalogues, [rule.dataset_id])
            shared.append(
                SharedDataset(
                    agency=rule.dataset.agency.name,
                    dataset=rule.dataset.name,
                    tier=_tier_in_words(rule, labels),
                    consent=CONSENT_IN_WORDS[ConsentRule(rule.consent)],
                    records=(
                        f"Records from the last {_days_in_words(rule.lookback_days)}"
                        if rule.lookback_days
                        else "Records of any date"
                    ),
                )
            )
        end = f" to {_day(version.valid_to)}" if version.valid_to else ", with no end date"
        entries.append(
            ProtocolEntry(
                reference=version.protocol.reference,
                name=version.name,
                version=version.number,
                purpose=Purpose(version.purpose).label,
                purpose_detail=version.purpose_detail,
                lawful_basis=version.lawful_basis,
                legal_gateway=version.legal_gateway,
                dpia_reference=version.dpia_reference,
                in_force=f"From {_day(version.valid_from)}{end}",
                parties=[a.name for a in version.parties.all()],
                roles=[Role(r).label for r in version.roles if r in Role.values],
                staged=(
                    "Yes: at first a practitioner sees only which agencies are involved, and "
                    "sees the detail once they record that their own assessment step is done."
                    if version.staged
                    else "No: what the protocol shares is shown at once."
                ),
                overrides=(
                    "A safeguarding override (reading records that need consent without it, "
                    "because asking would put someone at risk) lasts at most "
                    f"{_hours_in_words(version.override_max_hours)}, usually "
                    f"{_hours_in_words(version.override_default_hours)}; it needs a written "
                    "reason and is reviewed by an information governance officer."
                ),
                consent_from_others=CONSENT_FROM_OTHERS_IN_WORDS[
                    ConsentFromOthers(version.consent_from_others)
                ],
                datasets=sorted(shared, key=lambda s: (s.agency, s.dataset)),
            )
        )
    return entries


def risk_indicators() -> list[IndicatorEntry]:
    """The indicators in use; one no longer in use counts for nothing, so it is not listed."""
    indicators = list(
        RiskIndicator.objects.filter(is_active=True).prefetch_related(
            Prefetch("datasets", queryset=Dataset.objects.select_related("agency"))
        )
    )
    catalogues = dataset_catalogues({d.pk for i in indicators for d in i.datasets.all()})
    entries = []
    for indicator in indicators:
        datasets = sorted(indicator.datasets.all(), key=lambda d: (d.agency.name, d.name))
        labels = _labels(catalogues, [d.pk for d in datasets])
        entries.append(
            IndicatorEntry(
                name=indicator.name,
                description=indicator.description,
                counts=_indicator_counts(indicator, labels),
                datasets=[f"{d.agency.name}: {d.name}" for d in datasets],
                weight=indicator.weight,
                weight_in_words=weight_in_words(
                    indicator.weight, indicator.half_life_days, indicator.lookback_days
                ),
            )
        )
    return entries


def alert_rules() -> list[AlertRuleEntry]:
    rules = AlertRule.objects.filter(is_active=True).select_related("indicator", "open_agency")
    return [
        AlertRuleEntry(
            name=rule.name,
            description=rule.description,
            kind=ALERT_KIND_IN_WORDS[RuleKind(rule.kind)],
            when=_alert_when(rule),
        )
        for rule in rules
    ]


def contributing_agencies() -> list[AgencyEntry]:
    """Each agency in the partnership with the datasets it sends and how long they are kept.
    A withdrawn dataset holds nothing any more, and an agency that left sends nothing."""
    agencies = Agency.objects.filter(is_active=True).prefetch_related(
        Prefetch(
            "datasets",
            queryset=Dataset.objects.filter(withdrawn_at__isnull=True).order_by("name"),
        )
    )
    return [
        AgencyEntry(
            name=agency.name,
            kind=AgencyKind(agency.kind).label,
            datasets=[
                ContributedDataset(
                    name=d.name,
                    retention_days=d.retention_days,
                    retention=(
                        f"Kept for {period_in_words(d.retention_days)} after the last extract "
                        "that included the record"
                    ),
                )
                for d in agency.datasets.all()
            ],
        )
        for agency in agencies
    ]


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def register_last_changed(*, today: date) -> datetime | None:
    """When what the register shows last changed, from the timestamps the configuration keeps.

    Nothing records "the register changed", so it is the latest of: a protocol version approved,
    suspended, resumed, withdrawn or replaced (status_changed_at of any version that was ever
    approved; drafts do not show); a version coming into force or expiring by its dates (the
    start of that day); a risk indicator or alert rule created or edited (updated_at, which
    also moves when one is taken out of use); an agency joining; a dataset defined, re-mapped
    (its field labels) or withdrawn; and a retention period changed (that change is recorded
    only in the audit trail, as a "retention" entry). Not recorded anywhere, so not counted: an
    agency renamed or made inactive in the admin site, and a partnership-wide seal rule deleted
    (one added counts; a version's seals change only with the version, which counts).
    """
    approved = ProtocolVersion.objects.filter(approved_at__isnull=False)
    moments = [
        approved.aggregate(at=Max("status_changed_at"))["at"],
        approved.aggregate(at=Max("approved_at"))["at"],
        RiskIndicator.objects.aggregate(at=Max("updated_at"))["at"],
        AlertRule.objects.aggregate(at=Max("updated_at"))["at"],
        Agency.objects.aggregate(at=Max("created_at"))["at"],
        Dataset.objects.aggregate(at=Max("created_at"))["at"],
        Dataset.objects.aggregate(at=Max("withdrawn_at"))["at"],
        DatasetVersion.objects.aggregate(at=Max("created_at"))["at"],
        AuditEntry.objects.filter(action=AuditAction.RETENTION).aggregate(at=Max("at"))["at"],
        SealRule.objects.filter(version__isnull=True).aggregate(at=Max("created_at"))["at"],
    ]
    live = approved.filter(status=VersionStatus.ACTIVE)
    started = live.filter(valid_from__lte=today).aggregate(day=Max("valid_from"))["day"]
    # A version stops being in force the day after its last day.
    ended = live.filter(valid_to__lt=today).aggregate(day=Max("valid_to"))["day"]
    if started:
        moments.append(_start_of(started))
    if ended:
        moments.append(_start_of(ended + timedelta(days=1)))
    found = [m for m in moments if m is not None]
    return max(found) if found else None


def sealed_categories(*, today: date) -> list[str]:
    """The seal rules in force today, in words: partnership-wide ones (set by platform admins)
    and those of each protocol version in force, each with the agreement it belongs to."""
    rules = (
        SealRule.objects.filter(seal_rules_in_force(today))
        .select_related("dataset__agency", "indicator", "version")
        # Partnership-wide ones (no version) first on every database: PostgreSQL puts nulls last.
        .order_by(
            F("version_id").asc(nulls_first=True), "dataset__agency__name", "dataset__name", "pk"
        )
    )
    lines = []
    for rule, line in zip(rules, seal_lines(rules), strict=True):
        where = (
            "under every agreement" if rule.version_id is None else f"under {rule.version.name}"  # type: ignore[union-attr]
        )
        lines.append(f"{line.dataset}: {line.text}, {where}")
    return lines


def transparency_register(*, today: date | None = None) -> Register:
    today = today or timezone.localdate()
    return Register(
        partnership=settings.SHAREHUB_PARTNERSHIP_NAME,
        today=today,
        last_changed=register_last_changed(today=today),
        protocols=protocols_in_force(today=today),
        indicators=risk_indicators(),
        alert_rules=alert_rules(),
        agencies=contributing_agencies(),
        sealed=sealed_categories(today=today),
    )


@dataclass(frozen=True)
class LawfulBasis:
    lawful_basis: str
    legal_gateway: str
    purposes: list[str]


def lawful_bases(protocols: list[ProtocolEntry]) -> list[LawfulBasis]:
    """The distinct lawful bases and gateways the protocols in force rely on, with the purposes
    each serves: what the privacy notice says the partnership relies on."""
    found: dict[tuple[str, str], list[str]] = {}
    for entry in protocols:
        purposes = found.setdefault((entry.lawful_basis, entry.legal_gateway), [])
        if entry.purpose not in purposes:
            purposes.append(entry.purpose)
    return [LawfulBasis(basis, gateway, purposes) for (basis, gateway), purposes in found.items()]


def register_as_json(register: Register) -> dict:
    """The register as data, for /transparency.json: the same content the page shows."""

    def plain(value):
        if isinstance(value, list):
            return [plain(v) for v in value]
        if hasattr(value, "__dataclass_fields__"):
            return {name: plain(getattr(value, name)) for name in value.__dataclass_fields__}
        return value

    return {
        "partnership": register.partnership,
        "generated_on": register.today.isoformat(),
        "last_changed": register.last_changed.isoformat() if register.last_changed else None,
        "protocols_in_force": plain(register.protocols),
        "risk_indicators": plain(register.indicators),
        "alert_rules": plain(register.alert_rules),
        "agencies": plain(register.agencies),
        "sealed_categories": plain(register.sealed),
    }
