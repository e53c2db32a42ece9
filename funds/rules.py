"""The legal clocks: durations from settings.FUND_RULES and the calendar arithmetic they need."""

from __future__ import annotations

import calendar
import logging
from datetime import date, datetime, timedelta
from typing import Any

import chinese_calendar
from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)


def rule(name: str) -> Any:
    return settings.FUND_RULES[name]


def add_months(moment: datetime, months: int) -> datetime:
    """The same local wall-clock time ``months`` later; the 31st becomes the month's last day."""
    local = timezone.localtime(moment)
    index = local.month - 1 + months
    year, month = local.year + index // 12, index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day)


def is_working_day(day: date) -> bool:
    """A Chinese working day: public holidays are off and adjusted weekends (调休) are on.

    The calendar comes from the chinesecalendar package, which knows the State Council's
    published schedule; for a year it does not know yet, fall back to Monday-Friday and say so.
    """
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        logger.warning("No official holiday calendar for %s; counting Monday-Friday.", day.year)
        return day.weekday() < 5


def add_working_days(moment: datetime, days: int) -> datetime:
    """The end of the ``days``-th working day after ``moment`` (R11: 3 working days).

    The day of ``moment`` itself does not count; the deadline falls at midnight at the end of
    the last working day, local time.
    """
    day = timezone.localtime(moment).date()
    remaining = days
    while remaining:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    end = datetime.combine(day + timedelta(days=1), datetime.min.time())
    return timezone.make_aware(end)
