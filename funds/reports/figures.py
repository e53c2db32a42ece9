"""What each report figure counts, and the SQL in PostgreSQL that keeps it.

Every figure is defined once, in SQL, by the builder functions of migration funds 0018
(funds/migrations/0018_report_triggers_queued_freezes.py, which replaced the functions
that migration 0005 first wrote). Its statement-level triggers, named
``<table>_report_<insert|update|delete>``, run those definitions over the rows a statement
touched: inserts add the new rows' contribution, deletes take the old rows' away, updates
do both for the rows whose relevant columns changed. ``funds_report_replay()`` runs the
same definitions over the whole tables (funds.reports.folding rebuilds with it). Python
never recomputes a figure: it adds up what the triggers wrote (funds.reports.totals,
funds.reports.speed). All days are Asia/Shanghai days (funds.reports.checks).

The totals (columns of funds.models.reports.FigureColumns; rows of funds_totalschange,
folded into funds_reporttotal):

* ``cases``: cases reported in the period, on the case's report day (``case_figures``, in
  ``funds_case_report_insert``, ``_delete``); by institution, the cases it was asked about,
  once per case and institution (``institution_cases``, in
  ``funds_instruction_report_insert``, ``_delete``);
* ``loss``: the victims' reported loss, on the case's report day (``victim_figures``, in
  ``funds_victim_report_insert``, ``_update``, ``_delete``);
* ``stop_requested``: stop-payments asked for, on the request day, not cancelled: how many,
  and the amounts asked (``instruction_figures``, in
  ``funds_instruction_report_insert``, ``_update``, ``_delete``);
* ``stopped``, ``released``, ``returned``: instructions of each kind executed with an
  amount, on the answer day: how many, and the amounts executed (the same);
* ``frozen``: freezes whose hold the bank confirmed with an amount, on the day it did
  (``hold_confirmed_at``: the answer itself, or for a queued freeze the later confirmation
  once it took effect; the same);
* ``held``: of the money frozen that day, what is still held now: executed less released
  less returned (the same; a release or return updates its freeze's row);
* ``queued``: freezes asked for that day that still wait behind another case's (R12): not
  yet confirmed as holding, not ended, not refused; the amount the bank registered, or else
  the amount asked (the same). Never part of ``frozen`` or ``held``;
* ``overdue_flags``: overdue flags raised that day, against the bank for a late answer
  (``bank_response_overdue``) and against the case otherwise; ``overdue_open``: how many of
  them are still open (``flag_figures``, in ``funds_flag_report_insert``, ``_update``,
  ``_delete``).

``funds_case_report_update`` marks the totals stale when a case changes unit or report time,
so that the next refresh rebuilds them (funds.reports.folding).

The speed measures (rows of funds_speedsample, one per interval, reported on the local day
it started; seconds, never negative):

* ``first_stop``: the case's report time to its first stop-payment request, whatever became
  of it (R13; ``first_stop_samples``, in ``funds_instruction_report_insert``);
* ``stop_answer``, ``freeze_answer``, ``return_answer``: a stop-payment's request, or a
  freeze's or return's approval, to the institution's answer, executed or rejected (R1,
  R14, R11; ``answer_samples``, in ``funds_instruction_report_insert``, ``_update``);
* ``stop_to_freeze``: the first executed stop-payment with an amount on an account to the
  first executed freeze with an amount on it (the same);
* ``freeze_to_return``: a freeze's execution to its first executed return (the same).

``funds_case_report_delete`` deletes the samples of a deleted case.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from funds.models import SpeedMeasure
from funds.models.money import ZERO

AMOUNT_FIGURES = ("stop_requested", "stopped", "frozen", "released", "returned", "queued")
# The columns of funds.models.reports.FigureColumns, in the order the statements read them.
COLUMNS = (
    "cases",
    "loss",
    *(f"{name}_{part}" for name in AMOUNT_FIGURES for part in ("count", "amount")),
    "held",
    "overdue_flags",
    "overdue_open",
)
MEASURES = tuple(SpeedMeasure.values)


@dataclass
class Figures:
    cases: int = 0
    loss: Decimal = ZERO
    stop_requested: tuple[int, Decimal] = (0, ZERO)
    stopped: tuple[int, Decimal] = (0, ZERO)
    frozen: tuple[int, Decimal] = (0, ZERO)
    released: tuple[int, Decimal] = (0, ZERO)
    returned: tuple[int, Decimal] = (0, ZERO)
    # R12: of the freezes asked for in the period, those still waiting behind another case's.
    queued: tuple[int, Decimal] = (0, ZERO)
    # Of the money frozen in the period, what is still held now.
    held: Decimal = ZERO
    overdue_flags: int = 0
    overdue_open: int = 0

    def add(self, other: Figures, sign: int = 1) -> None:
        self.cases += sign * other.cases
        self.loss += sign * other.loss
        self.held += sign * other.held
        self.overdue_flags += sign * other.overdue_flags
        self.overdue_open += sign * other.overdue_open
        for name in AMOUNT_FIGURES:
            mine, theirs = getattr(self, name), getattr(other, name)
            setattr(self, name, (mine[0] + sign * theirs[0], mine[1] + sign * theirs[1]))

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"cases": self.cases, "loss": f"{self.loss:.2f}"}
        for name in AMOUNT_FIGURES:
            count, amount = getattr(self, name)
            data[name] = {"count": count, "amount": f"{amount:.2f}"}
        data["held"] = f"{self.held:.2f}"
        return data

    @classmethod
    def from_columns(cls, values: Iterable[Any]) -> Figures:
        """From the columns of funds.models.reports.FigureColumns, in COLUMNS order."""
        row = dict(zip(COLUMNS, values, strict=True))
        figures = cls(
            cases=int(row["cases"]),
            loss=Decimal(row["loss"]),
            held=Decimal(row["held"]),
            overdue_flags=int(row["overdue_flags"]),
            overdue_open=int(row["overdue_open"]),
        )
        for name in AMOUNT_FIGURES:
            count, amount = row[f"{name}_count"], row[f"{name}_amount"]
            setattr(figures, name, (int(count), Decimal(amount)))
        return figures


@dataclass
class Keyed:
    """The figures of one report key, kept apart: ``case_level`` (what belongs to the case and
    flags not owed by a bank) and ``asked`` (what was asked of institutions)."""

    case_level: Figures = field(default_factory=Figures)
    asked: Figures = field(default_factory=Figures)

    def combined(self, *, institution: bool = False) -> Figures:
        """The key's figures; ``cases`` counts reported cases, or for an institution the
        cases it was asked about."""
        figures = Figures()
        figures.add(self.case_level)
        figures.add(self.asked)
        figures.cases = self.asked.cases if institution else self.case_level.cases
        return figures
