from celery import shared_task

from accounts.models import User
from accounts.services import password_reset_email_send


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_password_reset_email(*, user_id: int, domain: str, use_https: bool) -> bool:
    # A user deleted or deactivated since asking gets nothing; the task just ends.
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.has_usable_password():
        return False
    password_reset_email_send(user=user, domain=domain, use_https=use_https)
    return True
