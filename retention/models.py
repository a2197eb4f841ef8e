"""Erasures: a night's retention run, or an agency withdrawing an extract or a whole dataset.

A run holds counts of what it removed, per kind of row, and never anything the rows held: the
point of an erasure is that nothing of the records remains, and its own log must not keep it.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class ErasureKind(models.TextChoices):
    RETENTION = "retention", "Retention period passed"
    EXTRACT = "extract", "Extract withdrawn"
    DATASET = "dataset", "Dataset withdrawn"


class ErasureStatus(models.TextChoices):
    QUEUED = "queued", "Waiting to start"
    RUNNING = "running", "Erasing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ErasureStage(models.TextChoices):
    """The steps of a run in order; the page's progress bar moves through them."""

    QUEUED = "queued", "Waiting to start"
    RETIRING = "retiring", "Taking the records out of use"
    RELINKING = "relinking", "Re-linking the people they belonged to"
    REMOVING = "removing", "Removing the records and everything made from them"
    RESCORING = "rescoring", "Scoring the people affected again"
    DONE = "done", "Done"


class ErasureRun(models.Model):
    kind = models.CharField(max_length=16, choices=ErasureKind.choices)
    status = models.CharField(
        max_length=16, choices=ErasureStatus.choices, default=ErasureStatus.QUEUED
    )
    stage = models.CharField(
        max_length=16, choices=ErasureStage.choices, default=ErasureStage.QUEUED
    )
    # A withdrawal's agency, dataset and extract; a retention run covers every dataset.
    agency = models.ForeignKey(
        "agencies.Agency", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    dataset = models.ForeignKey(
        "agencies.Dataset", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    extract = models.ForeignKey(
        "agencies.Extract", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # {what: how many}: records, linkage keys, findings, alerts... and how far removal has got.
    # Counted across attempts: a run finished on a second attempt reports the first's removals.
    figures = models.JSONField(default=dict, blank=True)
    # {agency id: records erased}, so that each agency sees its own share of a nightly run.
    records_by_agency = models.JSONField(default=dict, blank=True)
    # Internal ids of the people the records belonged to, kept while the run is unfinished so
    # that a second attempt still erases what is left of them; emptied when it is done.
    persons_to_check = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True, help_text="Why it failed; never any record's content.")

    class Meta:
        ordering = ["-requested_at", "-pk"]
        constraints = [
            # One withdrawal of a dataset at a time: two would race to remove the same rows.
            models.UniqueConstraint(
                fields=["dataset"],
                condition=Q(status__in=["queued", "running"]),
                name="erasurerun_one_inflight_per_dataset",
            )
        ]

    def __str__(self) -> str:
        return f"erasure {self.pk} ({self.kind})"

    @property
    def is_finished(self) -> bool:
        return self.status in (ErasureStatus.DONE, ErasureStatus.FAILED)

    @property
    def progress_percent(self) -> int:
        if self.is_finished:
            return 100
        batches = self.figures.get("batches") or 0
        removed = self.figures.get("batches_done") or 0
        percent_at_stage: dict[str, int] = {
            ErasureStage.QUEUED: 0,
            ErasureStage.RETIRING: 5,
            ErasureStage.RELINKING: 15,
            # Removal is most of the work on a large dataset: 30% to 85% as batches go.
            ErasureStage.REMOVING: 30 + (55 * removed // batches if batches else 0),
            ErasureStage.RESCORING: 85,
        }
        return percent_at_stage.get(self.stage, 99)
