"""The shell: the landing redirect, each role's home page, the API docs page, health check and
error pages."""

import logging

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from agencies.access import (
    ALL_ROLES,
    MemberRequest,
    SignedInRequest,
    public,
    role_required,
    signed_in,
)
from agencies.models import Role
from agencies.selectors import agency_team, partnership_agencies, role_counts
from alerts.inbox import alert_counts
from consent.selectors import work_waiting
from protocols.approvals import versions_awaiting
from sharehub.navigation import allows

logger = logging.getLogger(__name__)

ROLE_HOMES: dict[str, str] = {
    Role.PRACTITIONER: "practitioner_home",
    Role.IG_OFFICER: "ig_home",
    Role.AGENCY_ADMIN: "agency_admin_home",
    Role.ANALYST: "analyst_home",
    Role.PLATFORM_ADMIN: "platform_home",
}


@signed_in
def home(request: SignedInRequest) -> HttpResponse:
    """Send a user to the home page of the role they are acting in."""
    if request.membership is None:
        return render(request, "sharehub/no_role.html", status=403)
    return redirect(ROLE_HOMES[request.membership.role])


@role_required(Role.PRACTITIONER)
def practitioner_home(request: MemberRequest) -> HttpResponse:
    return render(
        request,
        "sharehub/home_practitioner.html",
        {
            "agencies": partnership_agencies(),
            "waiting": work_waiting(request.membership),
            "alerts": alert_counts(request.membership),
        },
    )


@role_required(Role.IG_OFFICER)
def ig_home(request: MemberRequest) -> HttpResponse:
    agency = request.membership.own_agency
    return render(
        request,
        "sharehub/home_ig.html",
        {
            "agency": agency,
            "team": agency_team(agency),
            "roles": role_counts(agency),
            "waiting": work_waiting(request.membership),
            "awaiting_approval": versions_awaiting(request.membership),
        },
    )


@role_required(Role.AGENCY_ADMIN)
def agency_admin_home(request: MemberRequest) -> HttpResponse:
    agency = request.membership.own_agency
    return render(
        request,
        "sharehub/home_agency_admin.html",
        {"agency": agency, "roles": role_counts(agency)},
    )


@role_required(Role.ANALYST)
def analyst_home(request: MemberRequest) -> HttpResponse:
    return render(request, "sharehub/home_analyst.html", {"agencies": partnership_agencies()})


@role_required(Role.PLATFORM_ADMIN)
def platform_home(request: MemberRequest) -> HttpResponse:
    return render(
        request,
        "sharehub/home_platform.html",
        {"agencies": partnership_agencies(), "roles": role_counts()},
    )


# The same audience as the schema it shows (sharehub/urls.py, `api_schema`): every role, since
# the schema lists what can be asked, never what is held. The schema endpoint alone also
# answers agency tokens, which are for systems, not for people reading a page.
@role_required(*sorted(ALL_ROLES))
def api_docs(request: MemberRequest) -> HttpResponse:
    """The REST API's documentation: Swagger UI drawing the OpenAPI schema, read-only."""
    membership = request.membership
    tokens = "agencies:api_tokens"
    may_make_tokens = allows(tokens, membership.role, user=request.user, membership=membership)
    return render(
        request,
        "sharehub/api_docs.html",
        {"tokens_url": reverse(tokens) if may_make_tokens else None},
    )


@public
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """For the load balancer and compose health check: the process answers, the database too,
    and the keys load (a process that cannot open or match a record is not healthy). 503 and
    which check failed otherwise, never why in detail: the page is public."""
    checks = {"database": "ok", "keys": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        logger.exception("healthz: the database does not answer")
        checks["database"] = "failed"
    try:
        _keys_load(database_ok=checks["database"] == "ok")
    except Exception as error:
        # The type only: a parser's message could quote part of a key.
        logger.error("healthz: the keys do not load (%s)", type(error).__name__)
        checks["keys"] = "failed"
    healthy = all(result == "ok" for result in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "not ok", "checks": checks}, status=200 if healthy else 503
    )


def _keys_load(*, database_ok: bool) -> None:
    """The master, linkage and audit keys parse, and the master key unwraps an agency's data key (a
    well-formed key that is not the one the data keys were wrapped with opens nothing)."""
    from core.keys import AgencySealer, audit_keys, linkage_keys, master_keys
    from core.models import DataKey

    master_keys()
    linkage_keys()
    audit_keys()
    if database_ok:
        agency_id = DataKey.objects.values_list("agency_id", flat=True).first()
        if agency_id is not None:
            AgencySealer(agency_id)


# The API's clients read JSON, whatever went wrong: an error there answers {"detail": ...} as
# DRF's own refusals do, and as the OpenAPI schema promises, never a page.
API_PREFIX = "/api/"
# Pages for people that sit under /api/ beside what they describe: their errors are pages.
API_PAGES = frozenset({"/api/docs/"})
API_ERRORS = {
    400: "The request could not be understood.",
    403: "You do not have permission to do this.",
    404: "Not found.",
    500: "Something went wrong on our side. It has been logged.",
}


def _api_error(request: HttpRequest, status: int) -> HttpResponse | None:
    if not request.path.startswith(API_PREFIX) or request.path in API_PAGES:
        return None
    return JsonResponse({"detail": API_ERRORS[status]}, status=status)


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    return _api_error(request, 400) or render(request, "errors/400.html", status=400)


def permission_denied(request: HttpRequest, exception=None) -> HttpResponse:
    return _api_error(request, 403) or render(request, "errors/403.html", status=403)


def page_not_found(request: HttpRequest, exception=None) -> HttpResponse:
    return _api_error(request, 404) or render(request, "errors/404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # No context processors here: the database may be what failed.
    from django.template import loader

    api = _api_error(request, 500)
    if api is not None:
        return api
    return HttpResponse(loader.get_template("errors/500.html").render(), status=500)
