"""Writing protocols: drafting, approval, suspension, new versions, and who holds them.

The lifecycle: a draft (edited in place by IG officers of the author's agency) is submitted;
once an IG officer of every party agency other than its author has approved it, it is active,
in force between its dates, and any earlier version is superseded. Any change after submission
makes a new version. Any party's IG officer may suspend an active version, which hides what it
disclosed at the next page load, and resume it.
"""

from dataclasses import dataclass
from datetime import date

from django.apps import apps
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from accounts.models import User
from agencies.models import Agency, Dataset, Membership, Role
from core.purpose import Purpose
from matching.screening import shapes_problem
from protocols import approvals, suspension
from protocols.fields import FIELD, dataset_catalogues
from protocols.models import (
    DEFAULT_OVERRIDE_HOURS,
    DEFAULT_OVERRIDE_LENGTH_HOURS,
    LIVE_STATUSES,
    MAX_OVERRIDE_HOURS,
    OPEN_STATUSES,
    Approval,
    ConsentFromOthers,
    ConsentRule,
    DatasetRule,
    Protocol,
    ProtocolEvent,
    ProtocolGrant,
    ProtocolVersion,
    SealRule,
    Tier,
    VersionStatus,
)
from protocols.seals import seals_remark_later, seals_rescore_later

TIER_NAMES = {
    "hidden": Tier.HIDDEN,
    "known_to": Tier.KNOWN_TO,
    "summary": Tier.SUMMARY,
    "full": Tier.FULL,
}
TIER_KEYS: dict[int, str] = {value: key for key, value in TIER_NAMES.items()}
# Roles a protocol may serve: those that read person data.
PROTOCOL_ROLES = (Role.PRACTITIONER, Role.ANALYST)
MAX_LOOKBACK_DAYS = 36500

# Offered on the form; officers may write any other.
COMMON_LAWFUL_BASES = (
    "UK GDPR Art 6(1)(e) public task; Art 9(2)(g) substantial public interest "
    "(DPA 2018 Sch 1 para 18, safeguarding of children and individuals at risk)",
    "UK GDPR Art 6(1)(c) legal obligation",
    "UK GDPR Art 6(1)(e) public task; Art 9(2)(h) health or social care",
    "UK GDPR Art 6(1)(a) consent; Art 9(2)(a) explicit consent",
    "DPA 2018 Part 3 (law enforcement processing), s35",
)
COMMON_GATEWAYS = (
    "Children Act 1989 s17 (children in need)",
    "Children Act 1989 s47 (enquiries where a child may be at risk of significant harm)",
    "Children Act 2004 s10 (co-operation to improve well-being)",
    "Children Act 2004 s11 (duty to safeguard and promote welfare)",
    "Crime and Disorder Act 1998 s115",
    "Care Act 2014 s42 (adult safeguarding enquiries)",
    "Working Together to Safeguard Children 2023",
)


class ProtocolError(Exception):
    """A change that cannot be made; `problems` maps an input name (or "") to what to fix."""

    def __init__(self, problems: dict[str, list[str]] | str):
        if isinstance(problems, str):
            problems = {"": [problems]}
        self.problems = problems
        super().__init__("; ".join(m for messages in problems.values() for m in messages))


@dataclass(frozen=True)
class RuleInput:
    dataset_id: int
    tier: int
    fields: tuple[str, ...] = ()
    consent: str = ConsentRule.NONE
    lookback_days: int | None = None


@dataclass(frozen=True)
class SealInput:
    """A sealing rule on the form: a payload field and its value, or a risk indicator."""

    dataset_id: int
    reason: str
    field_key: str = ""
    value: str = ""
    indicator_id: int | None = None


@dataclass(frozen=True)
class ProtocolInput:
    name: str
    purpose: str
    lawful_basis: str
    valid_from: date
    party_ids: tuple[int, ...]
    rules: tuple[RuleInput, ...]
    purpose_detail: str = ""
    legal_gateway: str = ""
    dpia_reference: str = ""
    roles: tuple[str, ...] = (Role.PRACTITIONER,)
    valid_to: date | None = None
    staged: bool = False
    override_max_hours: int = DEFAULT_OVERRIDE_HOURS
    # None: the house default, or the longest override if that is shorter (usual_override_hours).
    override_default_hours: int | None = None
    consent_from_others: str = ConsentFromOthers.OWNER_CONFIRMS
    change_note: str = ""
    seals: tuple[SealInput, ...] = ()

    @property
    def usual_override_hours(self) -> int:
        if self.override_default_hours is not None:
            return self.override_default_hours
        return min(DEFAULT_OVERRIDE_LENGTH_HOURS, self.override_max_hours)


