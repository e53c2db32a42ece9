"""The OpenAPI schema names every status an operation can answer (API.md, "Errors").

drf-spectacular documents the success of each operation; the errors come from the
conventions every view follows (API.md, "Conventions"), so they are added here once rather
than on each view: 401 without credentials, 403 when the role may not do this, 404 for an
id in the path that does not exist or lies outside the user's scope, 400 for invalid input
(DRF's field-error shape), on a POST, 409 when the object's state does not allow it and 413
for a body over DATA_UPLOAD_MAX_MEMORY_SIZE, and 429 beyond the throttles' rates.

Every POST that needs a user also takes the ``Idempotency-Key`` header (API.md, "Retries";
funds.api.idempotency): it may answer 409 while the key is in flight and 422 when the key was
used for another request.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import permissions, serializers

PROBLEM = inline_serializer(
    name="Problem",
    fields={
        "detail": serializers.CharField(),
        "code": serializers.CharField(required=False),
    },
)
# DRF's field errors: {"field": ["message", ...]}, nested for nested input ({"shares": [{...}]});
# a body that is not even JSON: {"detail": "JSON parse error - ..."}.
FIELD_ERRORS = {
    "type": "object",
    "additionalProperties": {
        "anyOf": [
            {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "object"}]}},
            {"type": "object"},
            {"type": "string"},
        ]
    },
    "description": (
        "Each invalid field with its messages (DRF's field-error shape), or a "
        '"detail" for a body that cannot be parsed.'
    ),
}

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "1-255 printable ASCII characters. A retry with the same key, path and body answers "
        "the first answer again (kept 24 h) with `Idempotent-Replayed: true` and changes "
        "nothing; the key is the user's own."
    ),
)

# Query parameters that name an object in the user's scope, looked up as an id in a path is:
# missing or out of scope, 404 (accounts.scope.access_unit).
SCOPED_QUERY_PARAMETERS = frozenset({"unit"})

DESCRIPTIONS = {
    "400": 'Invalid input: {"<field>": ["message"]}.',
    "401": "Not signed in.",
    "403": "The role may not do this.",
    "404": "Missing, or outside the user's scope.",
    "409": (
        'The state forbids it: {"detail", "code": "invalid_state"}; or a request with the '
        'same Idempotency-Key is in progress: "code": "idempotency_key_in_use".'
    ),
    "422": 'The Idempotency-Key was used for another request: "code": "idempotency_key_reused".',
    "413": 'The body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE: "code": "request_too_large".',
    "429": "Too many requests: wait for the seconds of its Retry-After header.",
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
            if self._takes_idempotency_key():
                errors["422"] = PROBLEM
        if "{" in self.path or self._has_query_parameters(named=SCOPED_QUERY_PARAMETERS):
            errors["404"] = PROBLEM
        if self.method in ("POST", "PUT", "PATCH"):
            errors["413"] = PROBLEM
        # Every view is throttled (REST_FRAMEWORK's DEFAULT_THROTTLE_CLASSES).
        errors["429"] = PROBLEM
        for code, body in sorted(errors.items()):
            if code not in responses:
                responses[code] = self._get_response_for_code(body, code)
                responses[code]["description"] = DESCRIPTIONS[code]
        if self._takes_idempotency_key() and "400" in responses:
            described = responses["400"].get("description", "")
            responses["400"]["description"] = (
                f'{described} An invalid key: {{"Idempotency-Key": ["message"]}}.'.strip()
            )
        return responses

    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        if self._takes_idempotency_key():
            parameters.append(IDEMPOTENCY_KEY)
        return parameters

    def _takes_idempotency_key(self) -> bool:
        # The token endpoint has no user before it runs, and ignores the key; enrolment in the
        # second factor ignores it too (its answers carry secrets, never kept).
        return (
            self.method == "POST"
            and not self._allows_anyone()
            and not getattr(self.view, "ignores_idempotency_key", False)
        )

    def _allows_anyone(self) -> bool:
        checks = self.view.get_permissions()
        return not checks or any(isinstance(p, permissions.AllowAny) for p in checks)

    def _has_query_parameters(self, named: frozenset[str] | None = None) -> bool:
        return any(
            p.get("in") == "query" and (named is None or p.get("name") in named)
            for p in self._get_parameters()
        )
