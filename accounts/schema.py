"""The OpenAPI security schemes of the API's own authentication classes (drf-spectacular)."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ExpiringTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ExpiringTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                'A token from POST /api/v1/auth/token/, sent as "Token <token>". It lasts '
                "API_TOKEN_TTL (8 hours by default) and ends at once when revoked, when its "
                "user's password changes or when the user is deactivated (401)."
            ),
        }


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                'A bank\'s API key, issued by an administrator, sent as "Api-Key <key>". It '
                "acts as a liaison of its institution, expires and may be revoked (401)."
            ),
        }
