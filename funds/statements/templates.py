"""The statement templates: which columns each format has and how a row becomes a movement.

The registry (``TEMPLATES``, by name) is what an upload may choose; ``detect`` picks one
from a header row. Column names are compared after NFKC, so the full-width and the ASCII parentheses of ``金额(元)``
are the same column. The formats are those of ../shared/STATEMENTS.md:

- ``default``: the contract's columns, one movement per row (API.md);
- ``bank_inquiry``: a bank's return to a police funds inquiry, each row seen from the
  queried card (``收付标志`` gives the direction);
- ``payment_return``: a payment institution's return (Alipay, WeChat Pay), where either
  side may be a payment account or a bank card;
- ``wechat_bill``, ``alipay_bill``, ``icbc_export``, ``boc_export``, ``cmb_export``: what
  a victim exports from their own app. They carry no counterparty account that identifies
  one (masked numbers, no bank), so they are recognised and refused with one clear error
  rather than imported with invented accounts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Organization
from funds.account_numbers import NUMBER_MAX_LENGTH, normalise_account_number
from funds.statements.institutions import InstitutionResolver
from funds.statements.values import (
    EMPTY,
    LOCAL,
    CellError,
    clean_text,
    parse_amount,
    parse_time,
)

REFERENCE_MAX_LENGTH = 64
HOLDER_MAX_LENGTH = 100
# How far down a file its header may be (WeChat's preamble is 16 lines; leave room).
HEADER_SEARCH_ROWS = 60


def column_key(raw: object) -> str:
    """A header cell as compared with a template's column names."""
    return "".join(unicodedata.normalize("NFKC", clean_text(raw)).split())


@dataclass(frozen=True)
class Movement:
    """One movement of money between two accounts, read from one row."""

    row: int
    occurred_at: datetime
    from_institution_id: int
    from_number: str
    from_holder: str
    to_institution_id: int
    to_number: str
    to_holder: str
    amount: Decimal
    reference: str


class RowInvalid(Exception):
    """The row's problems: (column, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(problems)
        self.problems = problems


class NotAMovement(Exception):
    """The row is read but moves no money between two accounts (a failed transaction)."""


@dataclass
class Context:
    """What a conversion needs besides the row: the institutions, and the institution that
    returned the statement (the queried card's or payment account's), when given."""

    resolver: InstitutionResolver
    institution: Organization | None = None


class Cells:
    """A row's cells by column name, with the problems found while reading them."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values
        self.problems: list[tuple[str, str]] = []

    def text(self, column: str, *, required: bool = False, limit: int | None = None) -> str:
        value = clean_text(self.values.get(column))
        if required and not value:
            self.problems.append((column, _("This value is required.")))
        if limit is not None and len(value) > limit:
            self.problems.append((column, _("At most %(max)d characters.") % {"max": limit}))
            value = value[:limit]
        return value

    def amount(self, column: str) -> Decimal | None:
        try:
            return parse_amount(self.values.get(column))
        except CellError as error:
            self.problems.append((column, str(error)))
            return None

    def time(self, column: str, extra: str | None = None) -> datetime | None:
        try:
            return parse_time(self.values.get(column), self.values.get(extra) if extra else None)
        except CellError as error:
            self.problems.append((column, str(error)))
            return None

    def number(self, column: str) -> str:
        raw = self.text(column)
        number = normalise_account_number(raw)
        if not number:
            self.problems.append((column, _("The account number is empty.")))
        elif len(number) > NUMBER_MAX_LENGTH:
            self.problems.append(
                (
                    column,
                    _("An account number has at most %(max)d characters.")
                    % {"max": NUMBER_MAX_LENGTH},
                )
            )
        elif "*" in number:
            self.problems.append(
                (
                    column,
                    _("The account number is masked (%(number)s): it identifies no account.")
                    % {"number": number},
                )
            )
        return number

    def institution(self, column: str, context: Context) -> Organization | None:
        name = self.text(column)
        if not name:
            self.problems.append((column, _("The institution is empty.")))
            return None
        institution = context.resolver.find(name)
        if institution is None:
            self.problems.append((column, _("Unknown institution: %(name)s.") % {"name": name}))
        return institution

    def done(self) -> None:
        if self.problems:
            raise RowInvalid(self.problems)


