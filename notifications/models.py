"""Messages to a user inside ShareHub, each also sent by email.

A notification says what happened and links to where to act; it never carries personal data
beyond a person's ShareHub reference, which means nothing outside ShareHub. The email says even
less: that there is something to see, and the link.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class NotificationKind(models.TextChoices):
    CONSENT_REQUESTED = "consent_requested", "Consent request"
    CONSENT_ANSWERED = "consent_answered", "Consent request answered"
    CONSENT_RECORDED = "consent_recorded", "Consent recorded about your records"
    OVERRIDE_TO_REVIEW = "override_to_review", "Safeguarding override to review"
    OVERRIDE_ENDED = "override_ended", "Safeguarding override ended"
    OVERRIDE_REVIEWED = "override_reviewed", "Safeguarding override reviewed"
    ALERT_RAISED = "alert_raised", "New alerts"
    ALERT_ASSIGNED = "alert_assigned", "Alert assigned to you"
    RELEASE_REQUESTED = "release_requested", "Subject access: your agency's part to review"
    RELEASE_DONE = "release_done", "Subject access: another agency released its part"
    CONSENT_TO_CONFIRM = "consent_to_confirm", "Consent recorded by another agency to confirm"
    UNUSUAL_READ = "unusual_read", "Unusual reading of your agency's records"
    LINK_REPORT_DECIDED = "link_report_decided", "Link you reported decided"
    APPROVAL_REQUESTED = "approval_requested", "Protocol version to approve"
    APPROVAL_REMINDER = "approval_reminder", "Reminder: protocol version still to approve"
    VERSION_DECIDED = "version_decided", "Protocol version you wrote: decided"
    PROTOCOL_SUSPENDED = "protocol_suspended", "Protocol suspended"
    PROTOCOL_RESUMED = "protocol_resumed", "Protocol resumed"
    READ_QUESTION = "read_question", "Another agency asks about your staff's reading"
    READ_ANSWERED = "read_answered", "Reading of your agency's records explained"


class Notification(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    # Names of staff and agencies can be long; never cut a message short.
    message = models.TextField()
    # A path inside ShareHub, never a full address: where the recipient acts on it.
    link = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    # Set by the email task when the email went, so a redelivered task sends nothing twice.
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["recipient", "read_at"])]

    def __str__(self) -> str:
        return f"notification {self.pk} to user {self.recipient_id}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None
