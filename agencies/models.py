import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import IntegrityError, models, transaction
from django.db.models import Q

from agencies.periods import period_in_words


class AgencyKind(models.TextChoices):
    CHILDRENS_SOCIAL_CARE = "childrens_social_care", "Children's social care"
    POLICE = "police", "Police"
    HEALTH = "health", "Health"
    EDUCATION = "education", "Education"
    HOUSING = "housing", "Housing"
    PROBATION = "probation", "Probation"
    OTHER = "other", "Other"


class Agency(models.Model):
    """A partner organisation of the safeguarding partnership, bringing its records to ShareHub."""

    name = models.CharField(max_length=200, unique=True)
    code = models.CharField(
        max_length=20,
        unique=True,
        validators=[
            RegexValidator(
                r"^[A-Z][A-Z0-9_-]{1,19}$",
                "Use 2 to 20 capital letters, digits, hyphens or underscores, "
                "starting with a letter.",
            )
        ],
        help_text="Short code for the API, the command line and exports, e.g. CSC or POL.",
    )
    kind = models.CharField(max_length=32, choices=AgencyKind.choices)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "agencies"

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    PRACTITIONER = "practitioner", "Safeguarding practitioner"
    IG_OFFICER = "ig_officer", "IG officer"
    AGENCY_ADMIN = "agency_admin", "Agency admin"
    ANALYST = "analyst", "Analyst"
    PLATFORM_ADMIN = "platform_admin", "Platform admin"


