"""Local days, weeks and months: the periods the totals are grouped by, and the period each
periodic report covers.

The triggers of migration funds 0005 date every figure by its Asia/Shanghai day
(funds.reports.figures); these functions only work out which days a period spans.
"""

from __future__ import annotations

from datetime import date, timedelta

from funds.models import ReportKind


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def previous_month(day: date) -> date:
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


def period_start(day: date, group_by: str) -> date:
    if group_by == "week":
        return day - timedelta(days=day.weekday())
    if group_by == "month":
        return day.replace(day=1)
    return day


def next_period(start: date, group_by: str) -> date:
    if group_by == "month":
        return next_month(start)
    return start + timedelta(days=7 if group_by == "week" else 1)


def period_key(start: date, group_by: str) -> str:
    if group_by == "month":
        return f"{start:%Y-%m}"
    if group_by == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return start.isoformat()


def report_period(kind: str, today: date, back: int = 0) -> tuple[date, date]:
    """The last complete period before ``today`` (``back`` periods earlier), first and last
    day: yesterday, last Monday to Sunday, or last calendar month."""
    if kind == ReportKind.DAILY:
        day = today - timedelta(days=1 + back)
        return day, day
    if kind == ReportKind.WEEKLY:
        start = today - timedelta(days=today.weekday() + 7 * (1 + back))
        return start, start + timedelta(days=6)
    if kind == ReportKind.MONTHLY:
        start = today.replace(day=1)
        for _step in range(1 + back):
            start = previous_month(start)
        return start, next_month(start) - timedelta(days=1)
    raise ValueError(kind)
