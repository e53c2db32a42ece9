"""Template helpers for the pages: money, clocks, masking."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from funds.documents.instruments import issued
from funds.masking import mask_account_number, mask_id_number, mask_phone
from funds.models import EventType, Instruction, InstructionKind, InstructionStatus
from funds.services.stages import in_force

register = template.Library()


@register.filter
def yuan(value: Decimal | str | None) -> str:
    """¥1,234.50 (an empty dash for nothing)."""
    if value in (None, ""):
        return "—"
    return f"¥{Decimal(value):,.2f}"


@register.filter
def owed(value: Decimal | None) -> str:
    """What a victim is still owed, as yuan (never below zero, even over old rows)."""
    return yuan(None if value is None else max(Decimal(value), Decimal("0.00")))


@register.filter
def account_masked(value: str) -> str:
    """************7890: a victim's own account, as every page shows it."""
    return mask_account_number(value)


@register.filter
def id_masked(value: str) -> str:
    return mask_id_number(value)


@register.filter
def phone_masked(value: str) -> str:
    return mask_phone(value)


def _span(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    if minutes < 60:
        return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes}
    return ngettext("%(n)d day", "%(n)d days", hours // 24) % {"n": hours // 24}


@register.filter
def duration(seconds: float | None) -> str:
    """A measured interval kept in seconds, as the clocks show one (an empty dash for none)."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return ngettext("%(n)d second", "%(n)d seconds", int(seconds)) % {"n": int(seconds)}
    return _span(seconds)


@register.simple_tag
def clock(instruction: Instruction) -> dict[str, Any] | None:
    """The clock that matters now for an instruction: what, until when, how it stands."""
    now = timezone.now()
    due: datetime | None = None
    if instruction.status == InstructionStatus.PENDING:
        label, due = _("Answer due"), instruction.response_due_at
    elif instruction.status == InstructionStatus.EXECUTED and in_force(instruction, now):
        if instruction.kind == InstructionKind.STOP_PAYMENT:
            label, due = _("Stop lapses"), instruction.effective_until
        elif instruction.kind == InstructionKind.FREEZE:
            label, due = _("Freeze expires"), instruction.effective_until
    if due is None:
        return None
    seconds = (due - now).total_seconds()
    if seconds < 0:
        state, text = "overdue", _("%(span)s late") % {"span": _span(seconds)}
    else:
        soon = seconds < 0.25 * max((due - instruction.requested_at).total_seconds(), 1)
        state, text = ("warning" if soon else "ok"), _("%(span)s left") % {"span": _span(seconds)}
    # R11 counted over days of a year whose calendar is not entered yet (funds.working_days).
    provisional = (
        instruction.status == InstructionStatus.PENDING and instruction.deadline_provisional
    )
    return {"label": label, "due": due, "state": state, "text": text, "provisional": provisional}


@register.filter
def event_label(event_type: str) -> str:
    try:
        return str(EventType(event_type).label)
    except ValueError:
        return event_type


@register.filter
def money(value: Decimal | str | None, unit: str = "yuan") -> str:
    """An amount in the unit the desk shows: ¥1,234.50, or ¥0.12万 (万元, to the hundred)."""
    if value in (None, ""):
        return "—"
    if unit == "wan":
        return _("¥%(amount)s万") % {"amount": f"{Decimal(value) / 10000:,.2f}"}
    return yuan(value)


@register.simple_tag
def desk_cell(cell: Any, column: Any, unit: str) -> str:
    """One cell of a desk table (funds.reports.desk), formatted by its column's kind, with
    its link and mark."""
    from django.utils.html import format_html

    from funds.reports.desk import Cell

    value = cell.value if isinstance(cell, Cell) else cell
    if value is None or value == "":
        text = "—"
    elif column.kind == "money":
        text = money(value, unit)
    elif column.kind == "hours":
        text = _span(float(value))
    elif column.kind == "time" and isinstance(value, datetime):
        text = f"{timezone.localtime(value):%Y-%m-%d %H:%M}"
    else:
        text = str(value)
    if isinstance(cell, Cell) and cell.href:
        html = format_html('<a href="{}">{}</a>', cell.href, text)
    else:
        html = format_html("{}", text)
    if isinstance(cell, Cell) and cell.mark in ("best", "worst"):
        label = _("best") if cell.mark == "best" else _("worst")
        html = format_html('{} <span class="badge mark-{}">{}</span>', html, cell.mark, label)
    elif isinstance(cell, Cell) and cell.mark:
        html = format_html('<span class="badge {}">{}</span>', cell.mark, html)
    return html


@register.filter
def index(sequence: Any, position: int) -> Any:
    """The item at ``position`` of a list (the column of a desk table's cell)."""
    return sequence[position]


@register.filter
def has_document(instruction: Instruction) -> bool:
    """Whether the instruction's instrument is issued (funds.documents.instruments.issued)."""
    return issued(instruction)
