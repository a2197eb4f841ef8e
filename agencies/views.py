from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from agencies.access import (
    ACTIVE_MEMBERSHIP_SESSION_KEY,
    ALL_ROLES,
    role_required,
    signed_in,
    usable_memberships,
)
from agencies.models import Role
from agencies.selectors import agency_team, partnership_agencies


@role_required(*ALL_ROLES)
def partnership(request: HttpRequest) -> HttpResponse:
    return render(request, "agencies/partnership.html", {"agencies": partnership_agencies()})


@role_required(Role.AGENCY_ADMIN, Role.IG_OFFICER)
def team(request: HttpRequest) -> HttpResponse:
    agency = request.membership.agency
    return render(request, "agencies/team.html", {"agency": agency, "team": agency_team(agency)})


@signed_in
@require_POST
def switch_role(request: HttpRequest) -> HttpResponse:
    """Act in another of the user's own memberships; ids of anyone else's are ignored."""
    wanted = request.POST.get("membership")
    for membership in usable_memberships(request.user):
        if str(membership.pk) == wanted:
            request.session[ACTIVE_MEMBERSHIP_SESSION_KEY] = membership.pk
            break
    return redirect("home")
