"""Who may open which page: every view declares the roles it serves, and this module enforces it.

A view is wrapped in exactly one of `role_required(...)`, `permission_required(...)`, `signed_in`
or `public`, each of which records its audience on the view function (`view.allowed_roles`, as
core.access declares it). The URL walk in tests/test_page_access.py fails on any pattern whose
view carries no such declaration, and the navigation is built from the same declarations, so a
link is shown only to those who may follow it.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase

from accounts.models import User
from agencies.models import Membership, Role
from core.access import PUBLIC, SIGNED_IN, View, admits, audience_declare

ALL_ROLES = frozenset(Role.values)
ACTIVE_MEMBERSHIP_SESSION_KEY = "sharehub_membership_id"


def usable_memberships(user) -> list[Membership]:
    """The memberships a user can act in now: active, in an active agency, for an active user."""
    if not user.is_authenticated or not user.is_active:
        return []
    return list(
        Membership.objects.filter(user=user, is_active=True)
        .exclude(agency__is_active=False)
        .select_related("agency")
        .order_by("agency__name", "role")
    )


def active_membership(
    request: HttpRequest, memberships: list[Membership] | None = None
) -> Membership | None:
    """The membership the user chose to act in this session, or their first usable one.
    `memberships`, when the caller has them, are the user's usable memberships."""
    if memberships is None:
        memberships = usable_memberships(request.user)
    chosen_id = request.session.get(ACTIVE_MEMBERSHIP_SESSION_KEY)
    for membership in memberships:
        if membership.pk == chosen_id:
            return membership
    return memberships[0] if memberships else None


class ShareHubRequest(HttpRequest):
    """A request after ActiveMembershipMiddleware: it knows the role the user is acting in."""

    membership: Membership | None
    usable_memberships: list[Membership]


class SignedInRequest(ShareHubRequest):
    """A request to a view behind `signed_in`: the user is signed in, with or without a role.

    The decorator checks it at run time; this type says it to the view, since the stubs can only
    know `request.user` as a user or AnonymousUser."""

    user: User


class MemberRequest(SignedInRequest):
    """A request to a view behind `role_required` or `permission_required`: the user is signed in
    and acting in a membership (both decorators refuse a request without one)."""

    membership: Membership


def public(view: View) -> View:
    """Open to anyone, signed in or not (sign-in, password reset, health check)."""
    return audience_declare(view, PUBLIC)


def signed_in(view: View) -> View:
    """Open to any signed-in user, with or without a role (their own account pages)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return audience_declare(wrapper, SIGNED_IN)


def role_required(*roles: str) -> Callable[[View], View]:
    """Open only to users acting in one of `roles`; anyone else signed in gets 403."""
    unknown = set(roles) - ALL_ROLES
    if not roles or unknown:
        raise ValueError(f"role_required needs known roles, got {roles!r}")

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: ShareHubRequest, *args, **kwargs) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = request.membership
            if membership is None or membership.role not in roles:
                raise PermissionDenied("Your role does not give access to this page.")
            return view(request, *args, **kwargs)

        return audience_declare(wrapper, frozenset(roles))

    return decorator


def permission_required(
    permission: str, *, roles: tuple[str, ...] = (), hide: bool = False
) -> Callable[[View], View]:
    """Open to users holding `permission` (granted to the person, whatever role they act in), and
    to users acting in one of `roles`; anyone else signed in gets 403.

    For work that is not a role of its own, such as reviewing uncertain record links. The holder
    still needs a usable membership: someone who has left every agency reviews nothing, even if
    nobody thought to take the permission away.

    With `hide`, anyone not admitted gets 404 rather than 403: for pages about one person, whose
    existence is itself personal data to someone who may not see them.
    """
    unknown = set(roles) - ALL_ROLES
    if unknown:
        raise ValueError(f"permission_required needs known roles, got {roles!r}")

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: ShareHubRequest, *args, **kwargs) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not admits(request.user, request.membership, permission=permission, roles=roles):
                if hide:
                    raise Http404("No such page.")
                raise PermissionDenied("Your role does not give access to this page.")
            return view(request, *args, **kwargs)

        setattr(wrapper, "allowed_permission", permission)  # noqa: B010 - read back by the nav
        setattr(wrapper, "hidden_from_others", hide)  # noqa: B010 - read back by the nav
        # The roles alone are the audience the URL walk expects: a role admits by itself, the
        # permission only with a grant to the person.
        return audience_declare(wrapper, frozenset(roles))

    return decorator


def is_platform_admin(user) -> bool:
    return any(m.role == Role.PLATFORM_ADMIN for m in usable_memberships(user))
