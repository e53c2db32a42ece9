"""A kept periodic report as one table with Chinese headers (the exchange format of the
provincial centre), and as CSV and XLSX files.

The table lays out the figures the report kept when it was generated; the triggers of
migration funds 0005 keep those figures (funds.reports.figures).
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from django.utils import timezone
from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]

from funds.models import PeriodicReport, ReportKind
from funds.spreadsheets import neutralise

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The Chinese names of the report's kinds and row categories: part of the exchange format.
KIND_NAMES = {ReportKind.DAILY: "日报", ReportKind.WEEKLY: "周报", ReportKind.MONTHLY: "月报"}
AMOUNT_COLUMNS = [
    ("stop_requested", "止付申请"),
    ("stopped", "止付"),
    ("frozen", "冻结"),
    ("released", "解冻"),
    ("returned", "返还"),
    ("queued", "轮候冻结"),
]
# (measure, Chinese name, unit name, seconds per unit)
SPEED_COLUMNS = [
    ("first_stop", "首次止付用时", "分钟", 60),
    ("stop_answer", "止付反馈用时", "分钟", 60),
    ("freeze_answer", "冻结反馈用时", "小时", 3600),
    ("return_answer", "返还到账用时", "小时", 3600),
    ("stop_to_freeze", "止付至冻结用时", "小时", 3600),
    ("freeze_to_return", "冻结至返还用时", "天", 86400),
]
HEADERS = [
    "类别",
    "代码",
    "名称",
    "案件数",
    "报案损失(元)",
    *(h for _key, name in AMOUNT_COLUMNS for h in (f"{name}笔数", f"{name}金额(元)")),
    "在冻金额(元)",
    *(
        h
        for _key, name, unit, _scale in SPEED_COLUMNS
        for h in (f"{name}中位数({unit})", f"{name}P90({unit})")
    ),
    "超时预警数",
    "未解除超时预警数",
]
AMOUNT_HEADERS = {h for h in HEADERS if h.endswith("(元)")}


def _table_row(
    category: str, figures: dict[str, Any], speeds: dict[str, Any], *, loss: bool = True
) -> list[Any]:
    row: list[Any] = [
        category,
        figures["key"],
        figures["label"],
        figures["cases"],
        Decimal(figures["loss"]) if loss else None,
    ]
    for name, _chinese in AMOUNT_COLUMNS:
        row += [figures[name]["count"], Decimal(figures[name]["amount"])]
    row.append(Decimal(figures["held"]))
    for measure, _name, _unit, scale in SPEED_COLUMNS:
        measured = speeds.get(measure) or {}
        for point in ("median", "p90"):
            value = measured.get(point)
            row.append(None if value is None else round(value / scale, 1))
    row += [speeds.get("overdue_flags", 0), speeds.get("overdue_open", 0)]
    return row


def report_table(report: PeriodicReport) -> list[list[Any]]:
    """The report as rows under HEADERS: the unit's own row and each child unit, each
    institution, then the total. Amounts are Decimal, durations float, empty is None."""
    figures = report.figures
    code = figures["unit"]["code"]
    unit_speed = {r["key"]: r for r in figures["speed_by_unit"]["rows"]}
    bank_speed = {r["key"]: r for r in figures["speed_by_institution"]["rows"]}
    rows = [HEADERS]
    for row in figures["by_unit"]["rows"]:
        category = "本级" if row["key"] == code else "下级单位"
        rows.append(_table_row(category, row, unit_speed.get(row["key"], {})))
    for row in figures["by_institution"]["rows"]:
        rows.append(_table_row("金融机构", row, bank_speed.get(row["key"], {}), loss=False))
    total = {"key": code, "label": figures["unit"]["name"], **figures["by_unit"]["total"]}
    rows.append(_table_row("合计", total, figures["speed_by_unit"]["total"]))
    return rows


def report_filename(report: PeriodicReport, extension: str) -> str:
    kind = KIND_NAMES[ReportKind(report.kind)]
    return f"{report.unit.name}{kind}_{report.period_start:%Y%m%d}-{report.period_end:%Y%m%d}.{extension}"


def report_csv(report: PeriodicReport) -> bytes:
    """UTF-8 with a byte-order mark, so that Excel shows the Chinese headers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in report_table(report):
        writer.writerow(["" if value is None else neutralise(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


def report_xlsx(report: PeriodicReport) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = KIND_NAMES[ReportKind(report.kind)]
    table = report_table(report)
    for row in table:
        sheet.append([neutralise(value) for value in row])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for index, header in enumerate(HEADERS, start=1):
        number_format = "#,##0.00" if header in AMOUNT_HEADERS else "0.0"
        for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
            if isinstance(cell.value, Decimal | float):
                cell.number_format = number_format
    sheet.freeze_panes = "D2"
    about = workbook.create_sheet("说明")
    for pair in (
        ("单位", report.unit.name),
        ("代码", report.unit.code),
        ("报表类型", KIND_NAMES[ReportKind(report.kind)]),
        ("统计起始日", report.period_start.isoformat()),
        ("统计截止日", report.period_end.isoformat()),
        ("生成时间", timezone.localtime(report.generated_at).strftime("%Y-%m-%d %H:%M")),
    ):
        about.append([neutralise(value) for value in pair])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