# --- Who may do what --------------------------------------------------------------------------


def _ig_agency(membership: Membership | None) -> Agency:
    agency = membership.agency if membership is not None else None
    if membership is None or membership.role != Role.IG_OFFICER or agency is None:
        raise ProtocolError("Only an IG officer, acting for their agency, can change protocols.")
    return agency


def protocol_is_party(protocol: Protocol, agency_id: int | None) -> bool:
    version = protocol_latest(protocol)
    return (
        bool(agency_id and version and version.parties.filter(pk=agency_id).exists())
        or protocol.owner_agency_id == agency_id
    )


def protocol_latest(protocol: Protocol) -> ProtocolVersion | None:
    return protocol.versions.order_by("-number").first()


# --- Checking input ---------------------------------------------------------------------------


def _checked(data: ProtocolInput) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}

    def problem(name: str, message: str) -> None:
        problems.setdefault(name, []).append(message)

    if not data.name.strip():
        problem("name", "Give the protocol a name, e.g. 'MASH information sharing protocol'.")
    elif len(data.name) > 200:
        problem("name", "Shorten the name to 200 characters or fewer.")
    if data.purpose not in Purpose.values:
        problem("purpose", "Choose the purpose the protocol serves.")
    if not data.lawful_basis.strip():
        problem("lawful_basis", "Give the lawful basis, e.g. UK GDPR Art 6(1)(e) public task.")
    elif len(data.lawful_basis) > 300:
        problem("lawful_basis", "Shorten the lawful basis to 300 characters or fewer.")
    if len(data.legal_gateway) > 300:
        problem("legal_gateway", "Shorten the legal gateway to 300 characters or fewer.")
    if len(data.dpia_reference) > 100:
        problem("dpia_reference", "Shorten the DPIA reference to 100 characters or fewer.")
    if data.valid_to is not None and data.valid_to < data.valid_from:
        problem("valid_to", "The end date must be the same as or after the start date.")
    if not 1 <= data.override_max_hours <= MAX_OVERRIDE_HOURS:
        problem(
            "override_max_hours",
            f"The longest safeguarding override must be from 1 to {MAX_OVERRIDE_HOURS} hours.",
        )
    elif not 1 <= data.usual_override_hours <= data.override_max_hours:
        problem(
            "override_default_hours",
            "The usual length of a safeguarding override must be from 1 hour to the longest "
            f"override, {data.override_max_hours} hours.",
        )
    # Free text every party's officers read, and the purpose the public register publishes:
    # screened for identifiers as any other free text is (matching.screening).
    for name, text, what in (
        ("name", data.name, "name"),
        ("purpose_detail", data.purpose_detail, "description of what the sharing is for"),
        ("change_note", data.change_note, "note of why it changed"),
    ):
        if message := shapes_problem(text, what=what):
            problem(name, message)
    if data.consent_from_others not in ConsentFromOthers.values:
        problem(
            "consent_from_others",
            "Choose when consent recorded by another agency opens an agency's records.",
        )
    if not data.roles or set(data.roles) - set(PROTOCOL_ROLES):
        problem(
            "roles",
            "Choose the roles the protocol serves: safeguarding practitioners, analysts or both.",
        )
    parties = set(
        Agency.objects.filter(pk__in=data.party_ids, is_active=True).values_list("pk", flat=True)
    )
    if len(parties) < 2 or parties != set(data.party_ids):
        problem("parties", "Choose at least two active partner agencies as parties.")
    seen: set[int] = set()
    datasets = Dataset.objects.in_bulk([r.dataset_id for r in data.rules])
    catalogues = dataset_catalogues(list(datasets))
    for rule in data.rules:
        dataset = datasets.get(rule.dataset_id)
        if dataset is None:
            problem("rules", f"Dataset {rule.dataset_id} does not exist.")
            continue
        where = f"{dataset.agency.name}, {dataset.name}"
        if rule.dataset_id in seen:
            problem("rules", f"{where} has two rules; give each dataset one rule.")
        seen.add(rule.dataset_id)
        if dataset.agency_id not in parties:
            problem(
                "rules", f"{where}: its agency is not a party, so the protocol cannot share it."
            )
        if rule.tier not in Tier.values:
            problem("rules", f"{where}: choose hidden, known to, summary or full.")
        if rule.consent not in ConsentRule.values:
            problem("rules", f"{where}: choose a consent rule.")
        if rule.lookback_days is not None and not 1 <= rule.lookback_days <= MAX_LOOKBACK_DAYS:
            problem("rules", f"{where}: the look-back must be from 1 to {MAX_LOOKBACK_DAYS} days.")
        known = {f.key for f in catalogues.get(dataset.pk, [])}
        unknown = [key for key in rule.fields if key not in known]
        if unknown:
            problem("rules", f"{where}: no such field {', '.join(sorted(unknown))}.")
        if rule.tier == Tier.SUMMARY and not rule.fields:
            problem("rules", f"{where}: a summary rule must name the fields it shares.")
        if rule.tier != Tier.SUMMARY and rule.fields:
            problem("rules", f"{where}: only a summary rule names fields; full shares them all.")
    if not any(r.tier > Tier.HIDDEN for r in data.rules):
        problem("rules", "Share at least one dataset, or the protocol discloses nothing.")
    for message in seal_problems(data.seals, party_ids=parties):
        problem("seals", message)
    return problems


