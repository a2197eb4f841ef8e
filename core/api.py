"""What every REST endpoint shares: the answers the OpenAPI schema (drf-spectacular, at
/api/schema/) says any endpoint can give besides its own.

Endpoints that answer a hand-built document describe it as an object here rather than field by
field; the schemathesis run in tests/test_api_schema.py checks every answer against the schema.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

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
