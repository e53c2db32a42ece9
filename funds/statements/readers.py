"""Reading a statement file row by row, whatever its encoding or format, never whole.

CSV: UTF-8 (with or without a byte-order mark) or GBK/GB18030, decided by trying UTF-8
strictly over the whole file (streamed) and falling back to GB18030, GBK's superset.
XLSX: openpyxl's read-only mode, which streams the sheet's XML. Each sheet of a workbook
is read in turn (a bank's funds-inquiry return may put one queried card per sheet).
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from django.utils.translation import gettext as _

CHUNK = 1 << 20
XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0"


class FileRefused(ValueError):
    """The file as a whole cannot be read; the message says why."""


@dataclass(frozen=True)
class Row:
    sheet: str  # '' for a CSV file or a workbook of one sheet
    number: int  # 1-based, as a spreadsheet program shows it
    cells: tuple[Any, ...]


def detect_encoding(stream: IO[bytes]) -> str:
    """``utf-8-sig`` if the whole file decodes as UTF-8, else ``gb18030`` (GBK's superset)."""
    stream.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        while chunk := stream.read(CHUNK):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "gb18030"
    finally:
        stream.seek(0)
    return "utf-8-sig"


def is_xlsx(stream: IO[bytes]) -> bool:
    stream.seek(0)
    head = stream.read(8)
    stream.seek(0)
    if head.startswith(XLS_MAGIC):
        raise FileRefused(
            _("This is an old Excel file (.xls): save it as .xlsx or CSV and upload it again.")
        )
    return head.startswith(XLSX_MAGIC)


def read_rows(stream: IO[bytes]) -> Iterator[Row]:
    """Every non-empty row of the file, in order."""
    if is_xlsx(stream):
        yield from _xlsx_rows(stream)
    else:
        yield from _csv_rows(stream)


def _csv_rows(stream: IO[bytes]) -> Iterator[Row]:
    encoding = detect_encoding(stream)
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    try:
        sample = text.read(64 * 1024)
        text.seek(0)
        delimiter = "\t" if sample.count("\t") > sample.count(",") * 2 else ","
        for number, cells in enumerate(csv.reader(text, delimiter=delimiter), start=1):
            if any(c.strip() for c in cells):
                yield Row("", number, tuple(cells))
    except csv.Error as error:
        raise FileRefused(_("The CSV file cannot be read: %(error)s") % {"error": error}) from None
    finally:
        text.detach()


def _xlsx_rows(stream: IO[bytes]) -> Iterator[Row]:
    from openpyxl import load_workbook  # type: ignore[import-untyped]

    try:
        workbook = load_workbook(stream, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise FileRefused(
            _("The Excel file cannot be read: %(error)s") % {"error": error}
        ) from None
    try:
        sheets = [s for s in workbook.worksheets if hasattr(s, "iter_rows")]
        named = len(sheets) > 1
        for sheet in sheets:
            for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
                if any(c is not None and str(c).strip() for c in cells):
                    yield Row(sheet.title if named else "", number, tuple(cells))
    finally:
        workbook.close()
