"""How a view declares who it serves, and the one rule that admits a user to it.

Every view records its audience on the view function (`view.allowed_roles`): a set of roles,
PUBLIC, SIGNED_IN, or API for a REST endpoint (whose roles are `view.api_roles`). The URL walk in
tests/test_page_access.py reads the declarations back, and so does the navigation, so a link is
shown only to those who may follow it. The decorators that enforce them on pages, and the
memberships a user acts in, are agencies.access's.
"""

from collections.abc import Callable
from typing import Any, Protocol

from django.http.response import HttpResponseBase

PUBLIC = "public"
SIGNED_IN = "signed_in"
API = "api"

View = Callable[..., HttpResponseBase]


class ActingAs(Protocol):
    """A membership: the role a user acts in, at one agency."""

    @property
    def role(self) -> str: ...


def audience_declare(view: View, audience: Any) -> View:
    setattr(view, "allowed_roles", audience)  # noqa: B010 - read back by the URL walk and nav
    return view


def admits(
    user, membership: ActingAs | None, *, permission: str | None, roles: tuple[str, ...] = ()
) -> bool:
    """Whether a signed-in user acting in `membership` is admitted by `roles` or `permission`."""
    if membership is None or not user.is_active:
        return False
    if membership.role in roles:
        return True
    return permission is not None and user.has_perm(permission)


def api_roles(*roles: str, permission: str | None = None) -> Callable[[View], View]:
    """Declares the roles a REST endpoint serves when called with a session, and the permission
    that admits a person whatever their role (see agencies.access.permission_required).

    Django REST framework does the checking (permission classes, which also admit agency API
    tokens); this records the audience so the URL walk and the IDOR tests know what to expect.
    """

    def decorator(view: View) -> View:
        setattr(view, "api_roles", frozenset(roles))  # noqa: B010
        setattr(view, "api_permission", permission)  # noqa: B010
        return audience_declare(view, API)

    return decorator
