"""The banks' answer files (API.md, ``POST /instructions/answers/``): read and template.

A file is CSV (UTF-8, with or without a byte-order mark, or GBK/GB18030, detected) or XLSX.
Its header row names the columns; a title row or two above it, as banks put them, is passed
over: the header is the first of the first rows that holds ``协查编号``. Rows are numbered
as a spreadsheet numbers them (the header of a file without a title is row 1), so that an
error names the row the liaison sees.

The template a liaison downloads holds the same answer columns, prefilled with each pending
request's id and requested amount, and read-only context columns after them. Every text
cell is neutralised against formula injection (a leading ``'`` before ``= + - @``, tab or
carriage return), since account holders' names and references come from outside.
"""

from __future__ import annotations

import csv
import io
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook, load_workbook  # type: ignore[import-untyped]
from openpyxl.styles import Font, PatternFill, Protection  # type: ignore[import-untyped]
from openpyxl.worksheet.datavalidation import DataValidation  # type: ignore[import-untyped]

from funds.models import Instruction

ID, RESULT, AMOUNT, REFERENCE, REASON = "协查编号", "结果", "执行金额", "业务编号", "理由"
ANSWER_COLUMNS = (ID, RESULT, AMOUNT, REFERENCE, REASON)
CONTEXT_COLUMNS = ("案件编号", "类型", "机构", "账号", "户名", "请求金额", "答复期限")
EXECUTE, REJECT = "执行", "拒绝"

# A larger answer file is refused whole (400): a bank splits it, and no request waits on
# one upload's thousands of locks.
MAX_ROWS = 5000
# 5,000 rows of answers fit in well under a megabyte; anything far larger is not one.
MAX_FILE_BYTES = 10 * 1024 * 1024
# How far down a title may push the header row.
HEADER_SEARCH_ROWS = 10
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class AnswerFileRefused(Exception):
    """The file as a whole cannot be read (400 beside ``file``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _text(value: Any) -> str:
    """A cell as text: whole floats (XLSX numbers) without ``.0``, Decimals as they are."""
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).strip()


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AnswerFileRefused(_("The file is neither UTF-8 nor GBK text, nor an XLSX workbook."))


def _csv_rows(data: bytes) -> Iterator[list[Any]]:
    yield from csv.reader(io.StringIO(_decode(data), newline=""))


def _xlsx_rows(data: bytes) -> Iterator[list[Any]]:
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise AnswerFileRefused(_("The XLSX workbook cannot be read.")) from error
    try:
        sheet = workbook.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield list(row)
    finally:
        workbook.close()


def read_answer_rows(data: bytes) -> list[tuple[int, dict[str, str]]]:
    """The file's data rows as ``(row number, {column: text})``, blank rows left out.

    AnswerFileRefused when the file cannot be read, has no header with ``协查编号`` and
    ``结果``, or holds more than MAX_ROWS data rows."""
    rows = _xlsx_rows(data) if data[:4] == b"PK\x03\x04" else _csv_rows(data)
    header: list[str] | None = None
    answers: list[tuple[int, dict[str, str]]] = []
    for number, raw in enumerate(rows, start=1):
        cells = [_text(cell) for cell in raw]
        if header is None:
            if ID in cells:
                header = cells
                missing = [c for c in (ID, RESULT) if c not in header]
                if missing:
                    raise AnswerFileRefused(
                        _("The header lacks the column %(column)s.") % {"column": missing[0]}
                    )
            elif number >= HEADER_SEARCH_ROWS:
                break
            continue
        if not any(cells):
            continue
        if len(answers) == MAX_ROWS:
            raise AnswerFileRefused(
                _("The file holds more than %(max)d rows: split it.") % {"max": MAX_ROWS}
            )
        answers.append(
            (
                number,
                {
                    column: cells[i] if i < len(cells) else ""
                    for i, column in enumerate(header)
                    if column in ANSWER_COLUMNS
                },
            )
        )
    if header is None:
        raise AnswerFileRefused(
            _("No header row with the column %(column)s was found.") % {"column": ID}
        )
    return answers


def neutralise(value: Any) -> Any:
    """Text that a spreadsheet would take for a formula, made plain text."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def answers_template(instructions: Iterable[Instruction]) -> bytes:
    """An XLSX of the pending requests: the answer columns to fill, prefilled with each id
    and requested amount, then the context, locked (the sheet is protected without a
    password, so that a liaison does not overwrite it by mistake)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "协查答复"
    sheet.append([*ANSWER_COLUMNS, *CONTEXT_COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    grey = PatternFill("solid", fgColor="EEEEEE")
    choice = DataValidation(type="list", formula1=f'"{EXECUTE},{REJECT}"', allow_blank=True)
    sheet.add_data_validation(choice)
    count = 0
    for count, instruction in enumerate(instructions, start=1):  # noqa: B007 - used below
        account = instruction.involved_account.account if instruction.involved_account else None
        due = instruction.response_due_at
        sheet.append(
            [
                instruction.pk,
                None,
                instruction.requested_amount,
                None,
                None,
                *(
                    neutralise(value)
                    for value in (
                        instruction.case.number,
                        instruction.get_kind_display(),
                        instruction.institution.code,
                        account.number if account else "",
                        instruction.involved_account.holder_name
                        if instruction.involved_account
                        else "",
                    )
                ),
                instruction.requested_amount,
                timezone.localtime(due).strftime("%Y-%m-%d %H:%M") if due else "",
            ]
        )
    for row in sheet.iter_rows(min_row=2, max_row=count + 1):
        for cell in row[1:5]:
            cell.protection = Protection(locked=False)
        for cell in row[5:]:
            cell.fill = grey
        row[2].number_format = row[-2].number_format = "0.00"
    if count:
        choice.add(f"B2:B{count + 1}")
    # Room to type beyond the listed rows is not needed: a row is one request's answer.
    sheet.protection.sheet = True
    sheet.protection.formatCells = False
    sheet.protection.formatColumns = False
    for letter, width in zip(
        "ABCDEFGHIJKL", (10, 8, 12, 20, 24, 26, 10, 8, 22, 14, 12, 18), strict=True
    ):
        sheet.column_dimensions[letter].width = width
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def parse_amount(text: str) -> Decimal | None:
    """A yuan amount as typed or exported (``1,200.50``, full-width digits); None if it is not one."""
    cleaned = unicodedata.normalize("NFKC", text).replace(",", "").replace("¥", "").strip()
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        return None
    return amount.quantize(Decimal("0.01"))
