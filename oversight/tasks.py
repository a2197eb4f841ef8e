"""Periodic oversight work for beat: thin and idempotent (oversight.flags does it)."""

from celery import shared_task

from oversight.flags import unusual_reads_tell


@shared_task(acks_late=True, ignore_result=True)
def unusual_reads_notify() -> None:
    """Tell each agency's IG officers of unusual reads of its records; each flag once."""
    unusual_reads_tell()
