"""API tokens scoped to one agency: made, checked and revoked here only."""

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.ratelimits import count_one, limit_reached
from agencies.models import Agency, ApiToken, Membership, Role

TOKEN_PREFIX = "shk"  # noqa: S105 - marks ShareHub tokens in secret scanners, not a secret
DEFAULT_DAYS = 90
MAX_DAYS = 365


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(*, agency: Agency, name: str, created_by, days: int = DEFAULT_DAYS):
    """Make a token for `agency`; returns (ApiToken, the token text, shown to the user once)."""
    days = max(1, min(days, MAX_DAYS))
    prefix = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    record = ApiToken.objects.create(
        agency=agency,
        name=name,
        prefix=prefix,
        key_hash=_digest(token),
        created_by=created_by,
        expires_at=timezone.now() + timedelta(days=days),
    )
    return record, token


def api_token_revoke(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def api_token_check(token: str) -> ApiToken | None:
    """The live token this text belongs to, or None (unknown, wrong, expired or revoked)."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    record = ApiToken.objects.select_related("agency", "created_by").filter(prefix=parts[1]).first()
    if record is None or not hmac.compare_digest(record.key_hash, _digest(token)):
        return None
    if record.revoked_at is not None or record.expires_at <= timezone.now():
        return None
    if not record.agency.is_active or not record.created_by.is_active:
        return None
    # A token lives only as long as its maker is an agency admin of its agency: someone who
    # loses the role or moves agency takes their tokens' access with them.
    if not Membership.objects.filter(
        user=record.created_by, agency=record.agency, role=Role.AGENCY_ADMIN, is_active=True
    ).exists():
        return None
    return record


class AgencyTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token shk_...`: the request acts for the token's agency only."""

    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the header as: Authorization: Token <token>."
            )
        client = f"ip:{request.META.get('REMOTE_ADDR', '')}"
        too_many, wait = limit_reached("api_token_failures", client)
        if too_many:
            raise exceptions.Throttled(
                wait=wait, detail="Too many requests with an invalid API token from this address."
            )
        record = api_token_check(header[1].decode("ascii", errors="replace"))
        if record is None:
            count_one("api_token_failures", client)
            raise exceptions.AuthenticationFailed(
                "This API token is not valid: it is unknown, expired or revoked."
            )
        ApiToken.objects.filter(pk=record.pk).update(last_used_at=timezone.now())
        return record.created_by, record

    def authenticate_header(self, request):
        return self.keyword
