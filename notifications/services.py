"""Telling users, in the app and by email, that something waits for them."""

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from notifications.models import Notification


def notify(*, recipients: Iterable, kind: str, message: str, link: str) -> list[Notification]:
    """One notification per recipient (each user once), emailed after the transaction commits.

    `message` must not hold personal data: a person is named by their ShareHub reference only.
    """
    seen: set[int] = set()
    rows = []
    for user in recipients:
        if user.pk in seen or not user.is_active:
            continue
        seen.add(user.pk)
        rows.append(Notification(recipient=user, kind=kind, message=message, link=link))
    created = Notification.objects.bulk_create(rows)
    if created:
        from notifications.tasks import notification_email

        # bulk_create sets primary keys on PostgreSQL and SQLite alike.
        ids = [n.pk for n in created]
        transaction.on_commit(
            lambda: [notification_email.delay(notification_id=pk) for pk in ids], robust=True
        )
    return created


def notices_settle(*, kind: str, link: str) -> int:
    """Mark as read every unread notification of `kind` pointing at `link`: once one person
    has answered a request or reviewed an override, the others' notices are no longer work."""
    return Notification.objects.filter(kind=kind, link=link, read_at__isnull=True).update(
        read_at=timezone.now()
    )


def unread_count(user) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()
