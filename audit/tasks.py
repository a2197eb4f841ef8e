"""Periodic audit work for beat: thin and idempotent (audit.services does it)."""

from celery import shared_task

from audit.anchors import audit_anchor
from audit.reads import unusual_reads_tell


@shared_task(acks_late=True, ignore_result=True)
def anchor() -> None:
    """Anchor the trail's head outside the database; does nothing if it is anchored already."""
    audit_anchor()


@shared_task(acks_late=True, ignore_result=True)
def unusual_reads_notify() -> None:
    """Tell each agency's IG officers of unusual reads of its records; each flag once."""
    unusual_reads_tell()
