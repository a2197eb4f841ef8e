"""Risk indicators the partnership agrees, what they found in each record, and the scores.

An indicator is either a rule on structured fields of one agency dataset ("Police - incidents:
incident type is Domestic abuse and role is Child present, in the last 90 days") or a
vocabulary of phrases matched in free-text fields, with negation read. Each carries a weight
and a half-life: a finding counts weight x 0.5^(age / half-life), so last month's incident
counts more than one three years ago.

A finding is one indicator matching one record. It depends only on the record and the
indicator, so it is kept per record and recomputed when either changes; which person the
record belongs to is read at scoring time from linkage, so a merge or split needs no new
findings. Scores are recomputed from findings after each extract and nightly (risk.tasks).
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class IndicatorKind(models.TextChoices):
    STRUCTURED = "structured", "Rule on structured fields"
    VOCABULARY = "vocabulary", "Phrases in free text"


class ConditionOp(models.TextChoices):
    """How a condition of a structured rule tests one field of a record."""

    IS = "is", "is"
    IN = "in", "is one of"
    YES = "yes", "is yes"
    NO = "no", "is no"
    AT_LEAST = "at_least", "is at least"
    AT_MOST = "at_most", "is at most"
    PRESENT = "present", "has a value"
    ABSENT = "absent", "is empty"


class RiskIndicator(models.Model):
    """One thing the partnership counts towards risk, with its weight. Edited in place: each
    change bumps `revision`, and findings made under an older revision are recomputed."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(
        blank=True, help_text="Why the partnership counts it, and where the weight came from."
    )
    kind = models.CharField(max_length=16, choices=IndicatorKind.choices)
    datasets = models.ManyToManyField("agencies.Dataset", related_name="risk_indicators")
    # Structured: [{"column": ..., "op": ConditionOp, "value": ...}], every one must hold.
    conditions = models.JSONField(default=list, blank=True)
    # Vocabulary: normalised phrases (risk.vocabulary), any one affirmed in a text field counts.
    phrases = models.JSONField(default=list, blank=True)
    # Vocabulary: which text columns to read; empty means every free-text column.
    text_columns = models.JSONField(default=list, blank=True)
    weight = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    # None: the finding keeps its full weight however old (a plan that is active is active).
    half_life_days = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)]
    )
    # None: any date. Otherwise only records whose event date is this recent count.
    lookback_days = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)]
    )
    is_active = models.BooleanField(default=True)
    revision = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RiskFinding(models.Model):
    """An indicator matched a record. Never the text: the phrase is the vocabulary's own."""

    indicator = models.ForeignKey(RiskIndicator, on_delete=models.CASCADE, related_name="findings")
    record = models.ForeignKey(
        "agencies.SourceRecord", on_delete=models.CASCADE, related_name="risk_findings"
    )
    revision = models.PositiveIntegerField()
    event_date = models.DateField(null=True, blank=True)
    # The field keys (protocols.fields) the indicator read: a reason is shown to a user only
    # when the disclosure engine shows them every one of these fields of this record.
    field_keys = models.JSONField(default=list)
    phrase = models.CharField(max_length=200, blank=True)
    found_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["indicator", "record"], name="riskfinding_unique")
        ]
        indexes = [models.Index(fields=["record"]), models.Index(fields=["found_at"])]

    def __str__(self) -> str:
        return f"{self.indicator_id} on record {self.record_id}"


class RiskRun(models.Model):
    """One recomputation: after an extract, nightly, or after an indicator changed."""

    class Kind(models.TextChoices):
        EXTRACT = "extract", "After an extract"
        NIGHTLY = "nightly", "Nightly"
        INDICATORS = "indicators", "After indicators changed"
        LINKAGE = "linkage", "After a linkage decision"
        ERASURE = "erasure", "After records were erased"
        SEALS = "seals", "After sealed records changed"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    extract = models.ForeignKey(
        "agencies.Extract", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    scored_on = models.DateField()
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Counts and seconds per stage; never anything a record holds.
    figures = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"risk run {self.pk} ({self.kind})"


class PersonRisk(models.Model):
    """A person's score on `scored_on`, from every finding of their records, and its trend."""

    person = models.OneToOneField(
        "matching.Person", on_delete=models.CASCADE, primary_key=True, related_name="risk"
    )
    household = models.ForeignKey(
        "matching.Household", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    score = models.FloatField()
    # The score RISING_WINDOW_DAYS before, from the same findings: the trajectory's slope.
    score_before = models.FloatField()
    findings = models.PositiveIntegerField()
    scored_on = models.DateField()

    class Meta:
        indexes = [models.Index(fields=["-score"])]

    def __str__(self) -> str:
        return f"risk of person {self.person_id}"

    @property
    def change(self) -> float:
        return self.score - self.score_before


class HouseholdRisk(models.Model):
    """The sum of the household's members' scores: risk to a child often sits with an adult."""

    household = models.OneToOneField(
        "matching.Household", on_delete=models.CASCADE, primary_key=True, related_name="risk"
    )
    score = models.FloatField()
    members_scored = models.PositiveIntegerField()
    scored_on = models.DateField()

    class Meta:
        indexes = [models.Index(fields=["-score"])]

    def __str__(self) -> str:
        return f"risk of household {self.household_id}"


class RiskDay(models.Model):
    """How many people were in each band on a day: the dashboard's trend, kept one row a day."""

    day = models.DateField(unique=True)
    bands = models.JSONField()  # {band key: people}
    people_scored = models.PositiveIntegerField()
    households_scored = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["day"]

    def __str__(self) -> str:
        return f"risk on {self.day}"
