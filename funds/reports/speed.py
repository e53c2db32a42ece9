"""The speed report: a league table of how fast each child unit or institution works, with
the overdue flags (API.md "Reports"; the periodic reports).

It reads the SpeedSample rows that the triggers of migration funds 0005 write as each
measured interval ends (funds.reports.figures defines each measure and names its trigger):
count, median and 90th percentile per measure, in one statement over a covering index; and
the overdue flags from the totals (funds.reports.totals).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import connections

from accounts.models import Organization
from funds.models import SpeedMeasure
from funds.replica import report_database
from funds.reports.figures import MEASURES, Keyed
from funds.reports.totals import child_of, keyed_totals

SPEED_GROUPINGS = ("unit", "institution")
# Measures that belong to a police unit, not to an institution.
POLICE_MEASURES = (SpeedMeasure.FIRST_STOP,)


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
    keyed = keyed_totals(scope, children, group_by, date_from, date_to)
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
            SELECT u.id, {child_of(scope)} AS child FROM accounts_organization u
            WHERE u.path LIKE %s
        )
        SELECT s.measure, {key}, GROUPING({key}), count(*),
               percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY s.seconds)
        FROM funds_speedsample s JOIN units ON units.id = s.unit_id
        WHERE s.day >= %s AND s.day <= %s
        GROUP BY GROUPING SETS ((s.measure, {key}), (s.measure))
    """  # noqa: S608 - interpolated: constant SQL and a path length; values are parameters
    measured: dict[Any, dict[str, Speed]] = defaultdict(dict)
    with connections[report_database()].cursor() as cursor:
        cursor.execute(sql, [f"{scope.path}%", date_from, date_to])
        for measure, key_value, is_total, count, (median, p90) in cursor.fetchall():
            if group_by == "institution" and measure in POLICE_MEASURES and not is_total:
                continue
            measured["total" if is_total else key_value][measure] = Speed(count, median, p90)
    return measured


def speed_as_json(rows: Iterable[SpeedRow], total: SpeedRow) -> dict[str, Any]:
    return {"rows": [r.as_json() for r in rows], "total": total.as_json()}
