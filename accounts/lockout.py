"""What django-axes keys its lockout on, and the page it answers with."""

import hashlib
import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def lockout_username(request: HttpRequest, credentials: dict | None) -> str:
    """A keyed hash of the email typed, lower-cased (settings.AXES_USERNAME_CALLABLE).

    Lower-cased because sign-in matches emails whatever their case, so "A@x" and "a@x" must share
    one count. Hashed because what is typed in the email field is sometimes a password: axes
    keeps this value in its table and its log lines, which should hold nothing anyone typed.
    """
    typed = str((credentials or {}).get("username") or request.POST.get("username", ""))
    normalised = typed.strip().lower().encode()
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, b"axes-lockout:" + normalised, hashlib.sha256).hexdigest()[:32]


def locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """The page for a sign-in refused by the lockout (settings.AXES_LOCKOUT_CALLABLE).

    It names no account: the lockout is for this email from this address, and saying whether
    the email exists would tell an attacker which staff have accounts.
    """
    cool_off_minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(
        request,
        "accounts/locked_out.html",
        {"cool_off_minutes": cool_off_minutes, "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=429,
    )
