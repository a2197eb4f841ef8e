from django.conf import settings

from agencies.access import usable_memberships
from sharehub.navigation import nav_for


def _usable(request, user):
    found = getattr(request, "usable_memberships", None)
    return found if found is not None else usable_memberships(user)


def navigation(request):
    membership = getattr(request, "membership", None)
    user = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated)
    return {
        "partnership_name": settings.SHAREHUB_PARTNERSHIP_NAME,
        "active_membership": membership,
        "other_memberships": (
            [m for m in _usable(request, user) if m != membership] if signed_in else []
        ),
        "service_nav": nav_for(
            membership.role if membership else None,
            request.path,
            user=user if signed_in else None,
            membership=membership,
        ),
    }
