"""The manager's desk as tables: each section of the page is a ``Table`` built once, from
which both the page and the section's Excel download are made, so that the download holds
exactly what the section shows (the same unit, period, filters, order and amount unit).

Figures come from the reports (funds.reports.totals, .speed, .stock), which read what the
triggers maintain; nothing here recomputes a figure. Amounts are kept as Decimal yuan in the
tables and scaled to 万元 only when shown or written (``scaled``).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Case, QuerySet, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]

from accounts.models import Organization
from funds.models import AllocationRound, Flag, FlagLevel, Instruction, SpeedMeasure
from funds.reports.figures import Figures
from funds.reports.periods import period_start
from funds.reports.speed import Speed, SpeedRow
from funds.reports.totals import Row
from funds.spreadsheets import neutralise

AMOUNT_UNITS = {"yuan": gettext_lazy("yuan"), "wan": gettext_lazy("10,000 yuan")}
TEN_THOUSAND = Decimal(10000)
TRENDS = ("day", "week", "month")
# A trend finer than this many points is shown one step coarser (a year by day is 366).
TREND_MAX_POINTS = 400
LEAGUE_STATS = ("median", "p90")
# A download holds every row of its table up to this many (the open flags can be many).
EXPORT_MAX_ROWS = 50_000
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def scaled(amount: Decimal | None, unit: str) -> Decimal | None:
    """An amount of yuan in the unit the desk shows (万元 to four places: exact to the yuan)."""
    if amount is None:
        return None
    if unit == "wan":
        return (Decimal(amount) / TEN_THOUSAND).quantize(Decimal("0.0001"))
    return Decimal(amount)


@dataclass
class Column:
    label: str
    # text, count, money, hours (a duration in seconds shown as hours), time, date
    kind: str = "text"
    sort: str | None = None  # the league's sort key of this column, where it sorts
    href: str | None = None  # the page's link that sorts by this column
    aria_sort: str | None = None  # "ascending" or "descending" on the column sorted by


@dataclass
class Cell:
    """A value with what the page adds to it: a link, a mark (best, worst), a note."""

    value: Any
    href: str | None = None
    mark: str | None = None
    note: str | None = None


@dataclass
class Table:
    name: str
    title: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)
    total: list[Any] | None = None
    # Rows the page shows of a longer list (the flags' page); the download has them all.
    count: int | None = None


def cell_value(cell: Any) -> Any:
    return cell.value if isinstance(cell, Cell) else cell


# -- the totals, by unit, by institution, and over time ---------------------------------------

FIGURE_COLUMNS = (
    ("cases", gettext_lazy("Cases"), "count"),
    ("loss", gettext_lazy("Loss"), "money"),
    ("stop_requested", gettext_lazy("Asked to stop"), "pair"),
    ("stopped", gettext_lazy("Stopped"), "pair"),
    ("frozen", gettext_lazy("Frozen"), "pair"),
    ("released", gettext_lazy("Released"), "money1"),
    ("returned", gettext_lazy("Returned"), "pair"),
)


def _figure_columns() -> list[Column]:
    columns: list[Column] = []
    for _name, label, kind in FIGURE_COLUMNS:
        if kind == "pair":
            columns.append(Column(_("%(figure)s (count)") % {"figure": label}, "count"))
            columns.append(Column(str(label), "money"))
        else:
            columns.append(Column(str(label), "money" if kind == "money1" else kind))
    return columns


def _figure_cells(figures: Figures) -> list[Any]:
    cells: list[Any] = []
    for name, _label, kind in FIGURE_COLUMNS:
        value = getattr(figures, name)
        if kind == "pair":
            cells.extend([value[0], value[1]])
        elif kind == "money1":
            cells.append(value[1])
        else:
            cells.append(value)
    return cells


def totals_table(
    name: str,
    title: str,
    rows: list[Row],
    total: Figures,
    *,
    held_now: dict[str, Decimal],
    held_total: Decimal,
    link: Callable[[Row], str | None] = lambda row: None,
    key_label: str,
) -> Table:
    columns = [Column(key_label), *_figure_columns(), Column(_("Still held now"), "money")]
    return Table(
        name,
        title,
        columns,
        [
            [Cell(row.label, href=link(row)), *_figure_cells(row.figures), held_now[row.key]]
            for row in rows
        ],
        total=[_("Total"), *_figure_cells(total), held_total],
    )


def trend_table(rows: list[Row], total: Figures, trend: str) -> Table:
    label = {"day": _("Day"), "week": _("Week"), "month": _("Month")}[trend]
    columns = [Column(label), *_figure_columns()]
    return Table(
        "trend",
        _("Over time"),
        columns,
        [[row.label, *_figure_cells(row.figures)] for row in rows],
        total=[_("Total"), *_figure_cells(total)],
    )


def trend_grain(start: date, end: date, asked: str | None) -> tuple[str, bool]:
    """The trend's step: the one asked for unless it would draw more than TREND_MAX_POINTS
    points (then the next coarser, and True); by default the finest that fits."""
    wanted = asked if asked in TRENDS else "day"
    for grain in TRENDS[TRENDS.index(wanted) :]:
        if _points(start, end, grain) <= TREND_MAX_POINTS:
            return grain, grain != wanted and asked in TRENDS
    return "month", asked in TRENDS and asked != "month"


def _points(start: date, end: date, grain: str) -> int:
    if grain == "day":
        return (end - start).days + 1
    if grain == "week":
        return (period_start(end, "week") - period_start(start, "week")).days // 7 + 1
    return (end.year - start.year) * 12 + end.month - start.month + 1


# -- the speed league ----------------------------------------------------------------------


def league_sort_keys() -> list[str]:
    return [f"{measure}.{stat}" for measure in SpeedMeasure.values for stat in LEAGUE_STATS]


def league_table(
    name: str,
    title: str,
    rows: list[SpeedRow],
    total: SpeedRow,
    *,
    measures: Iterable[str],
    sort: str,
    descending: bool,
    key_label: str,
) -> Table:
    """The league by one column (``measure.stat``), fastest first unless ``descending``; the
    fastest row is marked best and the slowest worst (when at least two rows are measured).
    The rank is the place by that column, 1 the fastest; rows not measured come last."""
    measure, stat = sort.split(".")
    measures = list(measures)

    def value(row: SpeedRow) -> float | None:
        return getattr(row.measures.get(measure, Speed()), stat)

    measured = sorted((r for r in rows if value(r) is not None), key=lambda r: (value(r), r.key))
    unmeasured = [r for r in rows if value(r) is None]
    rank = {r.key: place for place, r in enumerate(measured, start=1)}
    best = measured[0].key if len(measured) > 1 else None
    worst = measured[-1].key if len(measured) > 1 else None
    ordered = (list(reversed(measured)) if descending else measured) + unmeasured
    labels = dict(SpeedMeasure.choices)
    columns = [Column(_("Rank"), "count"), Column(key_label)]
    for name_ in measures:
        columns.append(Column(_("%(measure)s: count") % {"measure": labels[name_]}, "count"))
        columns.append(
            Column(
                _("%(measure)s: median") % {"measure": labels[name_]},
                "hours",
                sort=f"{name_}.median",
            )
        )
        columns.append(
            Column(
                _("%(measure)s: 90th percentile") % {"measure": labels[name_]},
                "hours",
                sort=f"{name_}.p90",
            )
        )
    columns += [Column(_("Overdue flags"), "count"), Column(_("Still open"), "count")]

    def cells(row: SpeedRow, place: Any) -> list[Any]:
        out: list[Any] = [place]
        mark = "best" if row.key == best else "worst" if row.key == worst else None
        out.append(Cell(row.label, mark=mark))
        for name_ in measures:
            speed = row.measures.get(name_, Speed())
            out += [speed.count, speed.median, speed.p90]
        return [*out, row.overdue_flags, row.overdue_open]

    return Table(
        name,
        title,
        columns,
        [cells(r, rank.get(r.key)) for r in ordered],
        total=cells(total, _("Total")),
    )


# -- what waits: approvals, rounds, flags ---------------------------------------------------


def approvals_table(approvals: list[Instruction]) -> Table:
    columns = [
        Column(_("Asked at"), "time"),
        Column(_("Kind")),
        Column(_("Case")),
        Column(_("Unit")),
        Column(_("Account")),
        Column(_("Holder")),
        Column(_("Amount"), "money"),
        Column(_("Asked by")),
    ]
    return Table(
        "approvals",
        _("Waiting for approval"),
        columns,
        [
            [
                i.requested_at,
                i.get_kind_display(),
                Cell(i.case.number, href=reverse("case-detail", args=[i.case_id])),
                i.case.unit.name,
                i.involved_account.account.number,
                i.involved_account.holder_name,
                i.requested_amount,
                i.requested_by.get_full_name() or i.requested_by.username,
            ]
            for i in approvals
        ],
    )


def rounds_table(name: str, title: str, rounds: list[AllocationRound]) -> Table:
    columns = [
        Column(_("Notice until"), "time"),
        Column(_("Case")),
        Column(_("Unit")),
        Column(_("Freeze")),
        Column(_("Account")),
        Column(_("Shared"), "money"),
        Column(_("Victims"), "count"),
        Column(_("Objections"), "count"),
        Column(_("Opened by")),
    ]
    return Table(
        name,
        title,
        columns,
        [
            [
                r.notice_until,
                Cell(r.case.number, href=reverse("case-detail", args=[r.case_id])),
                r.case.unit.name,
                f"#{r.freeze_id}",
                r.freeze.involved_account.account.number,
                r.available,
                len(r.shares.all()),
                len(r.objections.all()),
                r.opened_by.get_full_name() or r.opened_by.username,
            ]
            for r in rounds
        ],
    )


def flags_table(flags: Iterable[Flag], count: int) -> Table:
    columns = [
        Column(_("Level")),
        Column(_("Kind")),
        Column(_("Case")),
        Column(_("Title")),
        Column(_("Unit")),
        Column(_("Due"), "time"),
        Column(_("Raised"), "time"),
        Column(_("Escalation steps"), "count"),
    ]
    return Table(
        "flags",
        _("Open flags"),
        columns,
        [
            [
                Cell(f.get_level_display(), mark=f.level),
                f.get_kind_display(),
                Cell(f.case.number, href=reverse("case-detail", args=[f.case_id])),
                f.case.title,
                f.case.unit.name,
                f.due_at,
                f.raised_at,
                f.escalation_step,
            ]
            for f in flags
        ],
        count=count,
    )


def open_flags(
    visible: QuerySet[Flag], scope: Organization, *, kind: str, level: str, case: str
) -> QuerySet[Flag]:
    """The open flags of the scope's subtree, filtered; most serious first, then soonest."""
    flags = visible.filter(resolved_at__isnull=True, case__unit__path__startswith=scope.path)
    if kind:
        flags = flags.filter(kind=kind)
    if level:
        flags = flags.filter(level=level)
    if case:
        flags = flags.filter(case__number__icontains=case)
    serious_first = Case(When(level=FlagLevel.OVERDUE, then=Value(0)), default=Value(1))
    return flags.select_related("case__unit").order_by(serious_first, "due_at", "id")


