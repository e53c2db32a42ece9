"""The working-day calendar (R11): entering a year, and whether the coming year is entered.

A change of a year replaces its exceptions whole, under the calendar lock
(funds.working_days.CALENDAR_LOCK), then recomputes the open clocks counted over it: the
R11 answer deadlines of the returns waiting at the banks. The change itself is recorded as
a CalendarChange (the calendar belongs to no case), each recomputed deadline as a
``deadline_recomputed`` event on its case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import groupby
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Role, User
from funds import acting_time
from funds.durations import rule
from funds.errors import NotAllowed, RuleViolation
from funds.models import (
    CalendarChange,
    CalendarDay,
    CalendarSource,
    CalendarYear,
    Case,
    DeadlineKind,
    EventType,
    Instruction,
    InstructionKind,
    InstructionStatus,
)
from funds.services.audit import record_event
from funds.services.cases import lock_case
from funds.services.deadlines import deadlines_meet, open_bank_response_clock
from funds.working_days import lock_calendar, working_deadline

COVERAGE_CACHE_KEY = "funds:calendar-coverage"
COVERAGE_CACHE_SECONDS = 300


@dataclass(frozen=True)
class CalendarEntry:
    """One public holiday or adjusted working day, as entered."""

    date: date
    name: str = ""


@dataclass(frozen=True)
class CalendarCoverage:
    """Whether the calendar covers what R11 deadlines will soon be counted over."""

    today: date
    coming_year: int
    coming_year_covered: bool
    # Years that should be entered by now and are not: the current one always, the coming
    # one from settings.CALENDAR_WARN_FROM on.
    missing_years: list[int] = field(default_factory=list)

    @property
    def warning(self) -> bool:
        return bool(self.missing_years)

    def as_json(self) -> dict[str, Any]:
        return {
            "coming_year": self.coming_year,
            "coming_year_covered": self.coming_year_covered,
            "missing_years": self.missing_years,
            "warning": self.warning,
        }


def calendar_coverage(today: date | None = None) -> CalendarCoverage:
    """Is the coming year's calendar entered? One query; a warning once it should be."""
    today = today or timezone.localdate()
    covered = set(
        CalendarYear.objects.filter(
            year__in=[today.year, today.year + 1], covered=True
        ).values_list("year", flat=True)
    )
    missing = [today.year] if today.year not in covered else []
    if (today.month, today.day) >= tuple(settings.CALENDAR_WARN_FROM) and (
        today.year + 1 not in covered
    ):
        missing.append(today.year + 1)
    return CalendarCoverage(
        today=today,
        coming_year=today.year + 1,
        coming_year_covered=today.year + 1 in covered,
        missing_years=missing,
    )


def calendar_coverage_cached() -> CalendarCoverage:
    """``calendar_coverage`` of today, cached for the pages and /healthz; a change of the
    calendar clears it."""
    today = timezone.localdate()
    cached = cache.get(COVERAGE_CACHE_KEY)
    if isinstance(cached, CalendarCoverage) and cached.today == today:
        return cached
    coverage = calendar_coverage(today)
    cache.set(COVERAGE_CACHE_KEY, coverage, COVERAGE_CACHE_SECONDS)
    return coverage


def _require_administrator(actor: User | None) -> None:
    # None is the system: a migration, or ``manage.py load_calendar`` run by an operator.
    if actor is None:
        return
    if not actor.is_active or not (actor.is_superuser or actor.role == Role.ADMIN):
        raise NotAllowed(_("Only an administrator may change the calendar."))


def calendar_days_validate(
    year: int, holidays: Sequence[CalendarEntry], working_days: Sequence[CalendarEntry]
) -> dict[date, tuple[bool, str]]:
    """The days of a year as {date: (is_working_day, name)}; RuleViolation on bad input."""
    if not 2000 <= year <= 2100:
        raise RuleViolation(_("The year must be between 2000 and 2100."), field="year")
    days: dict[date, tuple[bool, str]] = {}
    for entries, working, name in (
        (holidays, False, "holidays"),
        (working_days, True, "working_days"),
    ):
        for entry in entries:
            label = entry.date.isoformat()
            if entry.date.year != year:
                raise RuleViolation(
                    _("%(date)s is not in %(year)d.") % {"date": label, "year": year}, field=name
                )
            if entry.date in days:
                raise RuleViolation(_("%(date)s is entered twice.") % {"date": label}, field=name)
            if working and entry.date.weekday() < 5:
                raise RuleViolation(
                    _("%(date)s is a weekday: an adjusted working day is a Saturday or Sunday.")
                    % {"date": label},
                    field=name,
                )
            if len(entry.name) > 64:
                raise RuleViolation(
                    _("The name of %(date)s is longer than 64 characters.") % {"date": label},
                    field=name,
                )
            days[entry.date] = (working, entry.name.strip())
    return days


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    return (
        timezone.make_aware(datetime(year, 1, 1)),  # noqa: DTZ001 - made aware in Asia/Shanghai
        timezone.make_aware(datetime(year + 1, 1, 1)),  # noqa: DTZ001
    )


