"""Alert rules the partnership sets, who subscribes to them, and the alerts they raise.

An alert is keyed by its cause: (rule, person, cause key). For a rule on scores the cause is
the stretch of days over which the condition holds ("from:2026-12-01"): while it goes on
holding no second alert is raised, however many runs see it, and once it stops and later holds
again that is a new cause. For a new event the cause is the record ("record:123"). The unique
constraint makes a second alert for one cause impossible, not merely unlikely.
"""

from django.conf import settings
from django.db import models


class RuleKind(models.TextChoices):
    SCORE_ABOVE = "score_above", "Score above a threshold"
    SCORE_RISING = "score_rising", "Score rising quickly"
    NEW_EVENT_WHILE_OPEN = "new_event_open", "New event for a person open to another agency"
    STEP_DOWN = "step_down", "Possible step-down: score has fallen"


class AlertRule(models.Model):
    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=20, choices=RuleKind.choices)
    # Score above: score > threshold. Step-down: the score was at or above threshold
    # `window_days` ago and is now below `lower_threshold`.
    threshold = models.FloatField(null=True, blank=True)
    lower_threshold = models.FloatField(null=True, blank=True)
    # Rising: the score rose by at least `rise` over `window_days`.
    rise = models.FloatField(null=True, blank=True)
    window_days = models.PositiveIntegerField(null=True, blank=True)
    # New event: a finding of `indicator` dated in the last `new_within_days` days, for a person
    # with a record of `open_agency` (not the event's own agency) dated in the last
    # `open_within_days` days.
    indicator = models.ForeignKey(
        "risk.RiskIndicator", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    open_agency = models.ForeignKey(
        "agencies.Agency", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    open_within_days = models.PositiveIntegerField(null=True, blank=True)
    new_within_days = models.PositiveIntegerField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AlertSubscription(models.Model):
    """A practitioner, acting in one of their memberships, wants this rule's alerts."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="subscriptions")
    membership = models.ForeignKey(
        "agencies.Membership", on_delete=models.CASCADE, related_name="alert_subscriptions"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "membership"], name="alertsubscription_unique")
        ]

    def __str__(self) -> str:
        return f"{self.membership_id} subscribes to {self.rule_id}"


class AlertStatus(models.TextChoices):
    OPEN = "open", "New"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    CLOSED = "closed", "Closed"


class AlertOutcome(models.TextChoices):
    REFERRED = "referred", "Referred to MASH or children's services"
    ACTION_BY_AGENCY = "action_by_agency", "Action taken by my agency"
    ALREADY_KNOWN = "already_known", "Already known and being managed"
    STEPPED_DOWN = "stepped_down", "Stepped down to early help or universal services"
    NO_FURTHER_ACTION = "no_further_action", "No further action"
    NOT_ACCURATE = "not_accurate", "Not accurate: the indicator was wrong"


class Alert(models.Model):
    rule = models.ForeignKey(AlertRule, on_delete=models.PROTECT, related_name="alerts")
    person = models.ForeignKey("matching.Person", on_delete=models.CASCADE, related_name="+")
    cause_key = models.CharField(max_length=40)
    raised_on = models.DateField()
    raised_at = models.DateTimeField(auto_now_add=True)
    # Score rules: set on the first day the condition no longer held. A new event: raised on.
    condition_ended_on = models.DateField(null=True, blank=True)
    # The score when raised, and for a new event the record whose finding raised it.
    score = models.FloatField(null=True, blank=True)
    record = models.ForeignKey(
        "agencies.SourceRecord", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # The findings the alert stands on, for its reasons (shown through the disclosure engine), as
    # [indicator id, record id] pairs: a finding is one indicator on one record, and its own id
    # changes whenever findings are found again (every night), so the pair is what lasts.
    finding_keys = models.JSONField(default=list, blank=True)
    delivered = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    assigned_to = models.ForeignKey(
        "agencies.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=AlertOutcome.choices, blank=True)

    class Meta:
        ordering = ["-raised_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "person", "cause_key"], name="alert_one_per_cause"
            )
        ]
        indexes = [
            models.Index(fields=["rule", "condition_ended_on"]),
            models.Index(fields=["status", "raised_on"]),
        ]

    def __str__(self) -> str:
        return f"alert {self.pk} ({self.rule_id}, {self.cause_key})"


class AlertDelivery(models.Model):
    """The alert went to this practitioner: their protocols could see the person, and they
    subscribe to the rule. The inbox asks the disclosure engine again at every read."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    membership = models.ForeignKey(
        "agencies.Membership", on_delete=models.CASCADE, related_name="+"
    )
    delivered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["alert", "membership"], name="alertdelivery_unique")
        ]
        indexes = [models.Index(fields=["membership", "alert"])]

    def __str__(self) -> str:
        return f"alert {self.alert_id} to {self.membership_id}"


class AlertEvent(models.Model):
    """What happened to an alert, append-only: raised, acknowledged, assigned, closed."""

    class Kind(models.TextChoices):
        RAISED = "raised", "Raised"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        ASSIGNED = "assigned", "Assigned"
        CLOSED = "closed", "Closed"
        REOPENED = "reopened", "Reopened"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    by_membership = models.ForeignKey(
        "agencies.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    to = models.ForeignKey(
        "agencies.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    outcome = models.CharField(max_length=20, choices=AlertOutcome.choices, blank=True)
    note = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} on alert {self.alert_id}"
