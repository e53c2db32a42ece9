"""The approval form of an instruction (呈请…报告书): what the officer asks for and why, and
every step of its approval (opinions, declines, send-backs and resubmissions), as the judges
and inspectors read them. The police's own paper: never shown to a bank.

Rendered on each download from the instruction and its audit events, so it is always the
approval as it stands; it is dated by its latest step, so the same approval renders the
same bytes.
"""

from __future__ import annotations

from typing import Any

from funds.documents import pdf_from_template
from funds.documents.capitals import yuan_in_capitals
from funds.documents.instruments import (
    chinese_time,
    person_name,
    unit_full_name,
)
from funds.masking import mask_account_number
from funds.models import Instruction, InstructionKind
from funds.services.approvals import ApprovalStep, approval_steps

TITLES = {
    InstructionKind.STOP_PAYMENT: "呈请紧急止付报告书",
    InstructionKind.FREEZE: "呈请冻结财产报告书",
    InstructionKind.RENEWAL: "呈请继续冻结财产报告书",
    InstructionKind.RELEASE: "呈请解除冻结财产报告书",
    InstructionKind.RETURN: "呈请返还冻结资金报告书",
}
ASKS = {
    InstructionKind.STOP_PAYMENT: "紧急止付",
    InstructionKind.FREEZE: "冻结",
    InstructionKind.RENEWAL: "继续冻结",
    InstructionKind.RELEASE: "解除冻结",
    InstructionKind.RETURN: "返还",
}
STEP_NAMES = {
    "requested": "呈请",
    "sent_back": "退回补正",
    "resubmitted": "补正后重新呈请",
    "approved": "审批同意",
    "declined": "驳回",
}
DECISIONS = ("approved", "declined")
# What the form reads of the instruction, in one query.
APPROVAL_FORM_SELECT = (
    "case__unit",
    "institution",
    "involved_account__account",
    "requested_by",
    "freeze",
    "victim",
)
FIELD_NAMES = {
    "requested_amount": "金额",
    "term_months": "期限（月）",
    "instrument_number": "文书编号",
    "reason": "理由",
}
STATUS_NAMES = {
    "awaiting_approval": "待审批",
    "pending": "已审批，待协助执行单位办理",
    "executed": "已办理",
    "rejected": "协助执行单位未予办理",
    "cancelled": "已撤回",
    "declined": "已驳回",
}


def approval_form_context(instruction: Instruction, steps: list[ApprovalStep]) -> dict[str, Any]:
    case = instruction.case
    account = instruction.involved_account
    victim = instruction.victim
    rows = []
    for step in steps:
        changes = "；".join(
            f"{FIELD_NAMES.get(field, field)}由“{before or '（空）'}”改为“{after or '（空）'}”"
            for field, (before, after) in step.changes.items()
        )
        rows.append(
            {
                "action": step.action,
                "name": STEP_NAMES[step.action],
                "unit": step.unit_name,
                "person": person_name(step.actor),
                "text": step.text,
                "changes": changes,
                "at": chinese_time(step.at),
            }
        )
    status = STATUS_NAMES.get(instruction.status, instruction.status)
    if instruction.sent_back_at is not None:
        status = "已退回补正"
    return {
        "title": TITLES[InstructionKind(instruction.kind)],
        "ask": ASKS[InstructionKind(instruction.kind)],
        "kind": instruction.kind,
        "unit": unit_full_name(case.unit),
        "case_number": case.number,
        "filing_number": case.filing_number,
        "case_title": case.title,
        "institution": instruction.institution.name,
        "holder": account.holder_name,
        "account_number": account.account.number,
        "layer": account.layer,
        "amount": f"{instruction.requested_amount:,.2f}",
        "amount_capitals": yuan_in_capitals(instruction.requested_amount),
        "term_months": instruction.term_months,
        "reason": instruction.reason,
        "instrument_number": instruction.instrument_number,
        "freeze_number": instruction.freeze.instrument_number if instruction.freeze else "",
        "victim": victim.name if victim is not None else "",
        "victim_account": mask_account_number(victim.account_number) if victim else "",
        "requested_by": person_name(instruction.requested_by),
        "requested_at": chinese_time(instruction.requested_at),
        "status": status,
        "steps": rows,
        # 领导审批意见: the approval or the decline, when there is one.
        "decision": next((r for r in reversed(rows) if r["action"] in DECISIONS), None),
    }


def approval_form_pdf(instruction: Instruction) -> bytes:
    """The approval form of ``instruction`` as PDF."""
    instruction = Instruction.objects.select_related(*APPROVAL_FORM_SELECT).get(pk=instruction.pk)
    steps = approval_steps([instruction.pk]).get(instruction.pk, [])
    moment = steps[-1].at if steps else instruction.requested_at
    return pdf_from_template(
        "documents/approval_form.html", approval_form_context(instruction, steps), moment=moment
    )
