"""Fixed-window rate limits for web views, counted in the cache.

A view wrapped in rate_limited(scope) answers 429 with the "Too many requests" page once
settings.SHAREHUB_RATE_LIMITS[scope] requests are used up in the current window. Counters are
keyed on the user's id, or on the client IP address before sign-in, never on anything typed.
"""

import hashlib
import hmac
import time
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def _client_key(request: HttpRequest, per: str) -> str:
    if per == "user" and request.user.is_authenticated:
        return f"user:{request.user.pk}"
    return f"ip:{request.META.get('REMOTE_ADDR', '')}"


def typed_client(text: str) -> str:
    """A counter key for something typed (an email address asked about): a keyed hash of it,
    lower-cased, so the cache never holds what was typed."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(),
        b"ratelimit-typed:" + text.strip().lower().encode(),
        hashlib.sha256,
    ).hexdigest()
    return f"typed:{digest[:32]}"


def _window(scope: str, client: str) -> tuple[str, int, int]:
    """This window's counter key, the scope's limit, and the seconds to the next window."""
    limit, window = settings.SHAREHUB_RATE_LIMITS[scope]
    now = int(time.time())
    window_start = now - now % window
    return f"ratelimit:{scope}:{client}:{window_start}", limit, window_start + window - now


def count_one(scope: str, client: str) -> tuple[bool, int]:
    """Count one event for `client`; return whether it is within the limit, and the wait."""
    key, limit, retry_after = _window(scope, client)
    # add() then incr() is atomic on Redis and on the local-memory cache alike.
    cache.add(key, 0, timeout=retry_after + 1)
    return cache.incr(key) <= limit, retry_after


def limit_reached(scope: str, client: str) -> tuple[bool, int]:
    """Whether `client` has used up the scope's limit in this window, without counting."""
    key, limit, retry_after = _window(scope, client)
    return cache.get(key, 0) >= limit, retry_after


def request_allowed(request: HttpRequest, scope: str, per: str) -> tuple[bool, int]:
    """Count this request; return whether it is within the limit, and seconds to the next window."""
    return count_one(scope, _client_key(request, per))


def too_many_requests(request: HttpRequest, retry_after: int) -> HttpResponse:
    minutes = max(1, -(-retry_after // 60))
    response = render(request, "errors/429.html", {"retry_minutes": minutes}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def rate_limited(
    scope: str, *, per: str = "user", methods: tuple[str, ...] = ("GET", "POST")
) -> Callable:
    """Limit a view's `methods` to settings.SHAREHUB_RATE_LIMITS[scope], per user or per IP."""
    if per not in ("user", "ip"):
        raise ValueError(f"rate_limited counts per 'user' or 'ip', not {per!r}")

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method in methods:
                allowed, retry_after = request_allowed(request, scope, per)
                if not allowed:
                    return too_many_requests(request, retry_after)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
