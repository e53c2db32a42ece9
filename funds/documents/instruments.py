"""The instrument of each kind of instruction, laid out as the Ministry of Public Security's
model forms (公安机关刑事法律文书式样): the stub the unit keeps (存根), the notice to the
institution and the receipt the institution sends back (回执); a return adds its decision
(冻结资金返还决定书).

Their wording is fixed Chinese legal text, not interface text: an instrument reads the same,
byte for byte, whoever downloads it and in whatever language their pages are shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from accounts.models import Organization, UnitLevel
from funds.documents import pdf_from_template
from funds.documents.capitals import yuan_in_capitals
from funds.durations import rule
from funds.masking import mask_account_number
from funds.models import Instruction, InstructionKind


@dataclass(frozen=True)
class Form:
    title: str  # the notice's title
    act: str  # what the institution is asked to do, as the receipt says it done
    amount_label: str


FORMS = {
    InstructionKind.STOP_PAYMENT: Form("紧急止付通知书", "紧急止付", "止付金额"),
    InstructionKind.FREEZE: Form("协助冻结财产通知书", "冻结", "冻结金额"),
    InstructionKind.RENEWAL: Form("协助继续冻结财产通知书", "继续冻结", "继续冻结金额"),
    InstructionKind.RELEASE: Form("协助解除冻结财产通知书", "解除冻结", "解除冻结金额"),
    InstructionKind.RETURN: Form("协助返还冻结资金通知书", "返还", "返还金额"),
}


def issued(instruction: Instruction) -> bool:
    """Whether the instruction's instrument exists: a stop-payment once requested, any other
    kind once approved (API.md, "Documents"), and numbered."""
    if not instruction.instrument_number:
        return False
    if instruction.kind == InstructionKind.STOP_PAYMENT:
        return True
    return instruction.approved_at is not None


def issue_moment(instruction: Instruction) -> datetime:
    """The instrument's date: a stop-payment's request, any other kind's approval."""
    if instruction.kind == InstructionKind.STOP_PAYMENT:
        return instruction.requested_at
    assert instruction.approved_at is not None
    return instruction.approved_at


def unit_full_name(unit: Organization) -> str:
    """A county bureau or station under its city bureau's name (济南市公安局历下区分局), as its
    instruments are headed; a city or province unit by its own name."""
    ancestors = list(unit.ancestors())
    names = [u.name for u in ancestors if u.level != UnitLevel.PROVINCE or u.pk == unit.pk]
    if len(names) > 1 and names[-1].startswith(names[-2]):
        return names[-1]
    return "".join(names) if unit.level in (UnitLevel.COUNTY, UnitLevel.STATION) else unit.name


def chinese_date(moment: datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local.year}年{local.month}月{local.day}日"


def chinese_time(moment: datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local.year}年{local.month}月{local.day}日{local.hour}时{local.minute:02d}分"


def person_name(user: Any) -> str:
    if user is None:
        return ""
    return str(user.get_full_name() or user.username)


def instrument_context(instruction: Instruction) -> dict[str, Any]:
    """What the instrument of ``instruction`` says."""
    case = instruction.case
    issuer = instruction.issuing_unit or _issuer_of_legacy(instruction)
    moment = issue_moment(instruction)
    amount = instruction.requested_amount
    account = instruction.involved_account
    freeze = instruction.freeze
    victim = instruction.victim
    context: dict[str, Any] = {
        "kind": instruction.kind,
        "form": FORMS[InstructionKind(instruction.kind)],
        "number": instruction.instrument_number,
        "issuer": unit_full_name(issuer),
        "case_number": case.number,
        "filing_number": case.filing_number,
        "case_title": case.title,
        "institution": instruction.institution.name,
        "holder": account.holder_name,
        "account_number": account.account.number,
        "amount": f"{amount:,.2f}",
        "amount_capitals": yuan_in_capitals(amount),
        "legal_basis": settings.DOCUMENT_LEGAL_BASIS[instruction.kind],
        "term_months": instruction.term_months,
        "date": chinese_date(moment),
        "requested_by": person_name(instruction.requested_by),
        "requested_at": chinese_time(instruction.requested_at),
        "approved_by": person_name(instruction.approved_by),
        "approved_at": chinese_time(instruction.approved_at) if instruction.approved_at else "",
        "queued": instruction.queued,
        "reason": instruction.reason,
        "freeze_number": freeze.instrument_number if freeze is not None else "",
        "freeze_date": (
            chinese_date(freeze.responded_at) if freeze is not None and freeze.responded_at else ""
        ),
        "stop_hours": int(rule("STOP_DURATION").total_seconds() // 3600),  # R2
    }
    if victim is not None:
        context.update(
            victim=victim.name,
            # PIPL: the full number goes to the paying bank on the return itself (the API),
            # never into a file that every reader of the case may download.
            victim_account=mask_account_number(victim.account_number),
            victim_holder=victim.account_holder_name or victim.name,
            victim_institution=(
                victim.account_institution.name if victim.account_institution else ""
            ),
        )
    return context


def _issuer_of_legacy(instruction: Instruction) -> Organization:
    """Instructions numbered before casetracker issued numbers name no issuing unit: theirs is
    the one that would issue them now."""
    from funds.services.numbering import issuing_unit

    unit, _pattern = issuing_unit(instruction.case.unit, instruction.kind)
    return unit


def instrument_pdf(instruction: Instruction) -> bytes:
    """The instrument of ``instruction`` as PDF, the same bytes every time for the same row."""
    assert issued(instruction)
    return pdf_from_template(
        "documents/instrument.html",
        instrument_context(instruction),
        moment=issue_moment(instruction),
    )


INSTRUMENT_SELECT = (
    "case__unit",
    "institution",
    "issuing_unit",
    "involved_account__account",
    "requested_by",
    "approved_by",
    "freeze",
    "victim__account_institution",
)
