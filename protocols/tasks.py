"""Protocol work for the worker, thin and idempotent: approval reminders for beat
(protocols.approvals does it) and re-marking sealed records after a seal rule changed
(protocols.seals does it)."""

from celery import shared_task

from agencies.models import Dataset
from protocols.approvals import approval_reminders_send
from protocols.seals import seals_mark, seals_rescore_later


@shared_task(acks_late=True, ignore_result=True)
def approval_reminders() -> None:
    """Remind officers of versions still waiting for their agency's approval; each agency at
    most once per PROTOCOL_APPROVAL_REMINDER_DAYS, however often beat runs this."""
    approval_reminders_send()


@shared_task(acks_late=True, ignore_result=True)
def seals_remark(*, dataset_id: int) -> None:
    """Re-mark a dataset's sealed records after its seal rules changed, then have everyone
    scored again without them. Idempotent: marking twice leaves the same rows, scoring twice
    the same scores; a dataset since deleted is left alone."""
    if Dataset.objects.filter(pk=dataset_id).exists():
        seals_mark(dataset_id=dataset_id)
        seals_rescore_later()