# -- the Excel download -------------------------------------------------------------------


def _xlsx_value(cell: Any, column: Column, unit: str) -> Any:
    value = cell_value(cell)
    if value is None:
        return None
    if column.kind == "money":
        return float(scaled(value, unit) or 0)  # openpyxl writes Decimal as text in some readers
    if column.kind == "hours":
        return round(value / 3600, 2)
    if column.kind == "time" and isinstance(value, datetime):
        return timezone.localtime(value).replace(tzinfo=None)
    return neutralise(str(value)) if not isinstance(value, int | float | Decimal | date) else value


def _xlsx_header(column: Column, unit: str) -> str:
    if column.kind == "money":
        return _("%(label)s (%(unit)s)") % {"label": column.label, "unit": AMOUNT_UNITS[unit]}
    if column.kind == "hours":
        return _("%(label)s (%(unit)s)") % {"label": column.label, "unit": _("hours")}
    return column.label


def table_xlsx(table: Table, *, caption: str, unit: str) -> bytes:
    """The table as one sheet: a caption row (what, where, when), the headers, the rows (all
    of them, not a page), and the total row where the table has one."""
    book = Workbook()
    sheet = book.active
    sheet.title = table.name[:31]
    sheet.append([neutralise(caption)])
    sheet.append([neutralise(_xlsx_header(c, unit)) for c in table.columns])
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for row in table.rows:
        sheet.append([_xlsx_value(v, c, unit) for v, c in zip(row, table.columns, strict=True)])
    if table.total is not None:
        sheet.append(
            [_xlsx_value(v, c, unit) for v, c in zip(table.total, table.columns, strict=True)]
        )
        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)
    for index, column in enumerate(table.columns, start=1):
        if column.kind == "time":
            for (cell,) in sheet.iter_rows(min_row=3, min_col=index, max_col=index):
                cell.number_format = "yyyy-mm-dd hh:mm"
        elif column.kind == "money":
            for (cell,) in sheet.iter_rows(min_row=3, min_col=index, max_col=index):
                cell.number_format = "#,##0.00" if unit == "yuan" else "#,##0.0000"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