def _write_content(version: ProtocolVersion, data: ProtocolInput, by: User | None = None) -> None:
    version.name = data.name.strip()
    version.purpose = data.purpose
    version.purpose_detail = data.purpose_detail.strip()
    version.lawful_basis = data.lawful_basis.strip()
    version.legal_gateway = data.legal_gateway.strip()
    version.dpia_reference = data.dpia_reference.strip()
    version.roles = sorted(set(data.roles))
    version.valid_from = data.valid_from
    version.valid_to = data.valid_to
    version.staged = data.staged
    version.override_max_hours = data.override_max_hours
    version.override_default_hours = data.usual_override_hours
    version.consent_from_others = data.consent_from_others
    version.change_note = data.change_note.strip()
    version.save()
    version.parties.set(data.party_ids)
    _write_seals(version, data.seals, by=by)
    version.rules.all().delete()
    DatasetRule.objects.bulk_create(
        DatasetRule(
            version=version,
            dataset_id=rule.dataset_id,
            tier=rule.tier,
            fields=sorted(set(rule.fields)) if rule.tier == Tier.SUMMARY else [],
            consent=rule.consent,
            lookback_days=rule.lookback_days,
        )
        for rule in data.rules
        if rule.tier > Tier.HIDDEN
    )


def _event(
    protocol, version, kind, membership: Membership, detail: str = "", agency: Agency | None = None
) -> None:
    from audit.models import AuditAction
    from audit.services import audit_record

    by = membership.user
    ProtocolEvent.objects.create(
        protocol=protocol, version=version, kind=kind, by=by, detail=detail[:300], agency=agency
    )
    # The kind of change and which version; the officers' words stay in the protocol's history.
    # Under the officer's membership, so the entry is their agency's: the audit page shows an
    # agency's own staff's entries, and one with no agency would be on no IG officer's page.
    audit_record(
        action=AuditAction.PROTOCOL,
        actor=by,
        membership=membership,
        versions=[version.pk] if version is not None else [],
        detail={"protocol": protocol.reference, "event": kind},
    )


# --- Drafting ---------------------------------------------------------------------------------


@transaction.atomic
def protocol_draft_create(*, membership: Membership, data: ProtocolInput) -> ProtocolVersion:
    agency = _ig_agency(membership)
    problems = _checked(data)
    if agency.pk not in data.party_ids:
        problems.setdefault("parties", []).append("Your own agency must be one of the parties.")
    if problems:
        raise ProtocolError(problems)
    protocol = Protocol.objects.create(created_by=membership.user, owner_agency=agency)
    version = ProtocolVersion(protocol=protocol, number=1, author=membership.user)
    _write_content(version, data, by=membership.user)
    _event(protocol, version, ProtocolEvent.Kind.DRAFTED, membership)
    return version


