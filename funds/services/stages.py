"""The stage of an involved account, derived from its amounts and instructions.

One function decides it, so that every service (and the deadline sweep) leaves the same
answer for the same facts:

1. Money was frozen: ``released``/``returned`` once nothing is held any more (``returned``
   if any of it was returned), else ``frozen`` while a freeze is in force, else ``expired``.
2. A freeze is waiting for approval, for the bank, or in line behind another case's (R12):
   ``freeze_requested``.
3. A stop-payment is in force: ``stopped``.
4. A stop-payment is waiting for the bank: ``stop_requested``.
5. Otherwise the latest answered stop-payment or freeze says what went wrong:
   ``freeze_failed`` or ``stop_failed`` (rejected, or nothing found), ``lapsed``.
6. Nothing yet: ``identified``.
"""

from __future__ import annotations

from datetime import datetime

from funds.models import (
    EndReason,
    Instruction,
    InstructionKind,
    InstructionStatus,
    InvolvedAccount,
    Stage,
)
from funds.models.instructions import OPEN_STATUSES, waiting_in_queue
from funds.models.money import ZERO


def in_force(instruction: Instruction, now: datetime) -> bool:
    """An executed stop-payment or freeze that holds money and has not ended."""
    return (
        instruction.status == InstructionStatus.EXECUTED
        and (instruction.executed_amount or ZERO) > 0
        and instruction.ended_at is None
        and instruction.effective_until is not None
        and instruction.effective_until > now
        # R12: a queued freeze holds money only once the bank confirmed what it holds.
        and (
            instruction.kind != InstructionKind.FREEZE or instruction.hold_confirmed_at is not None
        )
    )


def derive_stage(
    involved_account: InvolvedAccount, instructions: list[Instruction], now: datetime
) -> str:
    stops = [i for i in instructions if i.kind == InstructionKind.STOP_PAYMENT]
    freezes = [i for i in instructions if i.kind == InstructionKind.FREEZE]
    if involved_account.frozen_amount > 0:
        if involved_account.held_amount == 0:
            return Stage.RETURNED if involved_account.returned_amount > 0 else Stage.RELEASED
        if any(in_force(f, now) for f in freezes):
            return Stage.FROZEN
        if not any(f.status in OPEN_STATUSES or waiting_in_queue(f) for f in freezes):
            return Stage.EXPIRED
    if any(f.status in OPEN_STATUSES or waiting_in_queue(f) for f in freezes):
        return Stage.FREEZE_REQUESTED
    if any(in_force(s, now) for s in stops):
        return Stage.STOPPED
    if any(s.status in OPEN_STATUSES for s in stops):
        return Stage.STOP_REQUESTED
    answered = [
        i
        for i in stops + freezes
        if i.status in (InstructionStatus.EXECUTED, InstructionStatus.REJECTED)
    ]
    if answered:
        latest = max(answered, key=lambda i: (i.responded_at, i.pk))
        failed = latest.status == InstructionStatus.REJECTED or latest.executed_amount == 0
        if latest.kind == InstructionKind.FREEZE:
            return Stage.FREEZE_FAILED if failed else Stage.EXPIRED
        if failed:
            return Stage.STOP_FAILED
        if latest.end_reason == EndReason.LAPSED or (
            latest.effective_until is not None and latest.effective_until <= now
        ):
            return Stage.LAPSED
    return Stage.IDENTIFIED


def refresh_stage(involved_account: InvolvedAccount, now: datetime) -> str:
    """Recompute and save the stage of a locked involved account; answer the new stage."""
    instructions = list(
        Instruction.objects.filter(
            involved_account=involved_account,
            kind__in=[InstructionKind.STOP_PAYMENT, InstructionKind.FREEZE],
        ).exclude(status=InstructionStatus.CANCELLED)
    )
    stage = derive_stage(involved_account, instructions, now)
    if stage != involved_account.stage:
        involved_account.stage = stage
        involved_account.save(update_fields=["stage"])
    return stage


def refresh_stages(involved_account_ids: list[int], now: datetime) -> int:
    """Recompute the stages of many locked involved accounts at once, in a fixed number of
    queries (the sweep's lapses and expiries); answer how many changed."""
    accounts = list(InvolvedAccount.objects.filter(pk__in=involved_account_ids))
    by_account: dict[int, list[Instruction]] = {account.pk: [] for account in accounts}
    holds = Instruction.objects.filter(
        involved_account_id__in=by_account,
        kind__in=[InstructionKind.STOP_PAYMENT, InstructionKind.FREEZE],
    ).exclude(status=InstructionStatus.CANCELLED)
    for instruction in holds:
        by_account[instruction.involved_account_id].append(instruction)
    changed = []
    for account in accounts:
        stage = derive_stage(account, by_account[account.pk], now)
        if stage != account.stage:
            account.stage = stage
            changed.append(account)
    InvolvedAccount.objects.bulk_update(changed, ["stage"], batch_size=1000)
    return len(changed)
