"""Consent to share a person's records, requests to seek it, and safeguarding overrides.

The disclosure engine (protocols.engine) reads these: a rule that needs consent discloses only
while the latest decisive consent statement for the person, the protocol or purpose and the
owning agency says "given" and has not expired, or, for rules that yield to one, while the user
holds an override. Nothing here is ever edited to change what it says: a withdrawal is a new
statement, an override ends by its clock or by a recorded end, so the history is the table. An
override carried over to a new version of its protocol keeps each step in OverrideCarryOver.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.purpose import Purpose


class ConsentState(models.TextChoices):
    GIVEN = "given", "Given"
    REFUSED = "refused", "Refused"
    WITHDRAWN = "withdrawn", "Withdrawn"
    # Recorded so the history says consent was considered and not asked for (for example as
    # not appropriate to seek); it neither gives nor takes away consent given earlier.
    NOT_SOUGHT = "not_sought", "Not sought"


# The states that decide: the latest of these for a scope is the person's answer.
DECISIVE_STATES = (ConsentState.GIVEN, ConsentState.REFUSED, ConsentState.WITHDRAWN)


class ConsentMethod(models.TextChoices):
    VERBAL = "verbal", "Verbally"
    WRITTEN = "written", "In writing"


class ConsentGivenBy(models.TextChoices):
    PERSON = "person", "The person themselves"
    PARENT_OR_CARER = "parent_or_carer", "A parent or carer, for a child"
    GILLICK_COMPETENT_CHILD = "gillick_child", "The child, assessed as Gillick competent"


class ConsentRecord(models.Model):
    """One statement of a person's consent to share, as recorded at one time; never edited.

    Scope: one protocol (every version of it) or one purpose (every protocol serving it), and the
    agencies whose records it is about. For each agency the latest decisive statement (given,
    refused or withdrawn) whose scope covers a rule decides it; a given one counts until the day
    after its expiry.
    """

    person = models.ForeignKey(
        "matching.Person", on_delete=models.PROTECT, related_name="consent_records"
    )
    protocol = models.ForeignKey(
        "protocols.Protocol", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    purpose = models.CharField(max_length=32, choices=Purpose.choices, blank=True)
    agencies = models.ManyToManyField("agencies.Agency", related_name="+")
    state = models.CharField(max_length=20, choices=ConsentState.choices)
    method = models.CharField(max_length=20, choices=ConsentMethod.choices, blank=True)
    given_by = models.CharField(max_length=20, choices=ConsentGivenBy.choices, blank=True)
    # Where the agency keeps the evidence (a form's document number in its own system).
    evidence_reference = models.CharField(max_length=100, blank=True)
    expires_on = models.DateField(null=True, blank=True)
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_by_agency = models.ForeignKey(
        "agencies.Agency", on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)
    # The request this statement answers, when it does.
    request = models.ForeignKey(
        "ConsentRequest", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The statement this one changes (a withdrawal names the consent it withdraws).
    replaces = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-recorded_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(protocol__isnull=False) & Q(purpose=""))
                | (Q(protocol__isnull=True) & ~Q(purpose="")),
                name="consentrecord_one_scope",
            ),
        ]
        indexes = [models.Index(fields=["person", "recorded_at"])]

    def __str__(self) -> str:
        return f"consent {self.get_state_display().lower()} for person {self.person_id}"

    @property
    def scope_label(self) -> str:
        if self.protocol is not None:
            return f"Protocol {self.protocol.reference}"
        return Purpose(self.purpose).label

    @property
    def expired(self) -> bool:
        """For display: the engine decides with the same rule (protocols.engine.ConsentStanding)."""
        return self.expires_on is not None and timezone.localdate() > self.expires_on


class ConfirmationOutcome(models.TextChoices):
    CONFIRMED = "confirmed", "Confirmed"
    DECLINED = "declined", "Declined"


class ConsentConfirmation(models.Model):
    """The owning agency's answer to a consent statement another agency recorded about its
    records: under a protocol whose consent from others waits for the owner
    (protocols.models.ConsentFromOthers), a "given" statement opens the agency's records only
    once confirmed. One answer per statement and agency, never edited."""

    record = models.ForeignKey(
        ConsentRecord, on_delete=models.PROTECT, related_name="confirmations"
    )
    agency = models.ForeignKey("agencies.Agency", on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=20, choices=ConfirmationOutcome.choices)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["record", "agency"], name="consentconfirmation_once_per_agency"
            )
        ]

    def __str__(self) -> str:
        return f"{self.outcome} of consent {self.record_id} by agency {self.agency_id}"


class RequestStatus(models.TextChoices):
    OPEN = "open", "Waiting for an answer"
    CONSENT_GIVEN = "consent_given", "Consent obtained"
    REFUSED = "refused", "Consent refused"
    NOT_APPROPRIATE = "not_appropriate", "Not appropriate to seek consent"
    CANCELLED = "cancelled", "Cancelled by the requester"


ANSWERED_STATUSES = (
    RequestStatus.CONSENT_GIVEN,
    RequestStatus.REFUSED,
    RequestStatus.NOT_APPROPRIATE,
)


class ConsentRequest(models.Model):
    """A practitioner asking the agency that holds a record to seek the person's consent."""

    person = models.ForeignKey(
        "matching.Person", on_delete=models.PROTECT, related_name="consent_requests"
    )
    protocol = models.ForeignKey("protocols.Protocol", on_delete=models.PROTECT, related_name="+")
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    # Whose record it is: the agency asked.
    owner_agency = models.ForeignKey(
        "agencies.Agency", on_delete=models.PROTECT, related_name="consent_requests_received"
    )
    dataset = models.ForeignKey(
        "agencies.Dataset", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requester_agency = models.ForeignKey(
        "agencies.Agency", on_delete=models.PROTECT, related_name="consent_requests_sent"
    )
    reason = models.TextField()
    status = models.CharField(
        max_length=20, choices=RequestStatus.choices, default=RequestStatus.OPEN
    )
    created_at = models.DateTimeField(default=timezone.now)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    answer_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One open request per requester, person, agency asked and protocol: asking twice
            # would only send the owning agency two tasks for one question.
            models.UniqueConstraint(
                fields=["person", "requested_by", "owner_agency", "protocol"],
                condition=Q(status=RequestStatus.OPEN),
                name="consentrequest_one_open",
            ),
        ]
        indexes = [models.Index(fields=["owner_agency", "status"])]

    def __str__(self) -> str:
        return f"consent request {self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status == RequestStatus.OPEN