@dataclass(frozen=True)
class StatementTemplate:
    name: str
    label: str | Promise
    # The columns that must be in the header; ``signature`` (a subset) recognises it.
    required: tuple[str, ...]
    signature: tuple[str, ...]
    # For a victim's own export: why it is not imported (one file-level error).
    refusal: str | Promise | None = None
    # Whether the upload must say which institution returned the statement.
    needs_institution: bool = False
    optional: tuple[str, ...] = field(default=())

    def matches(self, header: set[str]) -> bool:
        return set(self.signature) <= header

    def missing(self, header: set[str]) -> list[str]:
        return [c for c in self.required if c not in header]

    def convert(self, cells: Cells, row: int, context: Context) -> Movement:
        raise NotImplementedError

    def fast(self, header: Sequence[str], context: Context) -> FastConvert | None:
        """A cheap converter for the plain rows of this template, or None: see FastConvert."""
        return None


# A movement as a tuple: (occurred_at, from_institution_id, from_number, from_holder,
# to_institution_id, to_number, to_holder, amount, reference); the amount is a Decimal or
# the text of one that PostgreSQL reads as the same number.
MovementTuple = tuple[datetime, int, str, str, int, str, str, Decimal | str, str]
# A row's cells to its movement, or None when the row is not plain (padded or non-ASCII
# values, full-width digits, a currency mark, a value to refuse...): the caller then
# converts it with ``convert``, which answers the same movement or names the problems.
FastConvert = Callable[[Sequence[Any]], MovementTuple | None]

# An amount as it is stored: up to eleven digits, at most two places, thousands separators
# where they belong (parse_amount, which drops every comma, reads it the same).
_PLAIN_AMOUNT = re.compile(
    r"(?:\d{1,11}|\d{1,3}(?:,\d{3}){1,2}|\d{1,2}(?:,\d{3}){3})(?:\.\d{1,2})?"
)
_NONZERO = re.compile(r"[1-9]")
# Cache sizes of the fast converter's lookups (cleared when full: memory stays flat).
_CACHE_MAX = 50_000


def _plain(raw: Any) -> str | None:
    """``raw`` when clean_text would answer it unchanged and it is ASCII, else None."""
    if raw.__class__ is not str or not raw.isascii():
        return None
    if raw != raw.strip() or not raw or raw[0] in "'`=" or raw in EMPTY:
        return None
    return raw


