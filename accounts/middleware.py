"""Sessions end on the server after SHAREHUB_IDLE_SECONDS without a request."""

import time

from django.conf import settings
from django.contrib.auth import logout
from django.shortcuts import redirect

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
