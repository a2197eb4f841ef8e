"""Periodic protocol work for beat: thin and idempotent (protocols.approvals does it)."""

from celery import shared_task

from protocols.approvals import approval_reminders_send


@shared_task(acks_late=True, ignore_result=True)
def approval_reminders() -> None:
    """Remind officers of versions still waiting for their agency's approval; each agency at
    most once per PROTOCOL_APPROVAL_REMINDER_DAYS, however often beat runs this."""
    approval_reminders_send()