class OverrideCategory(models.TextChoices):
    SIGNIFICANT_HARM = "significant_harm", "Risk of significant harm to a child"
    ADULT_AT_RISK = "adult_at_risk", "Risk of serious harm to an adult"
    SEEKING_INCREASES_RISK = (
        "seeking_increases_risk",
        "Seeking consent would increase the risk (for example, alerting an alleged abuser)",
    )
    CRIME = "crime", "Seeking consent would prejudice the prevention or detection of crime"
    URGENT_NO_CONTACT = "urgent_no_contact", "Urgent, and the person cannot be reached"


class ReviewOutcome(models.TextChoices):
    AWAITING = "awaiting", "Awaiting IG review"
    JUSTIFIED = "justified", "Justified"
    NOT_JUSTIFIED = "not_justified", "Not justified"


class OverrideQuerySet(models.QuerySet):
    def active_at(self, moment):
        """In force at `moment`: begun, not expired and not ended. The one statement of it."""
        return self.filter(ended_at__isnull=True, started_at__lte=moment, expires_at__gt=moment)


class SafeguardingOverride(models.Model):
    """A practitioner seeing, without consent, what one protocol would show with it ("break
    glass"): for one person, for a limited time, with a written reason, reviewed by IG."""

    person = models.ForeignKey(
        "matching.Person", on_delete=models.PROTECT, related_name="safeguarding_overrides"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    agency = models.ForeignKey(
        "agencies.Agency", on_delete=models.PROTECT, related_name="safeguarding_overrides"
    )
    role = models.CharField(max_length=32)
    protocol = models.ForeignKey("protocols.Protocol", on_delete=models.PROTECT, related_name="+")
    # The version it is held under, whose limit on the duration applies: the one in force when
    # it began, or a later one it was carried over to when that was approved (carry_overs
    # keeps each step, so the version it was made under is never lost).
    version = models.ForeignKey(
        "protocols.ProtocolVersion", on_delete=models.PROTECT, related_name="+"
    )
    category = models.CharField(max_length=32, choices=OverrideCategory.choices)
    justification = models.TextField()
    hours = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    # Ended before its time, by the practitioner or by an IG officer finding it not justified.
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Set once by the periodic task when the clock ran out, so the end is announced once.
    expiry_noted_at = models.DateTimeField(null=True, blank=True)
    # The agencies whose withheld records it opened, and what: [{agency, dataset, fields}],
    # for the reviewer to judge the scope without seeing the data.
    agencies = models.ManyToManyField("agencies.Agency", related_name="+")
    opened = models.JSONField(default=list)
    # The datasets it opens: the engine lifts nothing else under it, so it never shows more
    # than the reviewer is shown it opened, even if the protocol later covers more. A carry-over
    # to a new version may narrow it, never widen it.
    dataset_ids = models.JSONField(default=list)
    review = models.CharField(
        max_length=20, choices=ReviewOutcome.choices, default=ReviewOutcome.AWAITING
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)

    objects = OverrideQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("started_at")),
                name="safeguardingoverride_expires_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "person", "expires_at"]),
            models.Index(fields=["review", "started_at"]),
        ]

    def __str__(self) -> str:
        return f"safeguarding override {self.pk}"

    def active_at(self, moment) -> bool:
        return self.ended_at is None and self.started_at <= moment < self.expires_at

    @property
    def is_active(self) -> bool:
        return self.active_at(timezone.now())

    @property
    def ends_at(self):
        """When access ended or will end: early if ended, else at expiry."""
        if self.ended_at is not None and self.ended_at < self.expires_at:
            return self.ended_at
        return self.expires_at


