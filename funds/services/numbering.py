"""Instrument numbers: issued by the system per unit, kind and year, or entered by an officer.

Which unit's numbering an instruction takes (its issuing unit): going up the police tree from
the case's unit, the first unit with a numbering of that kind (InstrumentSeries, set by an
administrator); if none has, the nearest unit at county level or above, with the default
pattern of INSTRUMENT_DEFAULT_PATTERNS (a station's instruments go out under its county
bureau's name, as 公安机关 instruments do).

Running numbers come from InstrumentCounter by one upsert whose row lock is held until the
issuing transaction ends, so concurrent approvals queue on it and the numbers of a unit, kind
and year are consecutive: a transaction that rolls back gives its number back. Callers hold
the case's and the instruction's locks already; the counter comes last in the lock order.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, connection
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization, UnitLevel
from funds.errors import RuleViolation
from funds.models import Instruction, InstrumentSeries, InstrumentSource
from funds.models.instructions import NUMBERED

UNIQUE_CONSTRAINT = "instruction_instrument_number_unique"


def issuing_unit(case_unit: Organization, kind: str) -> tuple[Organization, str]:
    """The unit whose numbering an instruction of ``kind`` in a case of ``case_unit`` takes,
    and its pattern."""
    ancestors = list(case_unit.ancestors())  # from the top
    series = {
        s.unit_id: s.pattern
        for s in InstrumentSeries.objects.filter(unit__in=ancestors, kind=kind).only(
            "unit_id", "pattern"
        )
    }
    for unit in reversed(ancestors):
        if unit.pk in series:
            return unit, series[unit.pk]
    for unit in reversed(ancestors):
        if unit.is_at_or_above(UnitLevel.COUNTY):
            return unit, settings.INSTRUMENT_DEFAULT_PATTERNS[kind]
    return case_unit, settings.INSTRUMENT_DEFAULT_PATTERNS[kind]


def _taken(unit: Organization, kind: str, number: str, *, excluding: int | None) -> bool:
    """Whether ``number`` is in use by an instruction of ``unit`` and ``kind`` (the test of
    the unique constraint instruction_instrument_number_unique)."""
    given_up = Q(status__in=["cancelled", "declined"], approved_at__isnull=True) & ~Q(
        kind="stop_payment"
    )
    taken = Instruction.objects.filter(
        issuing_unit=unit, kind=kind, instrument_number=number, instrument_source__in=NUMBERED
    ).exclude(given_up)
    if excluding is not None:
        taken = taken.exclude(pk=excluding)
    return taken.exists()


def instrument_number_issue(instruction: Instruction, *, unit: Organization, now: datetime) -> None:
    """Give ``instruction`` the next number of its issuing unit's numbering (not saved).

    A number that an officer entered by hand already (issued elsewhere in the same series)
    is stepped over: it is used, so the series has no gap."""
    if instruction.instrument_source in NUMBERED:
        return
    issuer, pattern = issuing_unit(unit, instruction.kind)
    year = timezone.localtime(now).year
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO funds_instrumentcounter (unit_id, kind, year, last)
                VALUES (%s, %s, %s, 1)
                ON CONFLICT (unit_id, kind, year)
                DO UPDATE SET last = funds_instrumentcounter.last + 1
                RETURNING last
                """,
                [issuer.pk, instruction.kind, year],
            )
            (last,) = cursor.fetchone()
        number = pattern.format(year=year, number=last, unit_code=issuer.code)
        if not _taken(issuer, instruction.kind, number, excluding=instruction.pk):
            break
    instruction.instrument_number = number
    instruction.issuing_unit = issuer
    instruction.instrument_source = InstrumentSource.ISSUED


def instrument_number_enter(instruction: Instruction, *, unit: Organization, number: str) -> None:
    """Keep a number issued outside casetracker on ``instruction`` (not saved), refusing one
    that its issuing unit has used for the same kind already."""
    number = number.strip()
    if not number:
        return
    if len(number) > 64:
        raise RuleViolation(
            _("An instrument number has at most 64 characters."), field="instrument_number"
        )
    issuer, _pattern = issuing_unit(unit, instruction.kind)
    if _taken(issuer, instruction.kind, number, excluding=instruction.pk):
        raise _number_taken(number)
    instruction.instrument_number = number
    instruction.issuing_unit = issuer
    instruction.instrument_source = InstrumentSource.ENTERED


def _number_taken(number: str) -> RuleViolation:
    return RuleViolation(
        _("The instrument number %(number)s is already used by this unit.") % {"number": number},
        field="instrument_number",
    )


def raise_if_number_taken(error: IntegrityError, number: str) -> None:
    """Turn the unique constraint's refusal (two requests entering the same number at once)
    into the same error the check gives; re-raise anything else."""
    if UNIQUE_CONSTRAINT in str(error):
        raise _number_taken(number) from error
    raise error
