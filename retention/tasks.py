"""Erasure work for the Celery workers: thin and idempotent (retention.services does the work,
and a run delivered twice removes nothing more the second time)."""

from celery import shared_task

from retention.models import ErasureRun, ErasureStatus
from retention.services import erasure_perform, retention_run_start


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def erase_withdrawn(*, erasure_id: int) -> None:
    """An agency admin withdrew an extract or a dataset."""
    erasure_perform(erasure_id=erasure_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def erase_nightly() -> None:
    """Periodic (beat): finish every erasure that did not (the broker down when a withdrawal
    was asked for, a worker lost part way, a failure), then remove every record past its
    dataset's retention period. A run that fails again is marked so and the rest go on."""
    unfinished = ErasureRun.objects.exclude(status=ErasureStatus.DONE).order_by("pk")
    for erasure_id in unfinished.values_list("pk", flat=True):
        erasure_perform(erasure_id=erasure_id)
    erasure_perform(erasure_id=retention_run_start().pk)
