"""Periodic audit work for beat: thin and idempotent (audit.anchors does it)."""

from celery import shared_task

from audit.anchors import audit_anchor


@shared_task(acks_late=True, ignore_result=True)
def anchor() -> None:
    """Anchor the trail's head outside the database; does nothing if it is anchored already."""
    audit_anchor()
