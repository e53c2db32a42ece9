"""What every page needs to know: whether the calendar of R11 is missing a year, and how
many notices the signed-in user has not read."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from accounts.models import Role
from funds.selectors import notification_unread_count
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


def notices(request: HttpRequest) -> dict[str, Any]:
    """For anyone signed in, the unread notices the header's bell shows (one count query),
    and how often the bell asks again."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    # A callable, which templates call: counted only on pages that show the bell (not on
    # fragments), and once however often the page shows it.
    @cache
    def unread_notices() -> int:
        return notification_unread_count(user)

    return {
        "unread_notices": unread_notices,
        "notice_poll_seconds": settings.NOTICE_POLL_SECONDS,
    }