def _recompute_return_deadlines(*, actor: User | None, year: int, now: datetime) -> list[int]:
    """R11: recount the answer deadlines of the returns at the banks whose window of
    working days may cross ``year``; move the changed ones and their clocks. Answer the
    ids of the instructions whose deadline changed."""
    start, end = _year_bounds(year)
    candidates = list(
        Instruction.objects.filter(
            kind=InstructionKind.RETURN,
            status=InstructionStatus.PENDING,
            approved_at__lt=end,
            response_due_at__gt=start,
        )
        .order_by("case_id", "pk")
        .values_list("case_id", "pk")
    )
    days = rule("RETURN_WORKING_DAYS")
    changed: list[int] = []
    # The global lock order: each case, then its instructions by id (cases in id order).
    for case_id, rows in groupby(candidates, key=lambda row: row[0]):
        case = lock_case(Case(pk=case_id))
        locked = (
            Instruction.objects.select_for_update(no_key=True)
            .filter(pk__in=[pk for _case, pk in rows], status=InstructionStatus.PENDING)
            .order_by("pk")
        )
        for instruction in locked:
            assert instruction.approved_at is not None and instruction.response_due_at
            before, was_provisional = instruction.response_due_at, instruction.deadline_provisional
            deadline = working_deadline(instruction.approved_at, days)
            if (deadline.due_at, deadline.provisional) == (before, was_provisional):
                continue
            instruction.response_due_at = deadline.due_at
            instruction.deadline_provisional = deadline.provisional
            instruction.save(update_fields=["response_due_at", "deadline_provisional"])
            if deadline.due_at != before:
                # The old clock no longer applies: it is met (its flags resolve) and a new
                # one runs to the new time, so the sweep warns and flags afresh.
                deadlines_meet(
                    now=now, kinds=[DeadlineKind.BANK_RESPONSE], instructions=[instruction.pk]
                )
                instruction.case = case
                open_bank_response_clock(instruction, now)
            record_event(
                case=case,
                type=EventType.DEADLINE_RECOMPUTED,
                actor=actor,
                instruction=instruction,
                calendar_year=year,
                response_due_at_before=timezone.localtime(before).isoformat(),
                response_due_at=timezone.localtime(deadline.due_at).isoformat(),
                provisional_before=was_provisional,
                provisional=deadline.provisional,
            )
            changed.append(instruction.pk)
    return changed


def calendar_year_set(
    *,
    actor: User | None,
    year: int,
    holidays: Sequence[CalendarEntry],
    working_days: Sequence[CalendarEntry],
    covered: bool = True,
    source: str = CalendarSource.ADMINISTRATOR,
) -> CalendarChange | None:
    """Replace a year's public holidays and adjusted working days, mark whether the year is
    complete, and recompute the open R11 deadlines counted over it.

    Answer the recorded change, or None when the year already stood so (nothing written).
    """
    _require_administrator(actor)
    days = calendar_days_validate(year, holidays, working_days)
    with transaction.atomic():
        # First, as instruction_approve takes it before its case: no R11 deadline is being
        # counted from the old calendar while this one replaces it.
        lock_calendar(exclusive=True)
        now = acting_time.now()
        calendar_year, created = CalendarYear.objects.select_for_update().get_or_create(
            year=year, defaults={"covered": covered, "source": source, "updated_at": now}
        )
        old = {
            day.date: (day.is_working_day, day.name)
            for day in CalendarDay.objects.filter(year=calendar_year)
        }
        covered_before = False if created else calendar_year.covered
        if not created and old == days and covered_before == covered:
            return None
        CalendarDay.objects.filter(year=calendar_year).delete()
        CalendarDay.objects.bulk_create(
            CalendarDay(year=calendar_year, date=day, is_working_day=working, name=name)
            for day, (working, name) in sorted(days.items())
        )
        calendar_year.covered = covered
        calendar_year.source = source
        calendar_year.updated_by = actor
        calendar_year.updated_at = now
        calendar_year.save(update_fields=["covered", "source", "updated_by", "updated_at"])

        def kind(entry: tuple[bool, str] | None) -> str | None:
            return None if entry is None else ("working_day" if entry[0] else "holiday")

        moved = sorted(d for d in old.keys() | days.keys() if kind(old.get(d)) != kind(days.get(d)))
        recomputed = (
            _recompute_return_deadlines(actor=actor, year=year, now=now)
            if moved or covered_before != covered
            else []
        )
        change = CalendarChange.objects.create(
            year=calendar_year,
            actor=actor,
            at=now,
            data={
                "source": source,
                "covered_before": covered_before,
                "covered": covered,
                "changed": [
                    {"date": d.isoformat(), "before": kind(old.get(d)), "after": kind(days.get(d))}
                    for d in moved
                ],
                "renamed": sorted(
                    d.isoformat()
                    for d in old.keys() & days.keys()
                    if old[d][0] == days[d][0] and old[d][1] != days[d][1]
                ),
                "days": len(days),
                "recomputed_instructions": recomputed,
            },
        )
        transaction.on_commit(lambda: cache.delete(COVERAGE_CACHE_KEY))
    return change
