"""The public transparency register and privacy notice: open to anyone, signed in or not."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control

from agencies.access import public
from transparency.selectors import lawful_bases, register_as_json, transparency_register

# Read from the live configuration on every request; a browser (and, for visitors, a shared
# cache) may keep a copy this long, so a change shows within a minute.
FRESH_SECONDS = 60


def _cached_briefly(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    # A signed-in user's copy carries their name in the account bar: never in a shared cache.
    shared = not request.user.is_authenticated
    patch_cache_control(response, max_age=FRESH_SECONDS, public=shared, private=not shared)
    return response


@public
def register(request: HttpRequest) -> HttpResponse:
    response = render(request, "transparency/register.html", {"register": transparency_register()})
    return _cached_briefly(request, response)


@public
def register_json(request: HttpRequest) -> HttpResponse:
    response = JsonResponse(
        register_as_json(transparency_register()), json_dumps_params={"indent": 2}
    )
    return _cached_briefly(request, response)


@public
def privacy_notice(request: HttpRequest) -> HttpResponse:
    register = transparency_register()
    response = render(
        request,
        "transparency/privacy.html",
        {"register": register, "lawful_bases": lawful_bases(register.protocols)},
    )
    return _cached_briefly(request, response)