class DefaultTemplate(StatementTemplate):
    def fast(self, header: Sequence[str], context: Context) -> FastConvert | None:
        index = {name: i for i, name in enumerate(header) if name}
        try:
            i_time, i_from, i_from_number, i_from_holder, i_to, i_to_number, i_to_holder = (
                index[c]
                for c in (
                    "交易时间",
                    "付款机构",
                    "付款账号",
                    "付款户名",
                    "收款机构",
                    "收款账号",
                    "收款户名",
                )
            )
            i_amount, i_reference = index["交易金额"], index["交易流水号"]
        except KeyError:
            return None
        width = max(index.values()) + 1
        institutions: dict[Any, int | None] = {}
        holders: dict[Any, str | None] = {}
        resolver = context.resolver
        fromisoformat = datetime.fromisoformat
        plain_amount = _PLAIN_AMOUNT.fullmatch
        nonzero = _NONZERO.search

        def institution(raw: Any) -> int | None:
            try:
                return institutions[raw]
            except KeyError:
                pass
            found = None
            if raw.__class__ is str:
                name = clean_text(raw)
                if name:
                    org = resolver.find(name)
                    found = org.pk if org is not None else None
            if len(institutions) >= _CACHE_MAX:
                institutions.clear()
            institutions[raw] = found
            return found

        def holder(raw: Any) -> str | None:
            if raw == "":
                return ""
            try:
                return holders[raw]
            except KeyError:
                pass
            found = None
            if raw.__class__ is str:
                name = clean_text(raw)
                if len(name) <= HOLDER_MAX_LENGTH:
                    found = name
            if len(holders) >= _CACHE_MAX:
                holders.clear()
            holders[raw] = found
            return found

        def convert(cells: Sequence[Any]) -> MovementTuple | None:
            if len(cells) < width:
                return None
            when = _plain(cells[i_time])
            if when is None or "." in when or "  " in when or not when.isprintable():
                return None
            try:
                occurred_at = fromisoformat(when)
            except ValueError:
                return None
            if occurred_at.tzinfo is None:
                occurred_at = occurred_at.replace(tzinfo=LOCAL)
            source = institution(cells[i_from])
            target = institution(cells[i_to])
            from_number = _plain(cells[i_from_number])
            to_number = _plain(cells[i_to_number])
            amount = _plain(cells[i_amount])
            reference = _plain(cells[i_reference])
            from_holder = holder(cells[i_from_holder])
            to_holder = holder(cells[i_to_holder])
            if (
                source is None
                or target is None
                or from_number is None
                or not from_number.isalnum()
                or len(from_number) > NUMBER_MAX_LENGTH
                or to_number is None
                or not to_number.isalnum()
                or len(to_number) > NUMBER_MAX_LENGTH
                or amount is None
                or not plain_amount(amount)
                or not nonzero(amount)
                or reference is None
                or len(reference) > REFERENCE_MAX_LENGTH
                or from_holder is None
                or to_holder is None
            ):
                return None
            if "," in amount:
                amount = amount.replace(",", "")
            return (
                occurred_at, source, from_number, from_holder,
                target, to_number, to_holder, amount, reference,
            )  # fmt: skip

        return convert

    def convert(self, cells: Cells, row: int, context: Context) -> Movement:
        occurred_at = cells.time("交易时间")
        source = cells.institution("付款机构", context)
        source_number = cells.number("付款账号")
        target = cells.institution("收款机构", context)
        target_number = cells.number("收款账号")
        amount = cells.amount("交易金额")
        if amount is not None and amount <= 0:
            cells.problems.append(("交易金额", _("The amount must be more than zero.")))
        reference = cells.text("交易流水号", required=True, limit=REFERENCE_MAX_LENGTH)
        from_holder = cells.text("付款户名", limit=HOLDER_MAX_LENGTH)
        to_holder = cells.text("收款户名", limit=HOLDER_MAX_LENGTH)
        cells.done()
        assert source and target and occurred_at and amount is not None
        return Movement(
            row, occurred_at, source.pk, source_number, from_holder,
            target.pk, target_number, to_holder, amount, reference,
        )  # fmt: skip


# 收付标志: money leaving the queried card, or reaching it. 借 (debit) takes money out of the
# account, 贷 (credit) puts it in, as banks book them.
OUT_FLAGS = frozenset({"出", "借", "付", "支出", "支", "D", "DR", "-"})
IN_FLAGS = frozenset({"进", "贷", "收", "收入", "入", "C", "CR", "+"})


def _direction(cells: Cells, flag_column: str, amount: Decimal | None) -> str | None:
    """'out' or 'in' from the flag, checked against the amount's sign; a signed amount
    without a flag gives the direction by itself."""
    flag = cells.text(flag_column).upper()
    if flag in OUT_FLAGS:
        direction = "out"
    elif flag in IN_FLAGS:
        direction = "in"
    elif not flag and amount is not None and amount != 0:
        return "out" if amount < 0 else "in"
    else:
        cells.problems.append(
            (
                flag_column,
                _("%(flag)s is not a debit/credit flag (进/出, 借/贷, 收/付).")
                % {"flag": flag or "''"},
            )
        )
        return None
    if amount is not None and amount < 0 and direction == "in":
        cells.problems.append(
            (flag_column, _("The flag says money came in but the amount is negative."))
        )
    return direction


FAILED = frozenset({"否", "失败", "N", "NO", "FALSE", "0"})


