"""Chinese working days (R11), read from the calendar tables (funds.models.calendar).

A covered year (CalendarYear.covered) stores only its exceptions to Monday-Friday: public
holidays off, adjusted weekends (调休) on; a date without a row follows the weekday rule.
For a year not covered yet the weekday rule still answers, because a deadline must be
computed, but the answer is provisional and says so (``WorkingDeadline.provisional``);
the State Council publishes a year's schedule late in the year before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connection
from django.db.models import FilteredRelation, Q
from django.utils import timezone

from funds.models import CalendarYear

# How many calendar days one query reads ahead; the longest Chinese holiday is nine days,
# so three working days never need a second query.
_WINDOW = timedelta(days=31)

# The PostgreSQL advisory lock (an arbitrary constant) that orders computing an R11
# deadline against changing the calendar: funds.services.calendar holds it exclusively
# while it replaces a year and recomputes the open deadlines, and approving a return holds
# it shared, so a deadline computed from the old calendar is always seen by the recompute.
CALENDAR_LOCK = 0x43414C  # "CAL"


@dataclass(frozen=True)
class WorkingDeadline:
    """A deadline counted in working days, and whether it counted over an uncovered year."""

    due_at: datetime
    provisional: bool


class _Calendar:
    """The exceptions and covered years of a span of days, loaded in one query per span."""

    def __init__(self, first: date) -> None:
        self.covered: set[int] = set()
        self.exceptions: dict[date, bool] = {}
        self.first = first
        self.last = first - timedelta(days=1)

    def _load(self, first: date, last: date) -> None:
        rows = (
            CalendarYear.objects.filter(year__in=range(first.year, last.year + 1))
            .annotate(span=FilteredRelation("days", condition=Q(days__date__range=(first, last))))
            .values_list("year", "covered", "span__date", "span__is_working_day")
        )
        for year, covered, day, working in rows:
            if covered:
                self.covered.add(year)
            if day is not None:
                self.exceptions[day] = working
        self.last = last

    def is_working_day(self, day: date) -> bool:
        if day > self.last:
            self._load(max(day, self.last + timedelta(days=1)), day + _WINDOW)
        working = self.exceptions.get(day)
        return day.weekday() < 5 if working is None else working

    def is_covered(self, day: date) -> bool:
        if day > self.last:
            self.is_working_day(day)
        return day.year in self.covered


def is_working_day(day: date) -> bool:
    """A Chinese working day: public holidays are off and adjusted weekends (调休) are on."""
    return _Calendar(day).is_working_day(day)


def working_deadline(moment: datetime, days: int) -> WorkingDeadline:
    """The end of the ``days``-th working day after ``moment`` (R11: 3 working days).

    The day of ``moment`` itself does not count; the deadline falls at midnight at the end of
    the last working day, local time. It is provisional if any day counted or skipped lies
    in a year whose calendar is not covered.
    """
    day = timezone.localtime(moment).date()
    calendar = _Calendar(day + timedelta(days=1))
    remaining = days
    provisional = False
    while remaining:
        day += timedelta(days=1)
        if calendar.is_working_day(day):
            remaining -= 1
        provisional = provisional or not calendar.is_covered(day)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time())
    return WorkingDeadline(due_at=timezone.make_aware(end), provisional=provisional)


def add_working_days(moment: datetime, days: int) -> datetime:
    """The moment of ``working_deadline`` alone."""
    return working_deadline(moment, days).due_at


def year_covered(year: int) -> bool:
    return CalendarYear.objects.filter(year=year, covered=True).exists()


def lock_calendar(*, exclusive: bool) -> None:
    """Take CALENDAR_LOCK until the end of the transaction (see its comment)."""
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [CALENDAR_LOCK])
