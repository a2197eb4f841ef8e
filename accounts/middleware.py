"""Sign-in middleware: the second factor, and the server-side idle timeout."""

import time

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from accounts.two_factor import has_confirmed_device, second_factor_passed

# Pages a password-only session may open: signing in and out, the second-factor pages
# themselves, and what the sign-in pages need to render (static files) or monitoring calls.
_OPEN_BEFORE_SECOND_FACTOR = (
    "accounts:login",
    "accounts:logout",
    "accounts:two_factor_enrol",
    "accounts:two_factor_verify",
)


class SecondFactorRequiredMiddleware:
    """Sends a user signed in with a password alone to enrol or verify a TOTP device.

    Runs after django_otp's OTPMiddleware, which sets request.user.is_verified(). A request
    authenticated by an agency API token has no session user here (DRF authenticates it later,
    in the view) and so passes through: tokens are machine-to-machine and not subject to OTP.
    A session-authenticated API call is held to the same rule as a page.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self._open_paths: set[str] | None = None

    def _is_open(self, path: str) -> bool:
        if self._open_paths is None:
            # Reversed on first use, not at start-up, when the URLconf may not be loaded yet.
            self._open_paths = {reverse(name) for name in _OPEN_BEFORE_SECOND_FACTOR}
            self._open_paths.add(reverse("healthz"))
        return path in self._open_paths or path.startswith(settings.STATIC_URL)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            settings.SHAREHUB_REQUIRE_OTP
            and user.is_authenticated
            and not second_factor_passed(user)
            and not self._is_open(request.path)
        ):
            return self._second_factor_response(request)
        return self.get_response(request)

    def _second_factor_response(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            return JsonResponse(
                {
                    "detail": "Finish signing in with your authentication app code before "
                    "using the API from a browser session, or use an agency API token."
                },
                status=403,
            )
        step = (
            "accounts:two_factor_verify"
            if has_confirmed_device(request.user)
            else "accounts:two_factor_enrol"
        )
        target = reverse(step)
        if request.method == "GET":
            target += "?" + urlencode({"next": request.get_full_path()})
        return redirect(target)


# The session key for the time of the last request, in whole seconds since the epoch.
LAST_ACTIVITY_KEY = "sharehub_last_activity"


class IdleTimeoutMiddleware:
    """Flush an idle session, so its cookie opens nothing even if copied before the timeout.

    The cookie's own expiry is up to the browser; this check is the server's, and logout()
    deletes the session row, so replaying the old cookie finds no session at all.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = int(time.time())
            last_activity = request.session.get(LAST_ACTIVITY_KEY)
            if last_activity is not None and now - last_activity > settings.SHAREHUB_IDLE_SECONDS:
                logout(request)
                return redirect("accounts:signed_out_inactive")
            request.session[LAST_ACTIVITY_KEY] = now
        return self.get_response(request)
