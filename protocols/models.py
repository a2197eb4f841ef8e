"""Data-sharing protocols as the software enforces them, who holds them, and what they disclosed.

A Protocol is the agreement's stable identity (what users and groups are given, with
django-guardian); each change to its content makes a new ProtocolVersion, so a case summary
can say which version disclosed which field. Only the disclosure engine (protocols.engine)
reads these to decide what anyone sees.
"""

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.purpose import Purpose


def _protocol_reference() -> str:
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    return "P" + "".join(secrets.choice(alphabet) for _ in range(7))


class Tier(models.IntegerChoices):
    """How much of an agency dataset a rule discloses; higher includes lower."""

    HIDDEN = 0, "Hidden"
    KNOWN_TO = 1, "Known to (involvement and latest date only)"
    SUMMARY = 2, "Summary (the fields the rule names)"
    FULL = 3, "Full (every field)"


# Safeguarding overrides: at most 72 hours unless the protocol says otherwise; never more than 30
# days, after which "seeking consent would put the child at risk" should have been revisited.
DEFAULT_OVERRIDE_HOURS = 72
MAX_OVERRIDE_HOURS = 30 * 24
# The length a practitioner is offered at first, unless the protocol sets its own: a day. Enough
# for what an override is for (a strategy discussion, a visit, a decision that cannot wait for
# consent), and short enough that seeing a family's records without their say does not, by
# default, outlast the reason for it. Who needs longer chooses it, up to the protocol's most,
# and the IG officer reviewing the override sees that they did; the most is a ceiling to choose
# up to, not the length to take when nobody thinks about it.
DEFAULT_OVERRIDE_LENGTH_HOURS = 24


class ConsentRule(models.TextChoices):
    NONE = "none", "No consent needed"
    NEEDED = "needed", "Consent needed"
    UNLESS_OVERRIDE = "unless_override", "Consent needed unless a safeguarding override"


class ConsentFromOthers(models.TextChoices):
    """How a consent statement recorded by one agency about another agency's records takes
    effect under a protocol. Each agency is the controller of its own records: by default the
    owner confirms a statement another agency recorded before it opens anything (until then only
    a safeguarding override does); a protocol may choose, explicitly, that it counts at once."""

    OWNER_CONFIRMS = "owner_confirms", "When the agency whose records they are confirms it"
    AT_ONCE = "at_once", "At once; the agency whose records they are is told"


class Protocol(models.Model):
    """An information sharing agreement; its content lives in its versions."""

    reference = models.CharField(max_length=12, unique=True, default=_protocol_reference)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # The author's agency: whose IG officers may edit drafts.
    owner_agency = models.ForeignKey(
        "agencies.Agency", on_delete=models.PROTECT, related_name="owned_protocols"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["reference"]
        # Assigned per protocol with django-guardian; nobody holds it globally.
        default_permissions = ()
        permissions = [("use_protocol", "Can see person data under this protocol")]

    def __str__(self) -> str:
        return self.reference


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    # Approved by every party; in force between its dates (before or after them it is shown as
    # "approved, not yet in force" or "expired", which the engine reads from the dates).
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    SUPERSEDED = "superseded", "Replaced by a newer version"
    WITHDRAWN = "withdrawn", "Withdrawn"


# A protocol has at most one version of each kind (the constraints below): the one in force or
# suspended, and the one being worked on.
LIVE_STATUSES = (VersionStatus.ACTIVE, VersionStatus.SUSPENDED)
OPEN_STATUSES = (VersionStatus.DRAFT, VersionStatus.AWAITING_APPROVAL)


class ProtocolVersion(models.Model):
    """One immutable text of a protocol once submitted; a draft is edited until then."""

    protocol = models.ForeignKey(Protocol, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    purpose_detail = models.TextField(
        blank=True, help_text="What the sharing is for, in the agreement's own words."
    )
    lawful_basis = models.CharField(max_length=300)
    legal_gateway = models.CharField(max_length=300, blank=True)
    dpia_reference = models.CharField("DPIA reference", max_length=100, blank=True)
    parties = models.ManyToManyField("agencies.Agency", related_name="protocol_versions")
    # The roles a holder must act in for the protocol to apply (a practitioner's protocol does
    # not follow them when they act as their agency's analyst).
    roles = models.JSONField(default=list)
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)
    # Staged disclosure: "known to" only, until the user records their own assessment step.
    staged = models.BooleanField(default=False)
    # The longest a safeguarding override under this version may last; a practitioner picks a
    # duration up to it (consent.overrides). Only rules "needed unless override" yield to one.
    override_max_hours = models.PositiveSmallIntegerField(
        default=DEFAULT_OVERRIDE_HOURS,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_OVERRIDE_HOURS)],
    )
    # The length the override form offers at first; never more than override_max_hours
    # (protocols.services checks it when a draft is saved).
    override_default_hours = models.PositiveSmallIntegerField(
        default=DEFAULT_OVERRIDE_LENGTH_HOURS,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_OVERRIDE_HOURS)],
    )
    consent_from_others = models.CharField(
        max_length=20, choices=ConsentFromOthers.choices, default=ConsentFromOthers.OWNER_CONFIRMS
    )
    status = models.CharField(
        max_length=20, choices=VersionStatus.choices, default=VersionStatus.DRAFT
    )
    change_note = models.TextField(blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["protocol", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["protocol", "number"], name="protocolversion_unique"),
            # At most one version of a protocol is in force or suspended at a time.
            models.UniqueConstraint(
                fields=["protocol"],
                condition=Q(status__in=list(LIVE_STATUSES)),
                name="protocolversion_one_live",
            ),
            # And one being worked on.
            models.UniqueConstraint(
                fields=["protocol"],
                condition=Q(status__in=list(OPEN_STATUSES)),
                name="protocolversion_one_open",
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="protocolversion_dates_ordered",
            ),
        ]
        indexes = [models.Index(fields=["status", "purpose"])]

    def __str__(self) -> str:
        return f"{self.name} v{self.number}"

    @property
    def label(self) -> str:
        return version_label(self.name, self.number)

    def in_force_on(self, day) -> bool:
        return (
            self.status == VersionStatus.ACTIVE
            and self.valid_from <= day
            and (self.valid_to is None or day <= self.valid_to)
        )

    @property
    def status_label(self) -> str:
        """The status as people read it today: "Expired" rather than active past its end."""
        return self.status_label_on(timezone.localdate())

    def status_label_on(self, day) -> str:
        if self.status == VersionStatus.ACTIVE:
            if day < self.valid_from:
                return "Approved, not yet in force"
            if self.valid_to is not None and day > self.valid_to:
                return "Expired"
        return self.get_status_display()


