import logging
import traceback

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from notifications.models import Notification

logger = logging.getLogger(__name__)


@shared_task(
    acks_late=True, ignore_result=True, autoretry_for=(OSError,), max_retries=5, retry_backoff=True
)
def notification_email(*, notification_id: int) -> None:
    """Email one notification, at most once: the row is claimed before sending, so a second
    delivery of the task (acks_late redelivers after a worker dies) sends nothing. If the mail
    server refuses, the claim is given back and the task retried.

    The email carries the kind of notification and a link, nothing about the person: email
    leaves the partnership's systems, and the detail waits behind the sign-in.
    """
    claimed_at = timezone.now()
    claimed = Notification.objects.filter(
        pk=notification_id, emailed_at__isnull=True, recipient__is_active=True
    ).update(emailed_at=claimed_at)
    if not claimed:
        return
    notification = Notification.objects.select_related("recipient").get(pk=notification_id)
    try:
        send_mail(
            subject=f"ShareHub: {notification.get_kind_display()}",
            message=(
                # The kind's label stands alone after the colon: it may begin "New" itself
                # ("New alerts"), which read "a new new alerts" inside a sentence.
                f"You have a notification in ShareHub: {notification.get_kind_display()}.\n\n"
                f"Sign in to see it: {settings.SHAREHUB_SITE_URL}{notification.link}\n"
            ),
            from_email=None,
            recipient_list=[notification.recipient.email],
        )
    except OSError as error:
        Notification.objects.filter(pk=notification_id, emailed_at=claimed_at).update(
            emailed_at=None
        )
        # The frames, not the message: a mail server's answer can quote the address.
        logger.warning(
            "notification %s: email not sent (%s)\n%s",
            notification_id,
            type(error).__name__,
            "".join(traceback.format_tb(error.__traceback__)),
        )
        raise
