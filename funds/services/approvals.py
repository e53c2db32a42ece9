"""The approval of an instruction beyond "approve": decline (驳回) with a reason, send back
(退回) for correction, and the officer's correction and resubmission; and the steps of an
approval read back for the case file and the approval form (docs/documents.md).

Approving itself, which sends the request to the institution, is
funds.services.instructions.instruction_approve. Each function here takes the locks in the
order of funds.services.instructions and writes one audit event; the events are the steps.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Role, User
from funds import acting_time
from funds.access import case_in_scope, require_approver, require_role
from funds.errors import InvalidState, RuleViolation
from funds.models import (
    DeadlineKind,
    Event,
    EventType,
    Instruction,
    InstructionKind,
    InstructionStatus,
    NotificationReason,
)
from funds.selectors import freeze_available
from funds.services.audit import record_event
from funds.services.cases import require_open
from funds.services.deadlines import deadlines_meet
from funds.services.instructions import (
    InstructionRequest,
    _advance_queue_of,
    _lock_instruction,
    _lock_victim,
    _require_freeze_in_force,
    _require_payable,
    _require_term,
    unit_of,
)
from funds.services.notifications import requester_notify
from funds.services.numbering import instrument_number_enter, raise_if_number_taken
from funds.services.stages import refresh_stage
from funds.transitions import INSTRUCTION_TRANSITIONS, next_status
from funds.working_days import lock_calendar

# A reason or an opinion is a paragraph of a form, not a file.
TEXT_MAX = 2000


def _require_text(text: str, *, field: str, message: str) -> str:
    text = text.strip()
    if not text:
        raise RuleViolation(message, field=field)
    if len(text) > TEXT_MAX:
        raise RuleViolation(
            _("At most %(max)d characters.") % {"max": TEXT_MAX},
            field=field,
        )
    return text


def _lock_for_manager(actor: User, instruction: Instruction, action: str) -> tuple[Any, ...]:
    require_role(actor, Role.MANAGER)
    case, involved_account, instruction, freeze = _lock_instruction(instruction)
    if not case_in_scope(actor, case):
        raise Http404
    # The approver's level first, as for approving: a manager who may never approve this
    # kind may not decline or send it back either (403).
    require_approver(actor, instruction.kind)
    next_status(INSTRUCTION_TRANSITIONS, action, instruction.status)
    return case, involved_account, instruction, freeze


def instruction_decline(*, actor: User, instruction: Instruction, reason: str) -> Instruction:
    """驳回: ``awaiting_approval`` -> ``declined`` with a reason, by a manager who could have
    approved it. The request never goes out; an entered instrument number is free again."""
    reason = _require_text(reason, field="reason", message=_("Say why the request is declined."))
    with transaction.atomic():
        case, involved_account, instruction, _freeze = _lock_for_manager(
            actor, instruction, "decline"
        )
        now = acting_time.now()
        instruction.status = InstructionStatus.DECLINED
        instruction.declined_by = actor
        instruction.declined_at = now
        instruction.decline_reason = reason
        instruction.sent_back_at = None
        instruction.save(
            update_fields=[
                "status",
                "declined_by",
                "declined_at",
                "decline_reason",
                "sent_back_at",
            ]
        )
        deadlines_meet(now=now, kinds=[DeadlineKind.APPROVAL], instructions=[instruction.pk])
        stage = refresh_stage(involved_account, now)
        # R12: a declined freeze leaves the line as a cancelled one does.
        _advance_queue_of(instruction, involved_account, now)
        record_event(
            case=case,
            type=EventType.INSTRUCTION_DECLINED,
            actor=actor,
            instruction=instruction,
            kind=instruction.kind,
            before=InstructionStatus.AWAITING_APPROVAL,
            after=instruction.status,
            reason=reason,
            stage=stage,
            **unit_of(actor),
        )
        requester_notify(instruction, NotificationReason.DECLINED)
    return instruction


def instruction_send_back(*, actor: User, instruction: Instruction, reason: str) -> Instruction:
    """退回: pause the approval until the officer corrects and resubmits the request."""
    reason = _require_text(
        reason, field="reason", message=_("Say what the officer should correct.")
    )
    with transaction.atomic():
        case, _involved_account, instruction, _freeze = _lock_for_manager(
            actor, instruction, "send_back"
        )
        if instruction.sent_back_at is not None:
            raise InvalidState(_("This request is already sent back for correction."))
        instruction.sent_back_at = acting_time.now()
        instruction.save(update_fields=["sent_back_at"])
        # The approval clock keeps running: the law's time does not stop for a correction.
        record_event(
            case=case,
            type=EventType.INSTRUCTION_SENT_BACK,
            actor=actor,
            instruction=instruction,
            kind=instruction.kind,
            reason=reason,
            **unit_of(actor),
        )
        requester_notify(instruction, NotificationReason.SENT_BACK)
    return instruction


@dataclass(frozen=True)
class Correction:
    """What an officer may correct on a request sent back; ``None`` keeps a value."""

    note: str = ""
    amount: Decimal | None = None
    term_months: int | None = None
    instrument_number: str | None = None
    reason: str | None = None


def instruction_resubmit(
    *, actor: User, instruction: Instruction, correction: Correction
) -> Instruction:
    """Correct a request sent back and put it before the approver again (officer of the
    case's unit); the corrections are checked by the rules of the request itself."""
    require_role(actor, Role.OFFICER)
    with transaction.atomic():
        if instruction.kind == InstructionKind.RETURN:
            # The locks of approving a return, in its order (R9 reads the victim's returns).
            lock_calendar(exclusive=False)
        case, _involved_account, instruction, freeze = _lock_instruction(instruction)
        if not case_in_scope(actor, case):
            raise Http404
        next_status(INSTRUCTION_TRANSITIONS, "resubmit", instruction.status)
        if instruction.sent_back_at is None:
            raise InvalidState(_("Only a request sent back for correction can be resubmitted."))
        require_open(case, kind=instruction.kind)
        now = acting_time.now()
        if freeze is not None:
            _require_freeze_in_force(freeze, now)
        changes = _apply_correction(instruction, freeze, correction, case_unit=case.unit)
        instruction.sent_back_at = None
        try:
            instruction.save(
                update_fields=[
                    "sent_back_at",
                    "requested_amount",
                    "term_months",
                    "reason",
                    "instrument_number",
                    "issuing_unit",
                    "instrument_source",
                ]
            )
        except IntegrityError as error:  # the same number entered by another request at once
            raise_if_number_taken(error, instruction.instrument_number)
        record_event(
            case=case,
            type=EventType.INSTRUCTION_RESUBMITTED,
            actor=actor,
            instruction=instruction,
            kind=instruction.kind,
            note=correction.note.strip()[:TEXT_MAX],
            changes=changes,
        )
    return instruction


def _apply_correction(
    instruction: Instruction,
    freeze: Instruction | None,
    correction: Correction,
    *,
    case_unit: Any,
) -> dict[str, list[Any]]:
    """Apply ``correction`` to the locked ``instruction`` under the rules of its kind;
    answer what changed, as ``{field: [before, after]}``."""
    changes: dict[str, list[Any]] = {}
    if correction.amount is not None and correction.amount != instruction.requested_amount:
        amount = correction.amount
        if amount <= 0:
            raise RuleViolation(_("The amount must be more than zero."), field="amount")
        if instruction.kind == InstructionKind.RENEWAL:
            assert freeze is not None
            if amount > freeze.held_amount:
                raise RuleViolation(
                    _("At most %(held)s is held by this freeze.")
                    % {"held": f"{freeze.held_amount:.2f}"},
                    field="amount",
                )
        if instruction.kind in (InstructionKind.RELEASE, InstructionKind.RETURN):
            assert freeze is not None
            # What is free of other claims, this request's own claim given back.
            available = freeze_available(freeze) + instruction.requested_amount
            if amount > available:
                raise RuleViolation(
                    _("At most %(available)s is still held and not yet asked for.")
                    % {"available": f"{available:.2f}"},
                    field="amount",
                )
        if instruction.kind == InstructionKind.RETURN:
            victim = _lock_victim(instruction.victim_id, case=instruction.case)
            assert victim is not None  # instruction_return_names_a_victim
            _require_payable(victim, amount, excluding_instruction=instruction.pk)
        changes["requested_amount"] = [f"{instruction.requested_amount:.2f}", f"{amount:.2f}"]
        instruction.requested_amount = amount
    if correction.term_months is not None and correction.term_months != instruction.term_months:
        if instruction.kind not in (InstructionKind.FREEZE, InstructionKind.RENEWAL):
            raise RuleViolation(_("Only a freeze or a renewal has a term."), field="term_months")
        term = _require_term(
            InstructionRequest(
                kind=instruction.kind, involved_account_id=None, term_months=correction.term_months
            )
        )
        changes["term_months"] = [instruction.term_months, term]
        instruction.term_months = term
    if correction.reason is not None and correction.reason.strip() != instruction.reason:
        reason = correction.reason.strip()
        if instruction.kind == InstructionKind.RELEASE and not reason:
            raise RuleViolation(_("Say why the funds are released."), field="reason")
        changes["reason"] = [instruction.reason, reason]
        instruction.reason = reason
    number = (correction.instrument_number or "").strip()
    if number and number != instruction.instrument_number:
        before = instruction.instrument_number
        instrument_number_enter(instruction, unit=case_unit, number=number)
        changes["instrument_number"] = [before, number]
    return changes


@dataclass(frozen=True)
class ApprovalStep:
    """One step of an approval, read back from its audit event."""

    action: str  # requested, sent_back, resubmitted, approved, declined
    at: datetime
    actor: User | None
    unit_name: str
    text: str  # the opinion, the reason or the officer's note
    changes: dict[str, list[Any]]

    @property
    def label(self) -> str:
        return str(STEP_LABELS[self.action])


STEP_LABELS = {
    "requested": gettext_lazy("Requested"),
    "sent_back": gettext_lazy("Sent back for correction"),
    "resubmitted": gettext_lazy("Corrected and resubmitted"),
    "approved": gettext_lazy("Approved"),
    "declined": gettext_lazy("Declined"),
}
STEP_EVENTS = {
    EventType.INSTRUCTION_REQUESTED: "requested",
    EventType.INSTRUCTION_SENT_BACK: "sent_back",
    EventType.INSTRUCTION_RESUBMITTED: "resubmitted",
    EventType.INSTRUCTION_APPROVED: "approved",
    EventType.INSTRUCTION_DECLINED: "declined",
}


def approval_steps(instruction_ids: Iterable[int]) -> dict[int, list[ApprovalStep]]:
    """The steps of each instruction's approval, oldest first, in one query: the request,
    every send-back and resubmission, and the approval or the decline."""
    steps: dict[int, list[ApprovalStep]] = defaultdict(list)
    ids = list(instruction_ids)
    if not ids:
        return steps
    events = (
        Event.objects.filter(instruction_id__in=ids, type__in=list(STEP_EVENTS))
        .select_related("actor__organization")
        .order_by("at", "id")
    )
    for event in events:
        data = event.data
        actor = event.actor
        unit_name = data.get("unit_name") or (
            actor.organization.name if actor is not None and actor.organization else ""
        )
        assert event.instruction_id is not None
        steps[event.instruction_id].append(
            ApprovalStep(
                action=STEP_EVENTS[EventType(event.type)],
                at=event.at,
                actor=actor,
                unit_name=unit_name,
                text=data.get("opinion") or data.get("reason") or data.get("note") or "",
                changes=data.get("changes") or {},
            )
        )
    return steps
