"""Statement files as banks and apps write them, built by the tests (STATEMENTS.md)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime

DEFAULT_HEADER = [
    "交易时间", "付款机构", "付款账号", "付款户名", "收款机构", "收款账号", "收款户名",
    "交易金额", "交易流水号",
]  # fmt: skip

VICTIM_CARD = "6222020000001111"
MULE_1 = "6217000000002222"
MULE_2 = "6228480000003333"
MULE_3 = "6216610000004444"


def csv_bytes(
    rows: Iterable[Sequence[object]], *, encoding: str = "utf-8", preamble: Sequence[str] = ()
) -> bytes:
    out = io.StringIO()
    for line in preamble:
        out.write(line + "\r\n")
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow(row)
    return out.getvalue().encode(encoding)


def xlsx_bytes(sheets: dict[str, list[list[object]]], *, merge_title: bool = False) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
        if merge_title:
            sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=6)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def chain_rows(start: int = 1) -> list[list[object]]:
    """Victim → mule 1 → mule 2 → mule 3, in the contract's columns."""
    return [
        ["2026-03-01 10:02:03", "ICBC", VICTIM_CARD, "张三", "CCB", MULE_1, "李四", "50000.00", f"R{start:05d}"],
        ["2026/3/1 10:15", "中国建设银行", MULE_1, "李四", "农业银行", MULE_2, "王五", "30,000.00", f"R{start + 1:05d}"],
        ["20260301 103000", "ABC", MULE_2, "王五", "中国银行股份有限公司济南分行", MULE_3, "赵六", "￥20,000.00", f"R{start + 2:05d}"],
    ]  # fmt: skip


def default_file(rows: list[list[object]], **kwargs: object) -> bytes:
    return csv_bytes([DEFAULT_HEADER, *rows], **kwargs)  # type: ignore[arg-type]


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)
