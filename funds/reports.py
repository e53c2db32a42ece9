"""Reports for managers: totals at every stage and speed measures, by child unit, institution
or period (API.md "Reports"; the manager's desk; the periodic reports).

Both read what the triggers of migration funds 0005 maintain (funds.models.reports): the
totals read the folded ReportTotal rows of the scope and its children, by month where whole
months are asked for and by day at the edges, plus the changes not folded yet, in one
statement; the speed measures read SpeedSample rows of the period. Neither touches cases or
instructions, so a report costs the same at a thousand instructions and at a million
(docs/reports.md).

Definitions (all days are local days):

* ``cases``: cases reported in the period; by institution, those of them it was asked about;
* ``loss``: the victims' reported loss in those cases;
* ``stop_requested``: stop-payments asked for in the period, not cancelled;
* ``stopped``, ``frozen``, ``released``, ``returned``: instructions executed in the period
  with an amount (the amount executed);
* ``held``: of the money frozen in the period, what is still held now;
* ``overdue_flags``: overdue flags raised in the period (by institution: late answers of
  that institution), ``overdue_open``: how many of them are still open now.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection

from accounts.models import Organization
from funds.models import SpeedMeasure
from funds.models.money import ZERO

GROUPINGS = ("unit", "institution", "day", "week", "month")
SPEED_GROUPINGS = ("unit", "institution")
AMOUNT_FIGURES = ("stop_requested", "stopped", "frozen", "released", "returned")
MEASURES = tuple(SpeedMeasure.values)
# Measures that belong to a police unit, not to an institution.
POLICE_MEASURES = (SpeedMeasure.FIRST_STOP,)


# -- figures ------------------------------------------------------------------------------


@dataclass
class Figures:
    cases: int = 0
    loss: Decimal = ZERO
    stop_requested: tuple[int, Decimal] = (0, ZERO)
    stopped: tuple[int, Decimal] = (0, ZERO)
    frozen: tuple[int, Decimal] = (0, ZERO)
    released: tuple[int, Decimal] = (0, ZERO)
    returned: tuple[int, Decimal] = (0, ZERO)
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


COLUMNS = (
    "cases",
    "loss",
    *(f"{name}_{part}" for name in AMOUNT_FIGURES for part in ("count", "amount")),
    "held",
    "overdue_flags",
    "overdue_open",
)


@dataclass
class Row:
    key: str
    label: str
    figures: Figures


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


# -- dates --------------------------------------------------------------------------------


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


def _next_period(start: date, group_by: str) -> date:
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


# -- totals -------------------------------------------------------------------------------


def totals(
    *,
    scope: Organization,
    group_by: str,
    date_from: date | None = None,
    date_to: date | None = None,
) -> tuple[list[Row], Figures]:
    """The figures of ``scope``'s subtree between two local dates, grouped; and their total
    (the whole subtree's figures, whatever the grouping)."""
    if group_by not in GROUPINGS:
        raise ValueError(group_by)
    children = (
        list(Organization.objects.filter(parent=scope).order_by("code"))
        if group_by == "unit"
        else []
    )
    keyed = _keyed_summary(scope, children, group_by, date_from, date_to)
    return _grouped(
        keyed, scope=scope, children=children, group_by=group_by, span=(date_from, date_to)
    )


def _grouped(
    keyed: dict[Any, Keyed],
    *,
    scope: Organization,
    children: list[Organization],
    group_by: str,
    span: tuple[date | None, date | None],
) -> tuple[list[Row], Figures]:
    if group_by == "unit":
        # Keys are unit ids: the scope's whole subtree, and each child's.
        total = keyed.get(scope.pk, Keyed()).combined()
        rows = [Row(c.code, c.name, keyed.get(c.pk, Keyed()).combined()) for c in children]
        own = Figures()
        own.add(total)
        for row in rows:
            own.add(row.figures, sign=-1)
        if own != Figures():
            rows.insert(0, Row(scope.code, scope.name, own))
        return rows, total
    total_keyed = Keyed()
    for entry in keyed.values():
        total_keyed.case_level.add(entry.case_level)
        total_keyed.asked.add(entry.asked)
    total = total_keyed.combined()
    if group_by == "institution":
        institutions = Organization.objects.institutions().order_by("code")
        return [
            Row(i.code, i.name, keyed.get(i.pk, Keyed()).combined(institution=True))
            for i in institutions
        ], total
    starts = sorted(keyed)
    first = period_start(span[0], group_by) if span[0] else (starts[0] if starts else None)
    last = period_start(span[1], group_by) if span[1] else (starts[-1] if starts else None)
    rows = []
    current = first
    while current is not None and last is not None and current <= last:
        label = period_key(current, group_by)
        rows.append(Row(label, label, keyed.get(current, Keyed()).combined()))
        current = _next_period(current, group_by)
    return rows, total


SUMS = ", ".join(f"sum({name})" for name in COLUMNS)


def _child_of(scope: Organization) -> str:
    """SQL: the id of the child of ``scope`` whose subtree holds unit ``u`` (NULL for the scope
    itself), from the materialised path."""
    return f"NULLIF(split_part(substr(u.path, {len(scope.path) + 1}), '/', 1), '')::bigint"


def _between(column: str, first: date | None, last: date | None, params: list[Any]) -> str:
    sql = ""
    if first is not None:
        sql += f" AND {column} >= %s"
        params.append(first)
    if last is not None:
        sql += f" AND {column} <= %s"
        params.append(last)
    return sql


def _periods(first: date | None, last: date | None, by_day: bool, params: list[Any]) -> str:
    """SQL over funds_reporttotal: whole months by their month rows, the edges by day rows."""
    if by_day:
        return "(grain = 'day'" + _between("start", first, last, params) + ")"
    first_month = None if first is None else first if first.day == 1 else next_month(first)
    last_month = None
    if last is not None:
        last_month = (
            month_start(last)
            if next_month(last) - timedelta(days=1) == last
            else previous_month(last)
        )
    if first_month is not None and last_month is not None and first_month > last_month:
        return "(grain = 'day'" + _between("start", first, last, params) + ")"
    parts = ["(grain = 'month'" + _between("start", first_month, last_month, params) + ")"]
    if first is not None and first_month is not None and first < first_month:
        parts.append("(grain = 'day' AND start >= %s AND start < %s)")
        params += [first, first_month]
    if last is not None and last_month is not None and last >= next_month(last_month):
        parts.append("(grain = 'day' AND start >= %s AND start <= %s)")
        params += [next_month(last_month), last]
    return "(" + " OR ".join(parts) + ")"


def _keyed_summary(
    scope: Organization,
    children: list[Organization],
    group_by: str,
    date_from: date | None,
    date_to: date | None,
) -> dict[Any, Keyed]:
    """One statement: the folded subtree totals of the scope (and its children), plus the
    changes not yet folded, mapped onto the same units by their paths."""
    units = [scope.pk, *(c.pk for c in children)]
    params: list[Any] = [units]
    periods = _periods(date_from, date_to, group_by in ("day", "week"), params)
    params += [scope.pk, f"{scope.path}%", units]
    change_days = _between("d.day", date_from, date_to, params)
    key = {
        "unit": "unit_id",
        "institution": "institution_id",
        "day": "day",
        "week": "date_trunc('week', day::timestamp)::date",
        "month": "date_trunc('month', day::timestamp)::date",
    }[group_by]
    columns = ", ".join(COLUMNS)
    sql = f"""
        WITH figures AS (
            SELECT unit_id, institution_id, start AS day, {columns}
            FROM funds_reporttotal WHERE unit_id = ANY(%s) AND {periods}
            UNION ALL
            SELECT k.unit_id, d.institution_id, d.day, {", ".join(f"d.{c}" for c in COLUMNS)}
            FROM funds_totalschange d
            JOIN accounts_organization u ON u.id = d.unit_id
            CROSS JOIN LATERAL (VALUES (%s::bigint), ({_child_of(scope)})) AS k(unit_id)
            WHERE u.path LIKE %s AND k.unit_id = ANY(%s) {change_days}
        )
        SELECT {key}, institution_id IS NULL, {SUMS} FROM figures GROUP BY 1, 2
    """  # noqa: S608 - interpolated: column names, constant SQL and a path length; values are parameters
    keyed: dict[Any, Keyed] = defaultdict(Keyed)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for key_value, case_level, *values in cursor.fetchall():
            entry = keyed[key_value]
            (entry.case_level if case_level else entry.asked).add(Figures.from_columns(values))
    return keyed


def rows_as_json(rows: Iterable[Row], total: Figures) -> dict[str, Any]:
    return {
        "rows": [{"key": r.key, "label": r.label, **r.figures.as_json()} for r in rows],
        "total": total.as_json(),
    }


# -- speed measures -----------------------------------------------------------------------


@dataclass
class Speed:
    """How many intervals were measured, their median and 90th percentile, in seconds."""

    count: int = 0
    median: float | None = None
    p90: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "median": None if self.median is None else round(self.median, 1),
            "p90": None if self.p90 is None else round(self.p90, 1),
        }


