"""The audit trail: every access and every change that matters, append-only and hash-chained.

Each entry carries the hash of the one before it, so changing or removing any entry breaks
every link after it (audit.services.audit_verify finds the first). On PostgreSQL a trigger
refuses UPDATE and DELETE on the table (migration 0001), so the application cannot rewrite
history even through a bug; only the database owner, outside ShareHub, could, and the chain
would show it.

An entry names the person by their ShareHub reference and never holds personal data: what was
shown is recorded as field keys and record ids, a search as the kinds of terms given.
"""

from django.conf import settings
from django.db import models

GENESIS = "0" * 64
UNKEYED = 0


class AuditAction(models.TextChoices):
    SEARCH = "search", "Search"
    SUMMARY = "summary", "Case summary"
    UNLOCK = "unlock", "Assessment step recorded"
    OVERRIDE = "override", "Safeguarding override"
    CONSENT = "consent", "Consent read or recorded"
    CONSENT_REQUEST = "consent_request", "Consent request"
    RISK = "risk", "Risk score and reasons"
    ALERT = "alert", "Alert"
    DRILLDOWN = "drilldown", "Dashboard drill-down"
    EXPORT = "export", "Export"
    PROTOCOL = "protocol", "Protocol change"
    REVIEW = "review", "Link review decision"
    UPLOAD = "upload", "Extract uploaded"
    LOGIN = "login", "Signed in"
    LOGIN_FAILED = "login_failed", "Sign-in failed"
    SUBJECT_ACCESS = "subject_access", "Subject access report"
    RETENTION = "retention", "Retention period changed"
    WITHDRAWAL = "withdrawal", "Withdrawal requested"
    ERASURE = "erasure", "Records erased"
    RELINK = "relink", "Re-link of everything requested"
    REVIEW_READ = "review_read", "Link review item read"
    RELEASE = "release", "Subject access part released"
    GRANT = "grant", "Protocol given or taken back"
    LINK_REPORT = "link_report", "Wrong or missed link reported"
    PROTOCOL_PREVIEW = "protocol_preview", "Protocol previewed as a holder"
    READ_QUESTION = "read_question", "Reading explained: asked or answered"


# The reads of person data a user makes, each written by audit.services.access_log_write: who
# read which person, under which protocol versions, which fields (the one log of reads; until
# issue 24 also copied into a protocols.AccessLog table).
READ_ACTIONS = (
    AuditAction.SEARCH,
    AuditAction.SUMMARY,
    AuditAction.UNLOCK,
    AuditAction.OVERRIDE,
    AuditAction.CONSENT,
    AuditAction.CONSENT_REQUEST,
    AuditAction.RISK,
    AuditAction.ALERT,
    AuditAction.DRILLDOWN,
)


class AuditEntryQuerySet(models.QuerySet):
    def reads(self) -> "AuditEntryQuerySet":
        """The entries access_log_write wrote: a read action with the read's detail (the
        fields shown, the kinds of search terms, the references listed). An override carried
        over to a new protocol version (consent.carry_over) is an "override" entry too, but a
        change made by an IG officer, not a read, and its detail has no "query_kinds"."""
        return self.filter(action__in=READ_ACTIONS, detail__has_key="query_kinds")


class AuditEntry(models.Model):
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    agency_id = models.IntegerField(null=True, blank=True)
    role = models.CharField(max_length=32, blank=True)
    action = models.CharField(max_length=20, choices=AuditAction.choices)
    channel = models.CharField(max_length=10, blank=True)
    purpose = models.CharField(max_length=32, blank=True)
    # A reference, not a key: a person's records may be erased, their audit trail may not.
    person_reference = models.CharField(max_length=12, blank=True, db_index=True)
    protocol_versions = models.JSONField(default=list, blank=True)
    # What was done, shown or changed, as ids, field keys and counts; never personal data.
    detail = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=16, default="ok")
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)
    # The audit key version the hash is an HMAC under (core.keys.audit_keys); 0 for entries
    # written before keys, whose hash is plain SHA-256 and which the first keyed entry covers.
    hash_key_version = models.PositiveIntegerField(default=UNKEYED)
    # Position in the chain from 1, so an anchor's count can be checked; null before keys.
    seq = models.PositiveBigIntegerField(null=True, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]
        indexes = [
            models.Index(fields=["actor", "at"]),
            models.Index(fields=["action", "at"]),
            models.Index(fields=["at"]),
        ]

    def __str__(self) -> str:
        return f"audit entry {self.pk} ({self.action})"


