"""The API's router: ids in paths are database ids, so anything else matches no route.

``/api/v1/notifications/abc/read/`` would otherwise reach the view and fail in the id's
lookup (a 500); now it is the API's JSON 404 (casetracker.errors.not_found). Up to 18 digits,
within PostgreSQL's bigint.
"""

from typing import Any

from rest_framework.routers import SimpleRouter

ID_REGEX = "[0-9]{1,18}"


class IdRouter(SimpleRouter):
    """DRF's router, with ids of digits unless a viewset sets its own lookup_value_regex."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._default_value_pattern = ID_REGEX
