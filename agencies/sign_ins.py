"""Sign-ins and failed sign-ins go to the audit trail, under the agencies the account acts for,
so each agency's IG officer sees its own staff's sign-ins on /audit/. Connected here, where
memberships live, since the trail itself imports no app (AgenciesConfig.ready).

A member of staff picks the agency they act for after signing in (agencies.access), so a
sign-in is not yet for one agency: it is written once per agency the account can act in, each
entry under that membership's agency and role. A failed attempt on a known account is written
the same way, naming the account by its user number only (detail "account"), never the actor:
whoever typed the password may not be its holder. A failed attempt on an unknown name records
no agency and nothing of what was typed: it may be someone's mistyped email or password.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from agencies.access import usable_memberships
from audit.models import AuditAction
from audit.services import audit_record


@receiver(user_logged_in)
def _signed_in(sender, request, user, **kwargs):
    memberships = usable_memberships(user)
    for membership in memberships:
        audit_record(action=AuditAction.LOGIN, actor=user, membership=membership, channel="web")
    if not memberships:
        audit_record(action=AuditAction.LOGIN, actor=user, channel="web")


@receiver(user_login_failed)
def _sign_in_failed(sender, credentials, request=None, **kwargs):
    account = _known_account(credentials)
    memberships = usable_memberships(account) if account is not None else []
    for membership in memberships:
        audit_record(
            action=AuditAction.LOGIN_FAILED,
            membership=membership,
            channel="web",
            detail={"account": account.pk},
            outcome="refused",
        )
    if not memberships:
        audit_record(action=AuditAction.LOGIN_FAILED, channel="web", outcome="refused")


def _known_account(credentials):
    """The account a failed attempt named, if any; the name itself goes nowhere."""
    User = get_user_model()
    name = (credentials or {}).get(User.USERNAME_FIELD) or (credentials or {}).get("username")
    if not isinstance(name, str) or not name.strip():
        return None
    return User.objects.filter(email__iexact=name.strip()).first()