@dataclass
class SpeedRow:
    key: str
    label: str
    measures: dict[str, Speed]
    overdue_flags: int = 0
    overdue_open: int = 0
    rank: int | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"key": self.key, "label": self.label, "rank": self.rank}
        for name in MEASURES:
            data[name] = self.measures.get(name, Speed()).as_json()
        data["overdue_flags"] = self.overdue_flags
        data["overdue_open"] = self.overdue_open
        return data


def speed(
    *,
    scope: Organization,
    group_by: str,
    date_from: date,
    date_to: date,
    rank_by: str | None = None,
) -> tuple[list[SpeedRow], SpeedRow, str]:
    """The league table: speed measures and overdue flags per child unit or institution, for
    intervals that started between two local dates; and the subtree's total row.

    Rows are ranked by the median of ``rank_by`` (fastest first; rows without a measure
    last), by default report-to-first-stop for units and the stop-payment answer for banks.
    """
    if group_by not in SPEED_GROUPINGS:
        raise ValueError(group_by)
    rank_by = rank_by or (
        SpeedMeasure.FIRST_STOP if group_by == "unit" else SpeedMeasure.STOP_ANSWER
    )
    if group_by == "unit":
        targets = list(Organization.objects.filter(parent=scope).order_by("code"))
    else:
        targets = list(Organization.objects.institutions().order_by("code"))
    children = targets if group_by == "unit" else []
    measured = _speed_summary(scope, group_by, date_from, date_to)
    keyed = _keyed_summary(scope, children, group_by, date_from, date_to)
    total_flags = Keyed()
    if group_by == "unit":
        total_flags = keyed.get(scope.pk, Keyed())
    else:
        for entry in keyed.values():
            total_flags.case_level.add(entry.case_level)
            total_flags.asked.add(entry.asked)

    def row_for(key: str, label: str, measures: dict[str, Speed], flags: Keyed) -> SpeedRow:
        figures = flags.combined()
        return SpeedRow(key, label, measures, figures.overdue_flags, figures.overdue_open)

    rows = [
        row_for(t.code, t.name, measured.get(t.pk, {}), keyed.get(t.pk, Keyed())) for t in targets
    ]
    if group_by == "unit":
        # Cases of the scope itself, outside every child's subtree.
        own_flags = Keyed()
        own_flags.case_level.add(total_flags.case_level)
        own_flags.asked.add(total_flags.asked)
        for t in targets:
            own_flags.case_level.add(keyed.get(t.pk, Keyed()).case_level, sign=-1)
            own_flags.asked.add(keyed.get(t.pk, Keyed()).asked, sign=-1)
        own = row_for(scope.code, scope.name, measured.get(None, {}), own_flags)
        if own.measures or own.overdue_flags:
            rows.insert(0, own)
    ranked = sorted(
        (r for r in rows if r.measures.get(rank_by, Speed()).median is not None),
        key=lambda r: (r.measures[rank_by].median, r.key),
    )
    for rank, row in enumerate(ranked, start=1):
        row.rank = rank
    unranked = [r for r in rows if r.rank is None]
    total = row_for(scope.code, scope.name, measured.get("total", {}), total_flags)
    return ranked + unranked, total, rank_by