@transaction.atomic
def protocol_draft_update(
    *, membership: Membership, version: ProtocolVersion, data: ProtocolInput
) -> ProtocolVersion:
    """Change a draft in place; a submitted or active text is never changed (revise it)."""
    agency = _ig_agency(membership)
    version = ProtocolVersion.objects.select_for_update().get(pk=version.pk)
    if version.status != VersionStatus.DRAFT:
        raise ProtocolError(
            "Only a draft can be edited. Start a new version of the protocol to change it."
        )
    if not version.parties.filter(pk=agency.pk).exists():
        raise ProtocolError("Only IG officers of a party agency can edit this draft.")
    problems = _checked(data)
    if agency.pk not in data.party_ids:
        problems.setdefault("parties", []).append("Your own agency must stay one of the parties.")
    if problems:
        raise ProtocolError(problems)
    _write_content(version, data, by=membership.user)
    _event(version.protocol, version, ProtocolEvent.Kind.EDITED, membership)
    return version


def version_input(version: ProtocolVersion) -> ProtocolInput:
    """A version's content as input, to start a new version from it or fill the edit form."""
    return ProtocolInput(
        name=version.name,
        purpose=version.purpose,
        purpose_detail=version.purpose_detail,
        lawful_basis=version.lawful_basis,
        legal_gateway=version.legal_gateway,
        dpia_reference=version.dpia_reference,
        roles=tuple(version.roles),
        valid_from=version.valid_from,
        valid_to=version.valid_to,
        staged=version.staged,
        override_max_hours=version.override_max_hours,
        override_default_hours=version.override_default_hours,
        consent_from_others=version.consent_from_others,
        party_ids=tuple(version.parties.values_list("pk", flat=True)),
        rules=tuple(
            RuleInput(
                dataset_id=rule.dataset_id,
                tier=rule.tier,
                fields=tuple(rule.fields),
                consent=rule.consent,
                lookback_days=rule.lookback_days,
            )
            for rule in version.rules.all()
        ),
        seals=tuple(
            SealInput(
                dataset_id=seal.dataset_id,
                reason=seal.reason,
                field_key=seal.field_key,
                value=seal.value,
                indicator_id=seal.indicator_id,
            )
            for seal in version.seals.order_by("pk")
        ),
    )


@transaction.atomic
def protocol_revise(*, membership: Membership, protocol: Protocol) -> ProtocolVersion:
    """Start a new draft version from the latest one; the live version stays in force meanwhile."""
    agency = _ig_agency(membership)
    protocol = Protocol.objects.select_for_update().get(pk=protocol.pk)
    latest = protocol_latest(protocol)
    if latest is None:
        raise ProtocolError("The protocol has no version to start from.")
    if latest.status in OPEN_STATUSES:
        raise ProtocolError(
            f"Version {latest.number} is still {latest.get_status_display().lower()}; "
            "change that one instead."
        )
    if not latest.parties.filter(pk=agency.pk).exists():
        raise ProtocolError("Only IG officers of a party agency can revise this protocol.")
    version = ProtocolVersion(protocol=protocol, number=latest.number + 1, author=membership.user)
    _write_content(version, version_input(latest), by=membership.user)
    _event(
        protocol,
        version,
        ProtocolEvent.Kind.DRAFTED,
        membership,
        f"from version {latest.number}",
    )
    return version


# --- Approval ---------------------------------------------------------------------------------


@transaction.atomic
def protocol_submit(*, membership: Membership, version: ProtocolVersion) -> ProtocolVersion:
    agency = _ig_agency(membership)
    version = ProtocolVersion.objects.select_for_update().get(pk=version.pk)
    if version.status != VersionStatus.DRAFT:
        raise ProtocolError("Only a draft can be submitted for approval.")
    if not version.parties.filter(pk=agency.pk).exists():
        raise ProtocolError("Only IG officers of a party agency can submit this draft.")
    problems = _checked(version_input(version))
    if problems:
        raise ProtocolError(problems)
    version.status = VersionStatus.AWAITING_APPROVAL
    version.submitted_at = version.status_changed_at = timezone.now()
    version.save(update_fields=["status", "submitted_at", "status_changed_at"])
    _event(version.protocol, version, ProtocolEvent.Kind.SUBMITTED, membership, agency=agency)
    approvals.approval_requests_send(version=version, by=membership.user, now=version.submitted_at)
    return version


