"""What the OpenAPI schema (drf-spectacular, at /api/schema/) says of the agency token scheme.

drf-spectacular finds the extension by subclass, so sharehub.apps imports this module at start-up.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class AgencyTokenScheme(OpenApiAuthenticationExtension):
    target_class = "agencies.tokens.AgencyTokenAuthentication"
    name = "agencyToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "`Token shk_...`: a token made by an agency admin on the API tokens page. It acts "
                "for that agency only, expires, and can be revoked."
            ),
        }