class BankInquiryTemplate(StatementTemplate):
    def convert(self, cells: Cells, row: int, context: Context) -> Movement:
        if cells.text("交易是否成功").upper() in FAILED:
            raise NotAMovement
        counterpart_raw = cells.text("交易对手账卡号")
        if not counterpart_raw:
            # A cash withdrawal, a fee, interest: nothing reached another account.
            raise NotAMovement
        occurred_at = cells.time("交易时间")
        card = cells.number("交易卡号")
        holder = cells.text("交易户名", limit=HOLDER_MAX_LENGTH) or cells.text(
            "交易方户名", limit=HOLDER_MAX_LENGTH
        )
        counterpart = cells.number("交易对手账卡号")
        counterpart_holder = cells.text("对手户名", limit=HOLDER_MAX_LENGTH)
        counterpart_bank = cells.institution("对手开户银行", context)
        amount = cells.amount("交易金额")
        if amount is not None and amount == 0:
            cells.problems.append(("交易金额", _("The amount must not be zero.")))
        direction = _direction(cells, "收付标志", amount)
        reference = cells.text("交易流水号", required=True, limit=REFERENCE_MAX_LENGTH)
        cells.done()
        own = context.institution
        assert own and counterpart_bank and occurred_at and amount is not None
        mine = (own.pk, card, holder)
        theirs = (counterpart_bank.pk, counterpart, counterpart_holder)
        source, target = (mine, theirs) if direction == "out" else (theirs, mine)
        return Movement(
            row, occurred_at, source[0], source[1], source[2],
            target[0], target[1], target[2], abs(amount), reference,
        )  # fmt: skip


# The first digits of common debit cards (BIN), for the card side of a payment
# institution's return when it does not name the card's bank.
CARD_BINS: dict[str, str] = {
    "622202": "ICBC", "622208": "ICBC", "621226": "ICBC", "621225": "ICBC", "620200": "ICBC",
    "621700": "CCB", "622700": "CCB", "436742": "CCB", "622280": "CCB",
    "622848": "ABC", "622845": "ABC", "622823": "ABC", "621282": "ABC",
    "621661": "BOC", "621663": "BOC", "456351": "BOC", "601382": "BOC", "621785": "BOC",
    "622588": "CMB", "621483": "CMB", "621286": "CMB",
}  # fmt: skip


class PaymentReturnTemplate(StatementTemplate):
    def _side(
        self, cells: Cells, context: Context, side: str
    ) -> tuple[Organization | None, str, str]:
        account_column, card_column = f"{side}支付帐号", f"{side}银行卡号"
        holder = cells.text(f"{side}户名", limit=HOLDER_MAX_LENGTH) or cells.text(
            f"{side}的商户名称", limit=HOLDER_MAX_LENGTH
        )
        if cells.text(account_column):
            number = cells.number(account_column)
            institution = context.institution
            if number.startswith("2088"):
                institution = context.resolver.by_code("ALIPAY") or institution
            elif number.startswith("wxid_"):
                institution = context.resolver.by_code("TENPAY") or institution
            return institution, number, holder
        if not cells.text(card_column):
            cells.problems.append(
                (account_column, _("Neither a payment account nor a bank card is given."))
            )
            return None, "", holder
        number = cells.number(card_column)
        bank_column = f"{side}银行名称"
        if cells.text(bank_column):
            return cells.institution(bank_column, context), number, holder
        code = next((c for b, c in CARD_BINS.items() if number.startswith(b)), None)
        institution = context.resolver.by_code(code) if code else None
        if institution is None:
            cells.problems.append(
                (
                    card_column,
                    _("The card's bank is not known from its number; add the column %(column)s.")
                    % {"column": bank_column},
                )
            )
        return institution, number, holder

    def convert(self, cells: Cells, row: int, context: Context) -> Movement:
        occurred_at = cells.time("交易时间")
        source, source_number, from_holder = self._side(cells, context, "付款方")
        target, target_number, to_holder = self._side(cells, context, "收款方")
        amount = cells.amount("交易金额")
        if amount is not None and amount == 0:
            cells.problems.append(("交易金额", _("The amount must not be zero.")))
        direction = _direction(cells, "借贷标志", amount)
        queried = normalise_account_number(cells.text("查询账号"))
        if queried and direction is not None and not cells.problems:
            expected = (
                "out" if queried == source_number else "in" if queried == target_number else None
            )
            if expected is not None and expected != direction:
                cells.problems.append(
                    ("借贷标志", _("The flag contradicts the side the queried account is on."))
                )
        reference = cells.text("支付机构内部订单号", required=True, limit=REFERENCE_MAX_LENGTH)
        cells.done()
        assert source and target and occurred_at and amount is not None
        return Movement(
            row, occurred_at, source.pk, source_number, from_holder,
            target.pk, target_number, to_holder, abs(amount), reference,
        )  # fmt: skip