def approvals_missing(version: ProtocolVersion) -> list[Agency]:
    approved = set(version.approvals.values_list("agency_id", flat=True))
    return [a for a in version.parties.order_by("name") if a.pk not in approved]


@transaction.atomic
def protocol_approve(
    *, membership: Membership, version: ProtocolVersion, note: str = ""
) -> ProtocolVersion:
    """Approve for the approver's agency; the last party's approval puts the version in force."""
    agency = _ig_agency(membership)
    version = ProtocolVersion.objects.select_for_update().get(pk=version.pk)
    if version.status != VersionStatus.AWAITING_APPROVAL:
        raise ProtocolError("Only a version awaiting approval can be approved.")
    if version.author_id == membership.user_id:
        raise ProtocolError(
            "You wrote this version, so another IG officer of your agency must approve it."
        )
    if not version.parties.filter(pk=agency.pk).exists():
        raise ProtocolError("Only IG officers of a party agency can approve this protocol.")
    if len(note) > 2000:
        raise ProtocolError({"note": ["Shorten the note to 2,000 characters or fewer."]})
    if message := shapes_problem(note, what="note"):
        raise ProtocolError({"note": [message]})
    try:
        with transaction.atomic():
            Approval.objects.create(
                version=version, agency=agency, approved_by=membership.user, note=note.strip()
            )
    except IntegrityError:
        raise ProtocolError(f"{agency.name} has already approved this version.") from None
    _event(
        version.protocol,
        version,
        ProtocolEvent.Kind.APPROVED,
        membership,
        agency.name,
        agency=agency,
    )
    if not approvals_missing(version):
        from consent.carry_over import overrides_carry_over

        now = timezone.now()
        previous = version.protocol.versions.filter(status__in=LIVE_STATUSES)
        # The new version's seals take effect and the replaced one's end: scores and alerts
        # must stop (or start again) counting the records they cover.
        if SealRule.objects.filter(
            Q(version=version) | Q(version__in=previous.values("pk"))
        ).exists():
            seals_rescore_later()
        previous.update(status=VersionStatus.SUPERSEDED, status_changed_at=now)
        version.status = VersionStatus.ACTIVE
        version.approved_at = version.status_changed_at = now
        version.save(update_fields=["status", "approved_at", "status_changed_at"])
        # Overrides in force under the version replaced would otherwise stop opening anything
        # while still counting as in force: each carries over, or ends with its holder told.
        steps = overrides_carry_over(
            version=version, by=membership.user, membership=membership, now=now
        )
        _event(
            version.protocol,
            version,
            ProtocolEvent.Kind.ACTIVATED,
            membership,
            _carried_detail(steps),
        )
    approvals.approval_recorded(version=version, agency=agency, by=membership.user)
    return version


def _carried_detail(steps) -> str:
    """For the protocol's history: how many safeguarding overrides the approval carried over
    or ended (counts only; who and for whom are on the overrides)."""
    if not steps:
        return ""
    ended = sum(1 for step in steps if step.ended)
    carried = len(steps) - ended
    return f"safeguarding overrides in force: {carried} carried over to this version, {ended} ended"


@transaction.atomic
def protocol_return(
    *, membership: Membership, version: ProtocolVersion, note: str
) -> ProtocolVersion:
    """Send a submitted version back for changes: it is withdrawn as submitted (its approvals
    stay on record against that text) and a new draft version carries the content on."""
    agency = _ig_agency(membership)
    version = ProtocolVersion.objects.select_for_update().get(pk=version.pk)
    if version.status != VersionStatus.AWAITING_APPROVAL:
        raise ProtocolError("Only a version awaiting approval can be sent back.")
    if not version.parties.filter(pk=agency.pk).exists():
        raise ProtocolError("Only IG officers of a party agency can send this version back.")
    if not note.strip():
        raise ProtocolError({"note": ["Say what needs to change."]})
    if message := shapes_problem(note, what="note"):
        raise ProtocolError({"note": [message]})
    version.status = VersionStatus.WITHDRAWN
    version.status_changed_at = timezone.now()
    version.save(update_fields=["status", "status_changed_at"])
    _event(version.protocol, version, ProtocolEvent.Kind.RETURNED, membership, note.strip())
    approvals.approval_ended(version=version, by=membership.user, agency=agency, returned=True)
    draft = ProtocolVersion(
        protocol=version.protocol, number=version.number + 1, author=version.author
    )
    _write_content(draft, version_input(version))
    _event(
        version.protocol,
        draft,
        ProtocolEvent.Kind.DRAFTED,
        membership,
        f"from version {version.number}",
    )
    return draft


