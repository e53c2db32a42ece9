"""The totals report: counts and amounts at every stage for a unit's subtree, by child unit,
institution, day, week or month (API.md "Reports"; the manager's desk; the periodic reports).

It reads what the triggers of migration funds 0005 maintain (funds.reports.figures defines
each figure and names its trigger): the folded ReportTotal rows of the scope and its
children, by month where whole months are asked for and by day at the edges, plus the
changes not folded yet, in one statement. It never touches cases or instructions, so a
report costs the same at a thousand instructions and at a million (docs/reports.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db import connections
from django.utils.translation import gettext as _

from accounts.models import Organization
from funds.errors import RuleViolation
from funds.replica import report_database
from funds.reports.figures import COLUMNS, Figures, Keyed
from funds.reports.periods import (
    month_start,
    next_month,
    next_period,
    period_key,
    period_start,
    previous_month,
)

GROUPINGS = ("unit", "institution", "day", "week", "month")


@dataclass
class Row:
    key: str
    label: str
    figures: Figures


def totals(
    *,
    scope: Organization,
    group_by: str,
    date_from: date | None = None,
    date_to: date | None = None,
    max_days: int | None = None,
) -> tuple[list[Row], Figures]:
    """The figures of ``scope``'s subtree between two local dates, grouped; and their total
    (the whole subtree's figures, whatever the grouping).

    By day, a span of more than ``max_days`` days (the bounds given, else the first and last
    day with figures) is refused on ``group_by``, before its rows are built."""
    if group_by not in GROUPINGS:
        raise ValueError(group_by)
    children = (
        list(Organization.objects.filter(parent=scope).order_by("code"))
        if group_by == "unit"
        else []
    )
    keyed = keyed_totals(scope, children, group_by, date_from, date_to)
    return _grouped(
        keyed,
        scope=scope,
        children=children,
        group_by=group_by,
        span=(date_from, date_to),
        max_days=max_days,
    )


def _grouped(
    keyed: dict[Any, Keyed],
    *,
    scope: Organization,
    children: list[Organization],
    group_by: str,
    span: tuple[date | None, date | None],
    max_days: int | None = None,
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
    if (
        group_by == "day"
        and max_days is not None
        and first is not None
        and last is not None
        and (last - first).days >= max_days
    ):
        raise RuleViolation(
            _("By day, a period of at most %(days)d days: group by week or month instead.")
            % {"days": max_days},
            field="group_by",
        )
    rows = []
    current = first
    while current is not None and last is not None and current <= last:
        label = period_key(current, group_by)
        rows.append(Row(label, label, keyed.get(current, Keyed()).combined()))
        current = next_period(current, group_by)
    return rows, total


SUMS = ", ".join(f"sum({name})" for name in COLUMNS)


def child_of(scope: Organization) -> str:
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


def keyed_totals(
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
            CROSS JOIN LATERAL (VALUES (%s::bigint), ({child_of(scope)})) AS k(unit_id)
            WHERE u.path LIKE %s AND k.unit_id = ANY(%s) {change_days}
        )
        SELECT {key}, institution_id IS NULL, {SUMS} FROM figures GROUP BY 1, 2
    """  # noqa: S608 - interpolated: column names, constant SQL and a path length; values are parameters
    keyed: dict[Any, Keyed] = defaultdict(Keyed)
    with connections[report_database()].cursor() as cursor:
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
