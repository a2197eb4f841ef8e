"""A readable difference between two versions of a protocol, for approvers and the history."""

from dataclasses import dataclass

from agencies.labels import readable_label
from core.purpose import Purpose
from protocols.fields import dataset_catalogues
from protocols.models import LIVE_STATUSES, ConsentRule, ProtocolVersion, Tier, VersionStatus
from protocols.seals import SealLine, seals_of_version


@dataclass(frozen=True)
class Comparison:
    """The version another is compared with, and why that one, for the heading."""

    version: ProtocolVersion
    in_force: bool  # the version in force (live, or suspended), not merely the one before


def comparison_base(version: ProtocolVersion, *, chosen: str | None = None) -> Comparison | None:
    """What `version` is compared with: the version `chosen` (?compare=N) when it exists;
    otherwise, for a draft or a version awaiting approval, the version in force, which is what
    approving it replaces (after a send-back the previous number is a withdrawn or returned
    version that was never in force, so "nothing changed since it" hid every change); otherwise
    the version before it."""
    versions = version.protocol.versions.exclude(pk=version.pk)
    if chosen and chosen.isdigit():
        picked = versions.filter(number=int(chosen)).first()
        if picked is not None:
            return Comparison(picked, in_force=picked.status in LIVE_STATUSES)
    if version.status in (VersionStatus.DRAFT, VersionStatus.AWAITING_APPROVAL):
        live = versions.filter(status__in=LIVE_STATUSES).order_by("-number").first()
        if live is not None:
            return Comparison(live, in_force=True)
    previous = versions.filter(number__lt=version.number).order_by("-number").first()
    if previous is None:
        return None
    return Comparison(previous, in_force=previous.status in LIVE_STATUSES)


@dataclass(frozen=True)
class Change:
    what: str
    before: str
    after: str


def _dates(version: ProtocolVersion) -> str:
    end = version.valid_to.isoformat() if version.valid_to else "no end date"
    return f"{version.valid_from.isoformat()} to {end}"


def _rule_text(rule, labels: dict[str, str]) -> str:
    if rule is None:
        return "Not shared"
    parts = [Tier(rule.tier).label.split(" (")[0]]
    if rule.tier == Tier.SUMMARY:
        parts.append("fields: " + ", ".join(labels.get(k, k) for k in rule.fields))
    parts.append(ConsentRule(rule.consent).label.lower())
    if rule.lookback_days:
        parts.append(f"records from the last {rule.lookback_days} days")
    return "; ".join(parts)


def _seal_text(line: SealLine) -> str:
    return f"{line.dataset}: {line.text}"


def version_diff(old: ProtocolVersion, new: ProtocolVersion, *, rules: bool = True) -> list[Change]:
    """What changed from `old` to `new`, in the order an approver reads a protocol; with
    `rules`, each dataset's rule as a whole text before and after (the API's form; the page
    reads rule_changes instead)."""
    changes: list[Change] = []

    def compare(what: str, before: str, after: str) -> None:
        if before != after:
            changes.append(Change(what, before or "(none)", after or "(none)"))

    compare("Name", old.name, new.name)
    compare("Purpose", Purpose(old.purpose).label, Purpose(new.purpose).label)
    compare("What the sharing is for", old.purpose_detail, new.purpose_detail)
    compare("Lawful basis", old.lawful_basis, new.lawful_basis)
    compare("Legal gateway", old.legal_gateway, new.legal_gateway)
    compare("DPIA reference", old.dpia_reference, new.dpia_reference)
    compare("In force", _dates(old), _dates(new))
    compare("Staged disclosure", "Yes" if old.staged else "No", "Yes" if new.staged else "No")
    compare(
        "Longest safeguarding override",
        f"{old.override_max_hours} hours",
        f"{new.override_max_hours} hours",
    )
    compare(
        "Usual length of a safeguarding override",
        f"{old.override_default_hours} hours",
        f"{new.override_default_hours} hours",
    )
    compare(
        "Consent recorded by another agency",
        old.get_consent_from_others_display(),
        new.get_consent_from_others_display(),
    )
    compare("Roles", ", ".join(sorted(old.roles)), ", ".join(sorted(new.roles)))
    compare(
        "Parties",
        ", ".join(sorted(a.name for a in old.parties.all())),
        ", ".join(sorted(a.name for a in new.parties.all())),
    )
    if not rules:
        return changes
    compare(
        "Sealed records",
        "; ".join(_seal_text(line) for line in seals_of_version(old)),
        "; ".join(_seal_text(line) for line in seals_of_version(new)),
    )
    old_rules = {r.dataset_id: r for r in old.rules.select_related("dataset__agency")}
    new_rules = {r.dataset_id: r for r in new.rules.select_related("dataset__agency")}
    catalogues = dataset_catalogues(set(old_rules) | set(new_rules))
    for dataset_id in sorted(set(old_rules) | set(new_rules)):
        rule = new_rules.get(dataset_id) or old_rules[dataset_id]
        labels = {f.key: f.label for f in catalogues.get(dataset_id, [])}
        compare(
            f"{rule.dataset.agency.name}: {rule.dataset.name}",
            _rule_text(old_rules.get(dataset_id), labels),
            _rule_text(new_rules.get(dataset_id), labels),
        )
    return changes


