"""Opening and closing the legal clocks (funds.models.Deadline).

Called by the other services inside their transactions, so a clock starts and stops in the
same commit as the change that starts or stops it. The periodic sweep only reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from funds.durations import add_months, rule
from funds.models import Case, Deadline, DeadlineKind, Flag, Instruction, InstructionKind


def deadline_open(
    *,
    kind: str,
    case: Case,
    due_at: datetime,
    warning: timedelta | None,
    now: datetime,
    instruction: Instruction | None = None,
) -> Deadline:
    warn_at = due_at - warning if warning is not None else None
    return Deadline.objects.create(
        kind=kind, case=case, instruction=instruction, due_at=due_at, warn_at=warn_at, opened_at=now
    )


def deadlines_meet(
    *,
    now: datetime,
    kinds: Sequence[str],
    case: Case | None = None,
    instructions: list[int] | None = None,
) -> int:
    """Stop the open clocks of ``kinds`` on the case, or on the given instructions."""
    open_clocks = Deadline.objects.filter(met_at__isnull=True, kind__in=kinds)
    if instructions is not None:
        open_clocks = open_clocks.filter(instruction_id__in=instructions)
    elif case is not None:
        open_clocks = open_clocks.filter(case=case)
    else:  # pragma: no cover - a programming error, not a user's
        raise ValueError("Name a case or instructions.")
    met = list(open_clocks.values_list("pk", flat=True))
    if not met:
        return 0
    Deadline.objects.filter(pk__in=met).update(met_at=now)
    # The thing is done: its flags resolve at once (the sweep would catch it too).
    Flag.objects.filter(deadline_id__in=met, resolved_at__isnull=True).update(resolved_at=now)
    return len(met)


def open_first_stop_clock(case: Case, now: datetime) -> None:
    """R13: the first stop-payment should be asked for within minutes of the report."""
    deadline_open(
        kind=DeadlineKind.FIRST_STOP,
        case=case,
        due_at=case.reported_at + rule("FIRST_STOP_WITHIN"),
        warning=rule("FIRST_STOP_WARNING"),
        now=now,
    )


def open_approval_clock(instruction: Instruction, now: datetime) -> None:
    deadline_open(
        kind=DeadlineKind.APPROVAL,
        case=instruction.case,
        instruction=instruction,
        due_at=now + rule("APPROVAL_WITHIN"),
        warning=rule("APPROVAL_WARNING"),
        now=now,
    )


def open_bank_response_clock(instruction: Instruction, now: datetime) -> None:
    """R1, R11, R14: the institution's answer is due at ``response_due_at``."""
    assert instruction.response_due_at is not None
    warning = {
        InstructionKind.STOP_PAYMENT: rule("STOP_RESPONSE_WARNING"),
        InstructionKind.RETURN: rule("RETURN_WARNING"),
    }.get(InstructionKind(instruction.kind), rule("BANK_RESPONSE_WARNING"))
    deadline_open(
        kind=DeadlineKind.BANK_RESPONSE,
        case=instruction.case,
        instruction=instruction,
        due_at=instruction.response_due_at,
        warning=warning,
        now=now,
    )


def open_stop_clocks(stop: Instruction, now: datetime) -> None:
    """R2: an executed stop-payment lapses at ``effective_until``."""
    assert stop.effective_until is not None
    deadline_open(
        kind=DeadlineKind.STOP_LAPSE,
        case=stop.case,
        instruction=stop,
        due_at=stop.effective_until,
        warning=rule("STOP_LAPSE_WARNING"),
        now=now,
    )


def open_freeze_clocks(freeze: Instruction, now: datetime, *, verification: bool) -> None:
    """R5/R6: expiry and the renewal filing before it; R8: verification, once per freeze."""
    assert freeze.effective_until is not None
    deadline_open(
        kind=DeadlineKind.FREEZE_EXPIRY,
        case=freeze.case,
        instruction=freeze,
        due_at=freeze.effective_until,
        warning=None,
        now=now,
    )
    deadline_open(
        kind=DeadlineKind.RENEWAL,
        case=freeze.case,
        instruction=freeze,
        due_at=freeze.effective_until - rule("RENEWAL_NOTICE"),
        warning=rule("RENEWAL_WARNING"),
        now=now,
    )
    if verification:
        deadline_open(
            kind=DeadlineKind.VERIFICATION,
            case=freeze.case,
            instruction=freeze,
            due_at=add_months(now, rule("VERIFICATION_MONTHS")),
            warning=rule("VERIFICATION_WARNING"),
            now=now,
        )


FREEZE_CLOCKS = [
    DeadlineKind.FREEZE_EXPIRY,
    DeadlineKind.RENEWAL,
    DeadlineKind.VERIFICATION,
    DeadlineKind.RELEASE,
]