def version_label(name: str, number: int) -> str:
    """How a version is named wherever a field says which protocol allowed it."""
    return f"{name} (version {number})"


class DatasetRule(models.Model):
    """What one protocol version discloses of one agency dataset, and on what condition."""

    version = models.ForeignKey(ProtocolVersion, on_delete=models.CASCADE, related_name="rules")
    dataset = models.ForeignKey("agencies.Dataset", on_delete=models.PROTECT, related_name="+")
    tier = models.PositiveSmallIntegerField(choices=Tier.choices)
    # For the summary tier: the field keys (protocols.fields) it discloses.
    fields = models.JSONField(default=list, blank=True)
    consent = models.CharField(max_length=20, choices=ConsentRule.choices)
    # Records whose event is older than this many days are not shared; records without an event
    # date are shared only by rules without a look-back, as their age cannot be shown.
    lookback_days = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["version", "dataset__agency__name", "dataset__name"]
        constraints = [
            models.UniqueConstraint(fields=["version", "dataset"], name="datasetrule_unique")
        ]

    def __str__(self) -> str:
        return f"{self.dataset}: {self.get_tier_display()}"


class ProtocolGrant(models.Model):
    """Which agency gave a holder (a user, or a group) a protocol: django-guardian's
    `use_protocol` permission says who holds it, this says for which agency. The engine counts a
    grant only while its holder acts for that agency, so a protocol given by one agency's IG
    officer never follows someone who also works for another agency when they act there."""

    protocol = models.ForeignKey(Protocol, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="protocol_grants",
    )
    group = models.ForeignKey(
        "auth.Group",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="protocol_grants",
    )
    agency = models.ForeignKey("agencies.Agency", on_delete=models.PROTECT, related_name="+")
    # Null only for grants made before the agency was stored whose officer is not known.
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["protocol", "agency", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, group__isnull=True)
                | Q(user__isnull=True, group__isnull=False),
                name="protocolgrant_one_holder",
            ),
            models.UniqueConstraint(
                fields=["protocol", "user", "agency"],
                condition=Q(user__isnull=False),
                name="protocolgrant_once_per_user",
            ),
            models.UniqueConstraint(
                fields=["protocol", "group", "agency"],
                condition=Q(group__isnull=False),
                name="protocolgrant_once_per_group",
            ),
        ]

    def __str__(self) -> str:
        return f"grant of protocol {self.protocol_id} by agency {self.agency_id}"