def _speed_summary(
    scope: Organization, group_by: str, date_from: date, date_to: date
) -> dict[Any, dict[str, Speed]]:
    """One statement: count, median and 90th percentile per measure and key, and per measure
    over the whole subtree (GROUPING SETS), from the samples of the period. Both percentiles
    come from one call, so each group is sorted once."""
    key = "units.child" if group_by == "unit" else "s.institution_id"
    # The child of each unit is worked out once per unit, not once per sample.
    sql = f"""
        WITH units AS (
            SELECT u.id, {_child_of(scope)} AS child FROM accounts_organization u
            WHERE u.path LIKE %s
        )
        SELECT s.measure, {key}, GROUPING({key}), count(*),
               percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY s.seconds)
        FROM funds_speedsample s JOIN units ON units.id = s.unit_id
        WHERE s.day >= %s AND s.day <= %s
        GROUP BY GROUPING SETS ((s.measure, {key}), (s.measure))
    """  # noqa: S608 - interpolated: constant SQL and a path length; values are parameters
    measured: dict[Any, dict[str, Speed]] = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(sql, [f"{scope.path}%", date_from, date_to])
        for measure, key_value, is_total, count, (median, p90) in cursor.fetchall():
            if group_by == "institution" and measure in POLICE_MEASURES and not is_total:
                continue
            measured["total" if is_total else key_value][measure] = Speed(count, median, p90)
    return measured


def speed_as_json(rows: Iterable[SpeedRow], total: SpeedRow) -> dict[str, Any]:
    return {"rows": [r.as_json() for r in rows], "total": total.as_json()}
