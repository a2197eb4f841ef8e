"""A readable difference between two versions of a protocol, for approvers and the history."""

from dataclasses import dataclass

from protocols.fields import dataset_catalogues
from protocols.models import ConsentRule, ProtocolVersion, Purpose, Tier


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


def version_diff(old: ProtocolVersion, new: ProtocolVersion) -> list[Change]:
    """What changed from `old` to `new`, in the order an approver reads a protocol."""
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
