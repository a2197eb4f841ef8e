"""What every REST endpoint shares: the base view of those that people call from a signed-in
session, and the answers the OpenAPI schema (drf-spectacular, at /api/schema/) says any endpoint
can give besides its own.

Endpoints that answer a hand-built document describe it as an object here rather than field by
field; the schemathesis run in tests/test_api_schema.py checks every answer against the schema.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import admits, api_roles


class RolesOrPermission(BasePermission):
    """Admits a session user acting in one of the view's `roles`, or holding its `permission`."""

    message = "Your role does not give access to this."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        # Sessions only. An agency API token, the one credential that sets request.auth (a
        # session leaves it None), exists for an agency's systems to upload extracts, and must
        # not carry its maker's role or permissions to a machine.
        if request.auth is not None:
            return False
        membership = getattr(request._request, "membership", None)
        return admits(request.user, membership, permission=view.permission, roles=view.roles)


class SessionAPIView(APIView):
    """The base of an endpoint for people: its `roles` admit, and so does its `permission`."""

    permission_classes = [RolesOrPermission]
    roles: tuple[str, ...] = ()
    permission: str | None = None


def declared(view_class):
    """The view function, declaring the audience its class checks (one source for both)."""
    return api_roles(*view_class.roles, permission=view_class.permission)(view_class.as_view())


def no_store(data) -> Response:
    # Person data: never kept by a browser or proxy cache.
    response = Response(data)
    response["Cache-Control"] = "no-store"
    return response


# Problems with a request, by field: {"field": ["what to fix", ...]}.
PROBLEMS = OpenApiResponse(
    response=inline_serializer(
        name="Problems",
        fields={
            "detail": serializers.CharField(required=False),
        },
    ),
    description="What to fix, by field name: each a list of messages.",
)
DETAIL = OpenApiResponse(
    response=inline_serializer(name="Detail", fields={"detail": serializers.CharField()}),
    description="Why the request was refused.",
)
# Every endpoint may answer these: no or a bad token, not allowed, not found (another agency's
# objects answer 404 as if they did not exist), and too many requests.
REFUSALS = {401: DETAIL, 403: DETAIL, 404: DETAIL, 405: DETAIL, 429: DETAIL}
DOCUMENT = OpenApiTypes.OBJECT
CSV = OpenApiResponse(response=OpenApiTypes.BINARY, description="A CSV file.")


def answers(ok: dict, *, problems: bool = False) -> dict:
    """The responses of one operation: its own, and the refusals every endpoint can give."""
    return {**ok, **({400: PROBLEMS} if problems else {}), **REFUSALS}
