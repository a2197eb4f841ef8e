from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from accounts.two_factor import has_confirmed_device

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
            and not user.is_verified()  # type: ignore[union-attr]
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