class RecordRead(models.Model):
    """Which agency's records an audit entry shows, so each agency's IG officer can see who read
    its records, whoever they act for (each agency answers for its own records).

    Derived from the entry when it is written (its detail names record ids and datasets); the
    entry stays the record of what happened. Field keys and references only, as in the entry.
    """

    entry = models.ForeignKey(AuditEntry, on_delete=models.PROTECT, related_name="record_reads")
    agency_id = models.IntegerField()  # the owner of the records read
    at = models.DateTimeField()
    persons = models.JSONField(default=list)  # references of the persons whose records these are
    fields = models.JSONField(default=list)  # field keys shown from the agency's records
    records = models.PositiveIntegerField(default=0)
    # Only that the agency knows the person ("known to"), no field of its records.
    known_to_only = models.BooleanField(default=False)
    # Ids of the agency's datasets read (or, for an assessment step or an override, opened),
    # so the page can name them; empty on reads written before issue 22.
    datasets = models.JSONField(default=list)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["agency_id", "at"])]

    def __str__(self) -> str:
        return f"read of agency {self.agency_id}'s records in audit entry {self.entry_id}"


class ReadFlag(models.Model):
    """Unusual reading of an agency's records: one row per kind, reader, person and day, stored
    when the reads page or the periodic run first finds it, told to its IG officers once."""

    agency_id = models.IntegerField()  # the owner of the records read
    kind = models.CharField(max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    person_reference = models.CharField(max_length=12, blank=True)
    day = models.DateField()
    detail = models.CharField(max_length=300)
    at = models.DateTimeField()
    # The agency the reader acted for, whose IG officers can be asked to explain the reading;
    # null on flags told before issue 22.
    reader_agency_id = models.IntegerField(null=True, blank=True)
    # When the agency's IG officers were notified of it (oversight.flags.unusual_reads_tell). The
    # reads page stores each flag it computes, so an officer can ask about it at once; telling
    # stays the beat task's, claimed through this column so each flag is told once.
    told_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["agency_id", "kind", "actor", "person_reference", "day"],
                name="readflag_once",
            )
        ]
        indexes = [models.Index(fields=["agency_id", "at"])]

    def __str__(self) -> str:
        return f"{self.kind} flag for agency {self.agency_id} on {self.day}"


MIN_QUESTION = 20
MAX_QUESTION = 2000


class ReadQuestion(models.Model):
    """An owner agency's IG officer asking the reader's agency to explain a flagged read, and
    its answer: one thread, seen by the IG officers of both agencies and nobody else.

    Free text, screened for identifiers before it is kept (oversight.questions); the person is
    named by reference only, as in the flag.
    """

    flag = models.ForeignKey(ReadFlag, on_delete=models.PROTECT, related_name="questions")
    owner_agency_id = models.IntegerField()  # asks: whose records were read
    reader_agency_id = models.IntegerField()  # answers: whom the reader acted for
    asked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    asked_at = models.DateTimeField()
    question = models.TextField()
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    answer = models.TextField(blank=True)

    class Meta:
        ordering = ["-asked_at", "-pk"]
        indexes = [
            models.Index(fields=["owner_agency_id", "asked_at"]),
            models.Index(fields=["reader_agency_id", "asked_at"]),
        ]

    def __str__(self) -> str:
        return f"question {self.pk} about read flag {self.flag_id}"
