"""Cells of the CSV and XLSX files the product writes, kept from being read as formulas.

A text that begins with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which
some readers skip before looking) is a formula to Excel, LibreOffice and WPS, and openpyxl
itself writes a string that begins with ``=`` as one. Case titles, holder names, unit names
and users' names are typed by people, so every text cell goes through ``neutralise``, which
puts an apostrophe in front as OWASP's CSV-injection guidance says. Numbers (a negative
amount included) stay numbers: only text is touched.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """``value`` itself, unless it is a text that a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
