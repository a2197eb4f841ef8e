"""Sign-ins and failed sign-ins go to the audit trail. A failed attempt records no username:
it may be someone's mistyped password."""

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from audit.models import AuditAction
from audit.services import audit_record


@receiver(user_logged_in)
def _signed_in(sender, request, user, **kwargs):
    audit_record(action=AuditAction.LOGIN, actor=user, channel="web")


@receiver(user_login_failed)
def _sign_in_failed(sender, credentials, request=None, **kwargs):
    audit_record(action=AuditAction.LOGIN_FAILED, channel="web", outcome="refused")