@dataclass(frozen=True)
class RuleChange:
    """How one dataset's rule changed, field by field and in words (issue 22): an approver
    reads "Added: Risk grade" and 'Tier raised from "Known to" to "Summary"', not two rule texts
    to compare by eye."""

    dataset: str  # "Agency: Dataset"
    # Each a sentence, or "" when that part did not change.
    sharing: str  # newly shared, or no longer shared at all
    tier: str
    consent: str
    lookback: str
    # Field labels, in the dataset's order: shown under the new rule and not the old, and the
    # other way round. A rule at Full shows every field; below Summary, none.
    added: tuple[str, ...]
    removed: tuple[str, ...]


def _tier_name(tier: int) -> str:
    return Tier(tier).label.split(" (")[0]


def _consent_change(before: str, after: str) -> str:
    """Old and new in the words of the protocol form, so nobody has to remember what it was."""
    return f'Consent: was "{ConsentRule(before).label}", now "{ConsentRule(after).label}"'


# For a dataset newly shared, where there is no "was".
_CONSENT_NOW = {
    ConsentRule.NONE: "Consent no longer needed",
    ConsentRule.NEEDED: "Consent now needed, with no safeguarding override",
    ConsentRule.UNLESS_OVERRIDE: "Consent now needed unless a safeguarding override",
}


def _records(days: int | None) -> str:
    return f"records from the last {days} days" if days else "all records"


def _shown_keys(rule, keys: list[str]) -> list[str]:
    if rule is None or rule.tier < Tier.SUMMARY:
        return []
    if rule.tier >= Tier.FULL:
        return keys
    return [k for k in keys if k in rule.fields] + [k for k in rule.fields if k not in keys]


def rule_changes(old: ProtocolVersion, new: ProtocolVersion) -> list[RuleChange]:
    """Each dataset whose rule differs between `old` and `new`, by agency and dataset name."""
    old_rules = {r.dataset_id: r for r in old.rules.select_related("dataset__agency")}
    new_rules = {r.dataset_id: r for r in new.rules.select_related("dataset__agency")}
    catalogues = dataset_catalogues(set(old_rules) | set(new_rules))
    found = []
    for dataset_id in set(old_rules) | set(new_rules):
        before, after = old_rules.get(dataset_id), new_rules.get(dataset_id)
        rule = after if after is not None else old_rules[dataset_id]
        catalogue = catalogues.get(dataset_id, [])
        # A key no mapping of the dataset carries any more reads as a readable name, never raw.
        labels = {f.key: f.label for f in catalogue}
        keys = [f.key for f in catalogue]

        def label(key: str, labels=labels) -> str:
            return labels.get(key) or readable_label(key.split(":", 1)[-1])

        was, now = _shown_keys(before, keys), _shown_keys(after, keys)
        sharing = tier = consent = lookback = ""
        if before is None:
            sharing = f"Newly shared at {_tier_name(rule.tier)}"
            if rule.consent != ConsentRule.NONE:
                consent = _CONSENT_NOW[ConsentRule(rule.consent)]
        elif after is None:
            sharing = f"No longer shared (was {_tier_name(before.tier)})"
        else:
            if after.tier != before.tier:
                way = "raised" if after.tier > before.tier else "lowered"
                was_tier, now_tier = _tier_name(before.tier), _tier_name(after.tier)
                tier = f'Tier {way} from "{was_tier}" to "{now_tier}"'
            if after.consent != before.consent:
                consent = _consent_change(before.consent, after.consent)
            if after.lookback_days != before.lookback_days:
                lookback = (
                    f"Now {_records(after.lookback_days)} (was {_records(before.lookback_days)})"
                )
        added = tuple(label(k) for k in now if k not in was)
        removed = tuple(label(k) for k in was if k not in now)
        if sharing or tier or consent or lookback or added or removed:
            found.append(
                RuleChange(
                    dataset=f"{rule.dataset.agency.name}: {rule.dataset.name}",
                    sharing=sharing,
                    tier=tier,
                    consent=consent,
                    lookback=lookback,
                    added=added,
                    removed=removed,
                )
            )
    return sorted(found, key=lambda c: c.dataset)


@dataclass(frozen=True)
class SealChange:
    """A sealed-records rule one version has and the other has not, in words. A rule is the
    same rule in both when it seals the same records of the same dataset; its reason may be
    reworded."""

    added: bool  # sealed under the new version only; False: no longer sealed
    dataset: str  # "Agency: Dataset"
    text: str  # 'records where Clinic type is "sexual health"'
    reason: str


def seal_changes(old: ProtocolVersion, new: ProtocolVersion) -> list[SealChange]:
    """Records the new version seals that the old did not, then those it no longer seals; an
    approver must see a seal dropped as plainly as a field added."""
    was = {(line.dataset_id, line.text): line for line in seals_of_version(old)}
    now = {(line.dataset_id, line.text): line for line in seals_of_version(new)}
    return [
        SealChange(added=True, dataset=line.dataset, text=line.text, reason=line.reason)
        for key, line in now.items()
        if key not in was
    ] + [
        SealChange(added=False, dataset=line.dataset, text=line.text, reason=line.reason)
        for key, line in was.items()
        if key not in now
    ]