@transaction.atomic
def protocol_withdraw(*, membership: Membership, version: ProtocolVersion) -> ProtocolVersion:
    """Abandon a draft or submitted version; the live version, if any, is untouched."""
    agency = _ig_agency(membership)
    version = ProtocolVersion.objects.select_for_update().get(pk=version.pk)
    if version.status not in OPEN_STATUSES:
        raise ProtocolError("Only a draft or a version awaiting approval can be withdrawn.")
    if not version.parties.filter(pk=agency.pk).exists():
        raise ProtocolError("Only IG officers of a party agency can withdraw this version.")
    was_waiting = version.status == VersionStatus.AWAITING_APPROVAL
    version.status = VersionStatus.WITHDRAWN
    version.status_changed_at = timezone.now()
    version.save(update_fields=["status", "status_changed_at"])
    _event(version.protocol, version, ProtocolEvent.Kind.WITHDRAWN, membership)
    if was_waiting:
        approvals.approval_ended(version=version, by=membership.user, agency=agency, returned=False)
    return version


@transaction.atomic
def protocol_suspend(*, membership: Membership, protocol: Protocol, reason: str) -> ProtocolVersion:
    """Stop the active version disclosing anything, from the next page load on; every party's
    IG officers and every holder are told (protocols.suspension)."""
    agency = _ig_agency(membership)
    version = protocol.versions.select_for_update().filter(status=VersionStatus.ACTIVE).first()
    if version is None:
        raise ProtocolError("The protocol has no active version to suspend.")
    if not version.parties.filter(pk=agency.pk).exists():
        raise ProtocolError("Only IG officers of a party agency can suspend this protocol.")
    if problem := suspension.suspension_reason_problem(reason):
        raise ProtocolError({"reason": [problem]})
    version.status = VersionStatus.SUSPENDED
    version.status_changed_at = timezone.now()
    version.save(update_fields=["status", "status_changed_at"])
    if version.seals.exists():
        seals_rescore_later()  # its seals are out of force while it is suspended
    _event(
        protocol,
        version,
        ProtocolEvent.Kind.SUSPENDED,
        membership,
        reason.strip(),
        agency=agency,
    )
    suspension.suspension_notices_send(version=version, by=membership.user, agency=agency)
    return version


@transaction.atomic
def protocol_resume(*, membership: Membership, protocol: Protocol, reason: str) -> ProtocolVersion:
    """Let a suspended version disclose again. Any party's IG officer may (one party must not be
    able to hold the others' sharing hostage), but only with a reason every party reads, and
    every party's IG officers and every holder are told, as for a suspension."""
    agency = _ig_agency(membership)
    version = protocol.versions.select_for_update().filter(status=VersionStatus.SUSPENDED).first()
    if version is None:
        raise ProtocolError("The protocol is not suspended.")
    if not version.parties.filter(pk=agency.pk).exists():
        raise ProtocolError("Only IG officers of a party agency can resume this protocol.")
    if problem := suspension.resumption_reason_problem(reason):
        raise ProtocolError({"reason": [problem]})
    suspended = suspension.suspension_of(version)
    version.status = VersionStatus.ACTIVE
    version.status_changed_at = timezone.now()
    version.save(update_fields=["status", "status_changed_at"])
    if version.seals.exists():
        seals_rescore_later()  # its seals are in force again
    _event(
        protocol,
        version,
        ProtocolEvent.Kind.RESUMED,
        membership,
        reason.strip(),
        agency=agency,
    )
    suspension.resumption_notices_send(
        version=version, by=membership.user, agency=agency, suspended=suspended
    )
    return version


