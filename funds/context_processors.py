"""What every page needs to know: whether the calendar of R11 is missing a year."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.models import Role
from funds.services.calendar import calendar_coverage_cached


def calendar_warning(request: HttpRequest) -> dict[str, Any]:
    """For managers and administrators, the years whose holidays are not entered yet
    (cached: no query on most pages)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    is_admin = bool(user.is_superuser or getattr(user, "role", "") == Role.ADMIN)
    if not is_admin and getattr(user, "role", "") != Role.MANAGER:
        return {}
    coverage = calendar_coverage_cached()
    if not coverage.warning:
        return {}
    return {"calendar_missing_years": coverage.missing_years, "calendar_admin_link": is_admin}