def _victim_export(name: str, label: Promise, signature: tuple[str, ...]) -> StatementTemplate:
    return StatementTemplate(
        name=name,
        label=label,
        required=signature,
        signature=signature,
        refusal=gettext_lazy(
            "This is a victim's own export (%(label)s): it proves the loss but names no "
            "counterparty account that identifies one (numbers are masked, the bank is "
            "missing), so nothing is imported from it. Ask the bank or payment institution "
            "for its return to the funds inquiry and import that."
        ),
    )


DEFAULT_COLUMNS = (
    "交易时间", "付款机构", "付款账号", "付款户名", "收款机构", "收款账号", "收款户名",
    "交易金额", "交易流水号",
)  # fmt: skip

TEMPLATE_LIST: tuple[StatementTemplate, ...] = (
    DefaultTemplate(
        name="default",
        label=gettext_lazy("Contract columns (交易时间, 付款机构, 付款账号 …)"),
        required=DEFAULT_COLUMNS,
        signature=("交易时间", "付款账号", "收款账号", "交易金额", "交易流水号"),
    ),
    BankInquiryTemplate(
        name="bank_inquiry",
        label=gettext_lazy("Bank's return to a funds inquiry (交易卡号, 收付标志 …)"),
        required=(
            "交易卡号",
            "交易时间",
            "交易金额",
            "收付标志",
            "交易对手账卡号",
            "对手开户银行",
            "交易流水号",
        ),
        signature=("交易卡号", "收付标志", "交易对手账卡号"),
        needs_institution=True,
        optional=("交易户名", "交易方户名", "对手户名", "交易是否成功"),
    ),
    PaymentReturnTemplate(
        name="payment_return",
        label=gettext_lazy("Payment institution's return (付款方支付帐号, 收款方支付帐号 …)"),
        required=(
            "交易时间",
            "借贷标志",
            "交易金额",
            "支付机构内部订单号",
            "付款方支付帐号",
            "收款方支付帐号",
        ),
        signature=("付款方支付帐号", "收款方支付帐号"),
        needs_institution=True,
        optional=("查询账号", "付款方银行卡号", "收款方银行卡号", "收款方的商户名称"),
    ),
    _victim_export(
        "wechat_bill",
        gettext_lazy("WeChat Pay bill"),
        ("交易时间", "交易类型", "交易对方", "收/支", "金额(元)", "交易单号"),
    ),
    _victim_export(
        "alipay_bill",
        gettext_lazy("Alipay bill"),
        ("交易号", "交易创建时间", "交易对方", "金额(元)", "收/支"),
    ),
    _victim_export(
        "icbc_export",
        gettext_lazy("ICBC account details"),
        ("交易日期", "摘要", "交易金额(收入)", "交易金额(支出)", "对方户名"),
    ),
    _victim_export(
        "boc_export",
        gettext_lazy("Bank of China statement"),
        ("记账日期", "记账时间", "对方卡号/账号", "对方开户行"),
    ),
    _victim_export(
        "cmb_export",
        gettext_lazy("China Merchants Bank statement"),
        ("记账日期", "交易金额", "联机余额", "对手信息"),
    ),
)
TEMPLATES: dict[str, StatementTemplate] = {t.name: t for t in TEMPLATE_LIST}


def refusal_message(template: StatementTemplate) -> str:
    assert template.refusal is not None
    return str(template.refusal) % {"label": template.label}


def detect(header: set[str]) -> StatementTemplate | None:
    """The template whose signature the header row holds, most specific first."""
    for template in sorted(TEMPLATE_LIST, key=lambda t: -len(t.signature)):
        if template.matches(header):
            return template
    return None
