"""What the dashboards read: figures computed after each scoring run, never at page load.

At a million records, counting people by the set of agencies that know them takes seconds; a
dashboard must answer in well under one. So insights.services.insights_refresh writes a
profile row per person (which agencies know them, their risk band) for drill-downs, and one
snapshot of every chart's figures, already suppressed, for the page.
"""

from django.conf import settings
from django.db import models


class PersonProfile(models.Model):
    """One person as the dashboards count them: the agencies that know them, as bits of
    `agency_mask` (positions in the snapshot's agency list), and their risk band."""

    person = models.OneToOneField(
        "matching.Person", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    agency_mask = models.BigIntegerField()
    agencies = models.PositiveSmallIntegerField()
    household = models.ForeignKey(
        "matching.Household", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    band = models.CharField(max_length=16, blank=True)

    class Meta:
        indexes = [models.Index(fields=["agency_mask"]), models.Index(fields=["band"])]

    def __str__(self) -> str:
        return f"profile of person {self.person_id}"


class InsightSnapshot(models.Model):
    """Every dashboard figure at one moment, suppressed for publication. The newest is shown."""

    computed_at = models.DateTimeField(auto_now_add=True)
    computed_for = models.DateField()
    figures = models.JSONField()
    seconds = models.FloatField(default=0)

    class Meta:
        get_latest_by = "pk"

    def __str__(self) -> str:
        return f"insights of {self.computed_for}"


class Evaluation(models.Model):
    """An outcome evaluation the analysts set up: for the people with a cohort event in a
    period, how often an outcome happened in the months before their first such event and in
    the months after."""

    name = models.CharField(max_length=120, unique=True)
    cohort_dataset = models.ForeignKey(
        "agencies.Dataset", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cohort_indicator = models.ForeignKey(
        "risk.RiskIndicator", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    period_start = models.DateField()
    period_end = models.DateField()
    outcome_dataset = models.ForeignKey(
        "agencies.Dataset", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    outcome_indicator = models.ForeignKey(
        "risk.RiskIndicator", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    months = models.PositiveSmallIntegerField(default=6)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DeidentifiedExport(models.Model):
    """That a de-identified linked dataset left ShareHub: who, why, what, how many. The key
    that made its pseudonyms is never stored, so no two exports can be joined."""

    made_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    agency = models.ForeignKey(
        "agencies.Agency", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    made_at = models.DateTimeField(auto_now_add=True)
    purpose = models.CharField(max_length=32)
    purpose_statement = models.CharField(max_length=300)
    # [field key] chosen, and the protocol version ids that allowed what was written.
    fields = models.JSONField(default=list)
    versions = models.JSONField(default=list)
    age_bands = models.BooleanField(default=True)
    rows = models.PositiveIntegerField(default=0)
    persons = models.PositiveIntegerField(default=0)
    finished = models.BooleanField(default=False)

    class Meta:
        ordering = ["-made_at", "-pk"]

    def __str__(self) -> str:
        return f"de-identified export {self.pk}"
