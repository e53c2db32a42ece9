"""The OpenAPI schema names every status an operation can answer (API.md, "Errors").

drf-spectacular documents the success of each operation; the errors come from the
conventions every view follows (API.md, "Conventions"), so they are added here once rather
than on each view: 401 without credentials, 403 when the role may not do this, 404 for an
id in the path that does not exist or lies outside the user's scope, 400 for invalid input
(DRF's field-error shape) and, on a POST, 409 when the object's state does not allow it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import inline_serializer
from rest_framework import permissions, serializers

PROBLEM = inline_serializer(
    name="Problem",
    fields={
        "detail": serializers.CharField(),
        "code": serializers.CharField(required=False),
    },
)
# DRF's field errors: {"field": ["message", ...]}.
FIELD_ERRORS = {
    "type": "object",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
    "description": "Each invalid field with its messages (DRF's field-error shape).",
}

DESCRIPTIONS = {
    "400": 'Invalid input: {"<field>": ["message"]}.',
    "401": "Not signed in.",
    "403": "The role may not do this.",
    "404": "Missing, or outside the user's scope.",
    "409": 'The state forbids it: {"detail", "code": "invalid_state"}.',
}


class ContractSchema(AutoSchema):
    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        errors: dict[str, Any] = {}
        if self.method in ("POST", "PUT", "PATCH") or self._has_query_parameters():
            errors["400"] = FIELD_ERRORS
        if not self._allows_anyone():
            # Sign-in itself answers only its own 400.
            errors.update({"401": PROBLEM, "403": PROBLEM})
            if self.method in ("POST", "PUT", "PATCH", "DELETE"):
                errors["409"] = PROBLEM
        if "{" in self.path:
            errors["404"] = PROBLEM
        for code, body in sorted(errors.items()):
            if code not in responses:
                responses[code] = self._get_response_for_code(body, code)
                responses[code]["description"] = DESCRIPTIONS[code]
        return responses

    def _allows_anyone(self) -> bool:
        checks = self.view.get_permissions()
        return not checks or any(isinstance(p, permissions.AllowAny) for p in checks)

    def _has_query_parameters(self) -> bool:
        return any(p.get("in") == "query" for p in self._get_parameters())