class CarryOverEnd(models.TextChoices):
    """Why an override in force ended when a new version of its protocol was approved."""

    NOT_FOR_HOLDER = (
        "not_for_holder",
        "The new version does not serve the override's agency and role for safeguarding",
    )
    NOTHING_LEFT = (
        "nothing_left",
        "Nothing the override opened gives way to a safeguarding override under the new version",
    )
    TIME_USED = (
        "time_used",
        "The new version allows shorter overrides, and this one had already lasted that long",
    )


class CarryOverDrop(models.TextChoices):
    """Why a dataset an override opened is not opened by it under the new version."""

    NO_YIELDING_RULE = (
        "no_yielding_rule",
        "The new version has no rule for these records that gives way to a safeguarding "
        "override, so they are withheld again",
    )
    NO_CONSENT_NEEDED = (
        "no_consent_needed",
        "The new version shares these records without consent: no override is needed for them",
    )
    WIDER_RULE = (
        "wider_rule",
        "The new version would show more of these records than the override was made and "
        "reviewed for; a new override, reviewed afresh, is needed to see them",
    )


class OverrideCarryOver(models.Model):
    """What became of an override in force when a new version of its protocol was approved:
    carried over to it (perhaps opening less, or ending sooner), or ended. Never edited; one
    per override and version, so approving twice, or repairing, changes nothing again."""

    override = models.ForeignKey(
        SafeguardingOverride, on_delete=models.PROTECT, related_name="carry_overs"
    )
    from_version = models.ForeignKey(
        "protocols.ProtocolVersion", on_delete=models.PROTECT, related_name="+"
    )
    to_version = models.ForeignKey(
        "protocols.ProtocolVersion", on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField()
    # Why it ended; empty when it was carried over.
    ended = models.CharField(max_length=20, choices=CarryOverEnd.choices, blank=True)
    expires_before = models.DateTimeField()
    # When it now expires; for one that ended, when it was to expire had it carried over.
    expires_after = models.DateTimeField()
    # The datasets it opens under the new version, and those it stopped opening:
    # [{"dataset": id, "name": dataset name, "agency": agency name, "reason": CarryOverDrop}].
    dataset_ids = models.JSONField(default=list)
    dropped = models.JSONField(default=list)
    # The IG officer whose approval put the new version in force; none when
    # `manage.py overrides_carry_over` repaired one left from before carry-overs.
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["override", "to_version"], name="overridecarryover_once_per_version"
            )
        ]

    def __str__(self) -> str:
        return f"carry-over of override {self.override_id} to version {self.to_version_id}"

    @property
    def carried(self) -> bool:
        return not self.ended

    @property
    def shortened(self) -> bool:
        return self.carried and self.expires_after < self.expires_before

    @property
    def dropped_reasons(self) -> list[tuple[str, str]]:
        """(what, why) for each dataset it no longer opens, as a person reads them."""
        return [
            (f"{item['agency']}, {item['name']}", CarryOverDrop(item["reason"]).label)
            for item in self.dropped
        ]