class Approval(models.Model):
    """A party agency's IG officer approving a submitted version (never its author)."""

    version = models.ForeignKey(ProtocolVersion, on_delete=models.PROTECT, related_name="approvals")
    agency = models.ForeignKey("agencies.Agency", on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(auto_now_add=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["approved_at"]
        constraints = [
            models.UniqueConstraint(fields=["version", "agency"], name="approval_one_per_agency")
        ]

    def __str__(self) -> str:
        return f"approval of {self.version} for agency {self.agency_id}"


class ProtocolEvent(models.Model):
    """The protocol's history: drafts, submissions, approvals, suspensions, assignments."""

    class Kind(models.TextChoices):
        DRAFTED = "drafted", "Drafted"
        EDITED = "edited", "Draft edited"
        SUBMITTED = "submitted", "Submitted for approval"
        RETURNED = "returned", "Returned to draft"
        APPROVED = "approved", "Approved by a party"
        ACTIVATED = "activated", "Approved by every party"
        SUSPENDED = "suspended", "Suspended"
        RESUMED = "resumed", "Resumed"
        WITHDRAWN = "withdrawn", "Withdrawn"
        ASSIGNED = "assigned", "Given to"
        UNASSIGNED = "unassigned", "Taken from"

    protocol = models.ForeignKey(Protocol, on_delete=models.PROTECT, related_name="events")
    version = models.ForeignKey(
        ProtocolVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The agency the officer acted for: a suspension is shown as "by <name> (<agency>)", and an
    # officer may hold the role in more than one agency. Null for events recorded before it.
    agency = models.ForeignKey(
        "agencies.Agency", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} of protocol {self.protocol_id}"


class ApprovalNotice(models.Model):
    """When a party agency's IG officers were last told that a submitted version waits for
    their approval: the reminder task claims a row by moving `told_at` on, so a beat that runs
    twice, or two workers at once, remind once per interval. The row goes when the agency
    approves or the version stops waiting."""

    version = models.ForeignKey(
        ProtocolVersion, on_delete=models.CASCADE, related_name="approval_notices"
    )
    agency = models.ForeignKey("agencies.Agency", on_delete=models.CASCADE, related_name="+")
    told_at = models.DateTimeField()
    reminders = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["version", "agency"], name="approvalnotice_one_per_agency"
            )
        ]

    def __str__(self) -> str:
        return f"approval notice for version {self.version_id}, agency {self.agency_id}"


class CaseUnlock(models.Model):
    """Staged disclosure: a practitioner recorded that their own assessment step is done for a
    person, so protocols that stage disclosure show them the detail from now on."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey("matching.Person", on_delete=models.PROTECT, related_name="+")
    # What the user says they completed, e.g. "Initial assessment"; chosen from a list, so no
    # free text about the family lands here.
    step = models.CharField(max_length=40)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "person"], name="caseunlock_once_per_user")
        ]

    def __str__(self) -> str:
        return f"unlock of person {self.person_id} for user {self.user_id}"


class SealRule(models.Model):
    """Records of one agency dataset that are never disclosed to another agency: those whose
    field equals a value (clinic type is sexual health, record type is adoption), or those a
    risk indicator found. Set by a protocol version (in force while that version is) or, with no
    version, partnership-wide by a platform admin. No protocol, consent or safeguarding override
    opens a sealed record to another agency, not even as "known to"; its own agency sees it as
    its protocols allow, and subject access and retention reach it (protocols.seals)."""

    dataset = models.ForeignKey("agencies.Dataset", on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(
        ProtocolVersion,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="seals",
        help_text="Empty: partnership-wide, in force until deleted.",
    )
    # A payload field key (protocols.fields, "field:<column>") and the value that seals, compared
    # ignoring case and spacing; or, instead, a risk indicator whose finding seals.
    field_key = models.CharField(
        max_length=200, blank=True, help_text='The field\'s key, e.g. "field:clinic_type".'
    )
    value = models.CharField(
        max_length=200, blank=True, help_text="Compared ignoring capitals and spaces."
    )
    indicator = models.ForeignKey(
        "risk.RiskIndicator", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(help_text="Why these records must never travel.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset__agency__name", "dataset__name", "field_key", "value"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(indicator__isnull=True) & ~Q(field_key="") & ~Q(value=""))
                | (Q(indicator__isnull=False) & Q(field_key="") & Q(value="")),
                name="sealrule_field_or_indicator",
                violation_error_message="Seal by a field and its value, or by a risk indicator "
                "with no field or value.",
            )
        ]

    def __str__(self) -> str:
        return f"seal on {self.dataset}"


class SealedRecord(models.Model):
    """A record a field-value SealRule matches, worked out when the record is loaded and when
    the rule is made (protocols.seals), so every read filters on an indexed join instead of
    reading payloads. Marked whether or not the rule is in force yet; reads check that."""

    rule = models.ForeignKey(SealRule, on_delete=models.CASCADE, related_name="records")
    record = models.ForeignKey(
        "agencies.SourceRecord", on_delete=models.CASCADE, related_name="seals"
    )

    class Meta:
        # The record's foreign key is indexed: reads look a record up by it.
        constraints = [
            models.UniqueConstraint(fields=["rule", "record"], name="sealedrecord_unique")
        ]

    def __str__(self) -> str:
        return f"record {self.record_id} sealed by rule {self.rule_id}"
