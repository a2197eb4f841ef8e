from celery import shared_task

from agencies.models import Dataset
from protocols.seals import seals_mark


@shared_task(acks_late=True, ignore_result=True)
def seals_remark(*, dataset_id: int) -> None:
    """Re-mark a dataset's sealed records after its seal rules changed. Idempotent: marking
    twice leaves the same rows; a dataset since deleted is left alone."""
    if Dataset.objects.filter(pk=dataset_id).exists():
        seals_mark(dataset_id=dataset_id)
