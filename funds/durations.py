"""The legal durations of DOMAIN.md R1-R14 (settings.FUND_RULES, read by ``rule``) and the
month arithmetic of freeze terms (R5).

Working days (R11) are counted by funds.working_days, from the calendar tables.
"""

from __future__ import annotations

import calendar
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone


def rule(name: str) -> Any:
    return settings.FUND_RULES[name]


def add_months(moment: datetime, months: int) -> datetime:
    """The same local wall-clock time ``months`` later; the 31st becomes the month's last day."""
    local = timezone.localtime(moment)
    index = local.month - 1 + months
    year, month = local.year + index // 12, index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day)