# --- Assignment -------------------------------------------------------------------------------


def _assignable(membership: Membership, protocol: Protocol) -> Agency:
    agency = _ig_agency(membership)
    if not protocol_is_party(protocol, agency.pk):
        raise ProtocolError("Only IG officers of a party agency can give this protocol to anyone.")
    return agency


@transaction.atomic
def protocol_assign(
    *, membership: Membership, protocol: Protocol, user=None, group: Group | None = None
) -> bool:
    """Give `protocol`, for the assigner's agency, to a member of it or to a group all of whose
    members work in it; False if they had it from this agency already.

    An IG officer answers for their own agency's staff, so they give protocols to them only, and
    the grant counts only while its holder acts for that agency (protocols.engine.grants_for).
    A group with anyone from outside is refused, saying how many, never who: an IG officer is
    not told the names of another agency's staff.
    """
    agency = _assignable(membership, protocol)
    if user is None and group is None:
        raise ProtocolError("Choose a person or a group.")
    if (
        user is not None
        and not Membership.objects.filter(user=user, agency=agency, is_active=True).exists()
    ):
        raise ProtocolError(
            f"{user} does not work in {agency.name}; their own IG officer gives them protocols."
        )
    if user is None and group is not None:
        # One active membership in the agency each: a subquery, as exclude() across a
        # many-valued relation would let the two conditions match different memberships.
        inside = Membership.objects.filter(agency=agency, is_active=True).values("user_id")
        outside = group.user_set.exclude(pk__in=inside).count()
        if outside:
            raise ProtocolError(
                {
                    "group": [
                        f"{outside} {'member' if outside == 1 else 'members'} of the group "
                        f"{'does' if outside == 1 else 'do'} not work in {agency.name}. Give the "
                        "protocol to a group whose members all work in your agency, or to people "
                        "one by one."
                    ]
                }
            )
    holder = {"user": user} if user is not None else {"group": group}
    _, created = ProtocolGrant.objects.get_or_create(
        protocol=protocol, agency=agency, **holder, defaults={"granted_by": membership.user}
    )
    if not created:
        return False
    assign_perm("use_protocol", user if user is not None else group, protocol)
    target = user if user is not None else group
    _event(protocol, None, ProtocolEvent.Kind.ASSIGNED, membership, str(target))
    _grant_audit(membership, protocol, "given", user=user, group=group)
    return True


@transaction.atomic
def protocol_unassign(
    *, membership: Membership, protocol: Protocol, user=None, group: Group | None = None
) -> bool:
    """Take back what the officer's agency gave `protocol` to (a member of the agency, or a
    group); False if the agency had not given it to them. Another agency's grant to the same
    holder stays; the permission goes with the last grant."""
    agency = _assignable(membership, protocol)
    target = user if user is not None else group
    if target is None:
        raise ProtocolError("Choose a person or a group.")
    if user is not None and not Membership.objects.filter(user=user, agency=agency).exists():
        raise ProtocolError(
            f"{user} does not work in {agency.name}; their own IG officer manages their protocols."
        )
    holder = {"user": user} if user is not None else {"group": group}
    taken, _ = ProtocolGrant.objects.filter(protocol=protocol, agency=agency, **holder).delete()
    if not taken:
        return False
    if not ProtocolGrant.objects.filter(protocol=protocol, **holder).exists():
        remove_perm("use_protocol", target, protocol)
    _event(protocol, None, ProtocolEvent.Kind.UNASSIGNED, membership, str(target))
    _grant_audit(membership, protocol, "taken", user=user, group=group)
    return True


def _grant_audit(membership: Membership, protocol: Protocol, change: str, *, user, group) -> None:
    """Ids only: the holder's name is in the protocol's own history, not the trail."""
    from audit.models import AuditAction
    from audit.services import audit_record

    audit_record(
        action=AuditAction.GRANT,
        actor=membership.user,
        membership=membership,
        detail={
            "protocol": protocol.reference,
            "change": change,
            "holder": {"user": user.pk} if user is not None else {"group": group.pk},
        },
    )


