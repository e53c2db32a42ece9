"""Cleaning the values of a statement's cells: what banks' exports put around the data.

Every function takes the raw cell (a string, or what openpyxl gives: a number, a datetime)
and answers the clean value or raises ``CellError`` with a message for the officer.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

# Statements are written in China's local time; naive times are read as Asia/Shanghai.
LOCAL = ZoneInfo("Asia/Shanghai")
# What stands for "nothing" in exports: ICBC and BOC write a dash, others a slash.
EMPTY = frozenset({"", "-", "--", "—", "/", "null", "NULL", "None"})
CENT = Decimal("0.01")
# Eleven digits before the point, as money_field holds (funds.models.money).
AMOUNT_MAX = Decimal("99999999999.99")


class CellError(ValueError):
    """A cell that cannot be read; the message names what is wrong with it."""


def clean_text(raw: object) -> str:
    """The cell as text: NFKC (full-width digits, letters and punctuation made ASCII),
    without the spaces, tabs and quotes exports pad values with; '' for an empty marker."""
    if raw is None:
        return ""
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)  # a card number read by Excel as a number
    text = str(raw)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    # ICBC pads with spaces and a trailing tab; some exports quote numbers with a leading
    # apostrophe or an equals sign (="6222...") so that Excel keeps the digits.
    text = text.strip().strip("\t").strip()
    if text.startswith('="') and text.endswith('"'):
        text = text[2:-1]
    text = text.lstrip("'`").strip()
    return "" if text in EMPTY else text


_AMOUNT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def parse_amount(raw: object) -> Decimal:
    """A signed amount of yuan with at most two places: ``¥1,234.56``, ``-300``, ``+20.5``,
    ``1 234,00``-style spaces are refused (ambiguous); an Excel number as it is."""
    if isinstance(raw, (int, Decimal)) and not isinstance(raw, bool):
        value = Decimal(raw)
    elif isinstance(raw, float):
        value = Decimal(repr(raw))
    else:
        text = clean_text(raw)
        for mark in ("¥", "￥", "元", "RMB", "CNY"):
            text = text.replace(mark, "")
        text = text.replace(",", "").strip()
        if not text:
            raise CellError(_("The amount is empty."))
        if not _AMOUNT.match(text):
            raise CellError(_("%(value)s is not an amount.") % {"value": clean_text(raw)})
        try:
            value = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
            raise CellError(_("%(value)s is not an amount.") % {"value": text}) from None
    if value != value.quantize(CENT):
        raise CellError(_("An amount has at most two decimal places."))
    if abs(value) > AMOUNT_MAX:
        raise CellError(_("The amount is too large."))
    return value.quantize(CENT)


_TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y%m%d %H%M%S",
    "%Y%m%d%H%M%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y.%m.%d %H:%M:%S",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y%m%d",
)


def parse_time(raw: object, extra: object = None) -> datetime:
    """An aware datetime from the cell (an Excel datetime, or text in one of the formats
    banks use: ``2026-03-01 10:02:03``, ``2026/3/1 10:02``, ``20260301 100203``...), in
    Asia/Shanghai unless it carries a zone. ``extra`` is a separate time-of-day cell (BOC's
    记账日期 + 记账时间)."""
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, date):
        value = datetime.combine(raw, time())
    else:
        text = clean_text(raw)
        if extra is not None and clean_text(extra):
            text = f"{text} {clean_text(extra)}"
        if not text:
            raise CellError(_("The time is empty."))
        value = _parse_time_text(text)
    if isinstance(extra, time) and value.time() == time():
        value = datetime.combine(value.date(), extra)
    if value.tzinfo is None:
        value = value.replace(tzinfo=LOCAL)
    return value


def _parse_time_text(text: str) -> datetime:
    text = re.sub(r"\s+", " ", text)
    # Drop fractions of a second (some systems export milliseconds).
    text = re.sub(r"(\d{2}:\d{2}:\d{2})\.\d+", r"\1", text)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)  # noqa: DTZ007 - made aware by the caller
        except ValueError:
            continue
    raise CellError(_("%(value)s is not a time.") % {"value": text})