class Membership(models.Model):
    """A user's role in one agency. A person may hold several, and chooses which one they act in.

    Platform admins run the partnership's platform rather than act for one agency, so theirs is the
    only role that may be held without an agency.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="memberships", null=True, blank=True
    )
    role = models.CharField(max_length=32, choices=Role.choices)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["agency__name", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "agency", "role"], name="membership_unique_role_in_agency"
            ),
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(agency__isnull=True),
                name="membership_one_platform_role_per_user",
            ),
            models.CheckConstraint(
                condition=Q(agency__isnull=False) | Q(role="platform_admin"),
                name="membership_agency_required_unless_platform_admin",
            ),
        ]

    def __str__(self) -> str:
        where = self.agency.name if self.agency else "the partnership"
        return f"{self.get_role_display()}, {where}"

    # For the pages of roles held in an agency, which is every role but platform admin (the check
    # constraint above): they read the agency here, as one that is there.
    @property
    def own_agency(self) -> Agency:
        if self.agency is None:
            raise ValueError(f"{self} holds no agency.")
        return self.agency

    @property
    def own_agency_id(self) -> int:
        if self.agency_id is None:
            raise ValueError(f"{self} holds no agency.")
        return self.agency_id


# Six years: the period most partner agencies' own schedules give for safeguarding records
# once they stop being current; each agency sets its own per dataset.
DEFAULT_RETENTION_DAYS = 6 * 365
MAX_RETENTION_DAYS = 100 * 365


class Dataset(models.Model):
    """A kind of extract an agency sends, e.g. "Police - domestic abuse incidents"."""

    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="datasets")
    name = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Counted from a record's updated_at: the last extract that sent it (or retired it). A record
    # the agency goes on sending never expires; one it stopped sending goes this long after.
    retention_days = models.PositiveIntegerField(
        default=DEFAULT_RETENTION_DAYS,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RETENTION_DAYS)],
        help_text="Days a record is kept after the last extract that included it.",
    )
    # Set when the agency withdrew the whole dataset: its records are erased and no extract is
    # taken for it again (retention.services).
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["agency__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["agency", "name"], name="dataset_unique_name")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def retention_in_words(self) -> str:
        return period_in_words(self.retention_days)

    @property
    def current_version(self) -> "DatasetVersion | None":
        return self.versions.order_by("-number").first()


class DatasetVersion(models.Model):
    """One immutable mapping of a dataset's columns; every change makes a new version.

    `columns` is the validated list of sharehub_bridge.definitions; an extract records the version
    it was read with, so old extracts stay explainable after the mapping changes.
    """

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    # Empty when the file has no record id column (ids derived from identifiers; full refresh only).
    source_id_column = models.CharField(max_length=200, blank=True)
    event_date_column = models.CharField(max_length=200, blank=True)
    columns = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="datasetversion_unique")
        ]

    def __str__(self) -> str:
        return f"{self.dataset} v{self.number}"


class ExtractMode(models.TextChoices):
    FULL = "full", "Full refresh"
    INCREMENTAL = "incremental", "Incremental"


class ExtractStatus(models.TextChoices):
    RECEIVED = "received", "Waiting to be processed"
    PROCESSING = "processing", "Processing"
    LOADED = "loaded", "Loaded"
    REJECTED = "rejected", "Rejected"
    DUPLICATE = "duplicate", "Already loaded"
    FAILED = "failed", "Failed"
    WITHDRAWN = "withdrawn", "Withdrawn"


# Statuses after which nothing more will happen to an extract.
EXTRACT_FINAL_STATUSES = {
    ExtractStatus.LOADED,
    ExtractStatus.REJECTED,
    ExtractStatus.DUPLICATE,
    ExtractStatus.FAILED,
    ExtractStatus.WITHDRAWN,
}


class ExtractChannel(models.TextChoices):
    WEB = "web", "Web upload"
    API = "api", "API"
    COMMAND = "command", "Command line"
    BRIDGE = "bridge", "IG bridge"


class Extract(models.Model):
    """One uploaded file for a dataset, and what became of it."""

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="extracts")
    # 1, 2, 3 ... within the dataset, in upload order: what pages and messages call the extract
    # ("Extract 1" is the dataset's first, whatever other datasets have had). Given by save().
    number = models.PositiveIntegerField(editable=False)
    version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="+")
    mode = models.CharField(max_length=16, choices=ExtractMode.choices)
    channel = models.CharField(max_length=16, choices=ExtractChannel.choices)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    filename = models.CharField(max_length=255)
    size_bytes = models.BigIntegerField()
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the file as uploaded.")
    # Where the raw file waits in the private upload area; emptied once it is processed.
    stored_file = models.CharField(max_length=255, blank=True)
    status = models.CharField(
        max_length=16, choices=ExtractStatus.choices, default=ExtractStatus.RECEIVED
    )
    duplicate_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    message = models.TextField(blank=True, help_text="Why it was rejected or failed.")
    file_format = models.CharField(max_length=8, blank=True)
    bytes_processed = models.BigIntegerField(default=0)
    rows_read = models.PositiveIntegerField(default=0)
    rows_loaded = models.PositiveIntegerField(default=0)
    rows_warned = models.PositiveIntegerField(default=0)
    rows_quarantined = models.PositiveIntegerField(default=0)
    records_retired = models.PositiveIntegerField(default=0)
    # Identifier values repaired at loading, counted by kind, never the values themselves:
    # {"date_of_birth": {"swapped": 12, "ocr": 3}, "date_of_birth_order": "mdy"}.
    repairs = models.JSONField(default=dict, blank=True)
    # The data quality of the rows loaded, counted at loading (sharehub_bridge.validation.
    # IdentifierTally): {"rows": 2000, "identifiers": {"nhs_number": {"present": 1950,
    # "invalid": 12}, "address": {"present": 1990}}}. Counts only, never a value. Null for an
    # extract loaded before it was counted, which the data quality page shows as not measured.
    quality = models.JSONField(null=True, blank=True)
    # After the linkage that followed the extract: the dataset's current records, and how many
    # of them are linked to a current record of another agency (matching.linked_share). Null
    # until that linkage has finished, or for extracts linked before it was counted.
    records_after_linkage = models.PositiveIntegerField(null=True, blank=True)
    records_linked_elsewhere = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        constraints = [
            # The same file cannot be in flight twice at once (ingest recognises one already
            # loaded, which may still be sent again later, for instance to roll back).
            models.UniqueConstraint(
                fields=["dataset", "checksum"],
                condition=Q(status__in=["received", "processing"]),
                name="extract_unique_inflight_checksum",
            ),
            models.UniqueConstraint(
                fields=["dataset", "number"], name="extract_unique_number_in_dataset"
            ),
        ]

    def __str__(self) -> str:
        return f"extract {self.number} of {self.dataset}"

    def save(self, *args, **kwargs) -> None:
        if self._state.adding and self.number is None:
            self._save_numbered(*args, **kwargs)
        else:
            super().save(*args, **kwargs)

    def _save_numbered(self, *args, **kwargs) -> None:
        """Insert with the dataset's next number. Two uploads at the same moment may both read
        the same highest number: the unique constraint refuses the second, which takes the
        next one. No lock on the dataset, which a long merge may be holding."""
        for _ in range(NUMBERING_ATTEMPTS):
            highest = Extract.objects.filter(dataset_id=self.dataset_id).aggregate(
                highest=models.Max("number")
            )["highest"]
            self.number = (highest or 0) + 1
            try:
                with transaction.atomic():
                    super().save(*args, **kwargs)
                return
            except IntegrityError as error:
                if not _number_taken(error):
                    raise
        raise IntegrityError(f"no free extract number after {NUMBERING_ATTEMPTS} attempts")

    @property
    def is_finished(self) -> bool:
        return self.status in EXTRACT_FINAL_STATUSES

    @property
    def progress_percent(self) -> int:
        if self.is_finished:
            return 100
        if not self.size_bytes:
            return 0
        return min(99, int(100 * self.bytes_processed / self.size_bytes))

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


NUMBERING_ATTEMPTS = 20


def _number_taken(error: IntegrityError) -> bool:
    # PostgreSQL names the constraint; SQLite names the columns.
    text = str(error)
    return "extract_unique_number_in_dataset" in text or "agencies_extract.number" in text


class SourceRecord(models.Model):
    """One record of an agency dataset as last loaded: a pseudonym row, never a plaintext identity.

    `identity` holds the normalised identifiers sealed under the agency's data key (see
    matching.pseudonymise); `payload` holds the sensitive fields, which carry no identifiers.
    """

    # Indexes cost on every row of every merge: the unique (dataset, source_id) already serves
    # lookups by dataset, and nothing looks records up by the extract that wrote them.
    dataset = models.ForeignKey(
        Dataset, on_delete=models.PROTECT, related_name="records", db_index=False
    )
    source_id = models.CharField(max_length=200)
    identity = models.BinaryField()
    payload = models.JSONField(default=dict)
    event_date = models.DateField(null=True, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    first_extract = models.ForeignKey(
        Extract, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    last_extract = models.ForeignKey(
        Extract, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    is_retired = models.BooleanField(default=False)
    retired_by = models.ForeignKey(
        Extract, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "source_id"], name="sourcerecord_unique_source_id"
            )
        ]
        indexes = [models.Index(fields=["dataset", "is_retired"])]

    def __str__(self) -> str:
        return f"record {self.source_id} of {self.dataset}"


class StagedRow(models.Model):
    """A validated row of an extract still being processed; merged into SourceRecord at the end.

    Nothing reads staged rows but the merge, so an extract becomes visible all at once.
    """

    # Served by the unique (extract, row_number) index; a second one would slow every COPY.
    extract = models.ForeignKey(Extract, on_delete=models.CASCADE, related_name="+", db_index=False)
    row_number = models.PositiveIntegerField()
    source_id = models.CharField(max_length=200)
    identity = models.BinaryField()
    payload = models.JSONField(default=dict)
    event_date = models.DateField(null=True, blank=True)
    warnings = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["extract", "row_number"], name="stagedrow_unique_row"),
            models.UniqueConstraint(fields=["extract", "source_id"], name="stagedrow_unique_id"),
        ]

    def __str__(self) -> str:
        return f"row {self.row_number} of extract {self.extract_id}"


class QuarantinedRow(models.Model):
    """A row that could not load, and why; the row itself is sealed, as it holds identifiers."""

    extract = models.ForeignKey(Extract, on_delete=models.CASCADE, related_name="quarantine")
    row_number = models.PositiveIntegerField()
    # The row's record id when it has one: a full refresh must not retire a record whose row
    # was in the file but set aside.
    source_id = models.CharField(max_length=200, blank=True)
    reasons = models.JSONField()
    # Empty for a row the IG bridge kept back at the agency: only its reasons travelled.
    sealed_row = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["extract", "row_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["extract", "row_number"], name="quarantinedrow_unique_row"
            )
        ]

    def __str__(self) -> str:
        return f"rejected row {self.row_number} of extract {self.extract_id}"


class SealedUploadStatus(models.TextChoices):
    OPEN = "open", "Receiving chunks"
    COMPLETE = "complete", "Complete"
    EXPIRED = "expired", "Expired"


class SealedUpload(models.Model):
    """A sealed extract the IG bridge is sending in chunks (bridge/PROTOCOL.md).

    The chunks are written into one file in the private upload area; completing the upload turns
    it into an Extract of the bridge channel. The file holds identities only sealed to the ingest
    key, which the web tier does not need, so an open upload is no readable identity.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="sealed_uploads")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    mode = models.CharField(max_length=16, choices=ExtractMode.choices)
    filename = models.CharField(max_length=255)
    file_sha256 = models.CharField(
        max_length=64, help_text="SHA-256 of the agency's original file, to find duplicates."
    )
    definition_version = models.PositiveIntegerField()
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the sealed file.")
    chunk_bytes = models.PositiveIntegerField()
    received = models.JSONField(default=list, blank=True)  # chunk indices held, ascending
    stored_file = models.CharField(max_length=255)
    status = models.CharField(
        max_length=16, choices=SealedUploadStatus.choices, default=SealedUploadStatus.OPEN
    )
    extract = models.ForeignKey(
        Extract, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self) -> str:
        return f"sealed upload {self.pk} of {self.dataset}"

    @property
    def chunk_count(self) -> int:
        return max(1, -(-self.size_bytes // self.chunk_bytes))


class ApiToken(models.Model):
    """A secret that lets one agency's systems use the API, and nothing of any other agency.

    Only a SHA-256 of the token is stored; the token is shown once, when it is made.
    """

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What uses it, e.g. 'nightly CAD export'.")
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"