def protocol_holders(protocol: Protocol):
    """(users, groups) given the protocol directly by a party's IG officer: a permission
    without a grant naming an agency opens nothing (protocols.engine.grants_for), so it is not
    listed as held."""
    users = User.objects.filter(protocol_grants__protocol=protocol).distinct().order_by("pk")
    groups = Group.objects.filter(protocol_grants__protocol=protocol).distinct().order_by("name")
    return users, groups


def seal_problems(seals: tuple[SealInput, ...], *, party_ids: set[int]) -> list[str]:
    """What is wrong with a protocol's sealing rules, each message saying what to fix."""
    problems: list[str] = []
    if not seals:
        return problems
    datasets = Dataset.objects.select_related("agency").in_bulk({s.dataset_id for s in seals})
    catalogues = dataset_catalogues(list(datasets))
    indicator_datasets = _indicator_datasets({s.indicator_id for s in seals if s.indicator_id})
    seen = set()
    for number, seal in enumerate(seals, start=1):
        where = f"Sealing rule {number}"
        dataset = datasets.get(seal.dataset_id)
        if dataset is None:
            problems.append(f"{where}: choose what to seal from the list.")
            continue
        if dataset.agency_id not in party_ids:
            problems.append(
                f"{where}: {dataset.agency.name} is not a party, so the protocol cannot seal "
                "its records. Add it as a party or ask a platform admin for a "
                "partnership-wide rule."
            )
        if seal.indicator_id is not None:
            if seal.dataset_id not in indicator_datasets.get(seal.indicator_id, set()):
                problems.append(f"{where}: that risk indicator does not read {dataset.name}.")
        else:
            fields = {f.key: f for f in catalogues.get(dataset.pk, []) if not f.is_identity}
            if not seal.field_key.startswith(FIELD) or seal.field_key not in fields:
                problems.append(f"{where}: choose a field of {dataset.name} to seal by.")
            if not seal.value.strip():
                problems.append(
                    f'{where}: enter the value that seals a record, e.g. "sexual health".'
                )
            elif len(seal.value) > 200:
                problems.append(f"{where}: shorten the value to 200 characters or fewer.")
        if not seal.reason.strip():
            problems.append(f"{where}: say why these records must never be shared.")
        elif message := shapes_problem(seal.reason, what="reason"):
            problems.append(f"{where}: {message}")
        key = (
            seal.dataset_id,
            seal.field_key,
            " ".join(seal.value.split()).casefold(),
            seal.indicator_id,
        )
        if key in seen:
            problems.append(f"{where} repeats an earlier rule; remove one of them.")
        seen.add(key)
    return problems


def _indicator_datasets(indicator_ids: set) -> dict[int, set[int]]:
    if not indicator_ids:
        return {}
    # Risk sits above protocols: its model is looked up by name rather than imported.
    indicator_model = apps.get_model("risk", "RiskIndicator")
    found: dict[int, set[int]] = {}
    for pk, dataset_id in indicator_model._default_manager.filter(pk__in=indicator_ids).values_list(
        "pk", "datasets"
    ):
        found.setdefault(pk, set()).add(dataset_id)
    return found


def _write_seals(version: ProtocolVersion, seals: tuple[SealInput, ...], *, by) -> None:
    """Keep the version's sealing rules as given: unchanged rules keep their marks, new ones are
    marked once the change commits (protocols.seals)."""
    wanted = {
        (s.dataset_id, s.field_key, s.value.strip(), s.indicator_id): s.reason.strip()
        for s in seals
    }
    kept = set()
    for rule in version.seals.all():
        key = (rule.dataset_id, rule.field_key, rule.value, rule.indicator_id)
        if key in wanted and key not in kept:
            kept.add(key)
            if rule.reason != wanted[key]:
                rule.reason = wanted[key]
                rule.save(update_fields=["reason"])
        else:
            rule.delete()
    new = [key for key in wanted if key not in kept]
    SealRule.objects.bulk_create(
        SealRule(
            version=version,
            dataset_id=dataset_id,
            field_key=field_key,
            value=value,
            indicator_id=indicator_id,
            reason=wanted[(dataset_id, field_key, value, indicator_id)],
            created_by=by,
        )
        for dataset_id, field_key, value, indicator_id in new
    )
    seals_remark_later(dataset_id for dataset_id, _, _, indicator_id in new if indicator_id is None)
