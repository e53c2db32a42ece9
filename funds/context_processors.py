"""What every page needs to know: whether the calendar of R11 is missing a year, how many
notices the signed-in user has not read, and (for administrators) whether the deadline sweep
has stopped running."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Role
from funds.models import HeartbeatName
from funds.selectors import notification_unread_count
from funds.services.audit_chain import audit_chain_status
from funds.services.calendar import calendar_coverage_cached
from funds.services.heartbeats import heartbeats


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


def sweep_warning(request: HttpRequest) -> dict[str, Any]:
    """For administrators, when the deadline sweep has not finished within
    READY_SWEEP_MAX_AGE (the readiness check's threshold): when it last did, or that it never
    did. One indexed read of a one-row-per-task table, on administrators' pages only."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    if not (user.is_superuser or getattr(user, "role", "") == Role.ADMIN):
        return {}
    last = heartbeats().get(HeartbeatName.SWEEP)
    if last is not None and timezone.now() - last <= settings.READY_SWEEP_MAX_AGE:
        return {}
    return {"sweep_stale": True, "sweep_last": last}


def audit_chain_warning(request: HttpRequest) -> dict[str, Any]:
    """For administrators, when the last check of the audit chain found it broken (one
    indexed read, on administrators' pages only)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    if not (user.is_superuser or getattr(user, "role", "") == Role.ADMIN):
        return {}
    last = audit_chain_status()
    if last is None or last.ok:
        return {}
    return {"audit_chain_broken": last}
