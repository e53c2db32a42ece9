"""R12 across cases: one bank account, one pool of money, its freezes in line (轮候冻结).

Whatever the number of cases that involve a bank account, the money in it can be frozen by
one case at a time. A freeze asked for while another case's freeze on the same bank account
is *live* (waiting for approval, waiting for the bank, in line, or in force) is ``queued``;
it is approved and answered by the bank like any freeze, but the bank's answer only
registers it in line. It takes effect when every live freeze of another case ahead of it
(asked for earlier: a smaller id) has ended: then ``effective_from`` is set, its term and
its R5/R6/R8 clocks start, the officer and the bank are told, and the bank confirms what it
actually holds at that moment (``freeze_confirm_hold`` in funds.services.instructions).
Until that confirmation its money counts as ``queued``, never as frozen or held.

Locks. Every service locks in one order: the case, the involved account, **the bank
account**, instructions by id, the victim. The bank account's row is the queue's lock: a
freeze request decides under it whether to queue, and whatever ends a freeze advances the
queue under it, so two requests on one account at the same moment see each other, and a
freeze ending and one being asked for cannot both miss the other. Advancing the queue
changes another case's freeze without that case's lock; every path that changes a freeze of
the queue takes the bank account's lock before the freeze's, so none can deadlock with it.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Q, QuerySet

from funds.durations import add_months, rule
from funds.models import (
    BankAccount,
    EventType,
    Instruction,
    InstructionKind,
    InstructionStatus,
)
from funds.models.instructions import OPEN_STATUSES
from funds.services.audit import record_event
from funds.services.deadlines import open_bank_response_clock, open_freeze_clocks
from funds.services.notifications import queue_effect_notify_after_commit


def live(now: datetime) -> Q:
    """A freeze that holds its place on the account: asked for and not refused, in line, or
    in force (not ended, not expired, not answered with nothing found)."""
    executed_live = Q(status=InstructionStatus.EXECUTED, executed_amount__gt=0) & (
        Q(effective_until__isnull=True) | Q(effective_until__gt=now)
    )
    return Q(kind=InstructionKind.FREEZE, ended_at__isnull=True) & (
        Q(status__in=OPEN_STATUSES) | executed_live
    )


def freezes_on(bank_account_id: int) -> QuerySet[Instruction]:
    return Instruction.objects.filter(
        involved_account__account_id=bank_account_id, kind=InstructionKind.FREEZE
    )


def lock_bank_account(bank_account_id: int) -> BankAccount:
    """Take the queue's lock (after the case's and the involved account's)."""
    return BankAccount.objects.select_for_update(no_key=True).get(pk=bank_account_id)


def other_case_holds(*, bank_account_id: int, case_id: int, now: datetime) -> bool:
    """Under the bank account's lock: whether another case has a live freeze on it."""
    return freezes_on(bank_account_id).filter(live(now)).exclude(case_id=case_id).exists()


def ahead(freeze: Instruction, now: datetime) -> QuerySet[Instruction]:
    """The live freezes of other cases asked for before ``freeze`` on its bank account."""
    return (
        freezes_on(freeze.involved_account.account_id)
        .filter(live(now), pk__lt=freeze.pk)
        .exclude(case_id=freeze.case_id)
    )


def queue_position(freeze: Instruction, now: datetime) -> int | None:
    """How many freezes are ahead of a freeze still in line (1: it is next); None otherwise."""
    if not freeze.waiting_in_queue or freeze.effective_from is not None:
        return None
    return ahead(freeze, now).count()


def queue_advance(*, bank_account_id: int, now: datetime) -> list[Instruction]:
    """Let the freezes in line take effect whose turn has come; answer them.

    The caller holds the bank account's lock (``lock_bank_account``). A freeze registered in
    line takes effect when no live freeze of another case is ahead of it; one still waiting
    for approval or for the bank takes effect when the bank answers
    (funds.services.instructions).
    """
    candidates = list(
        freezes_on(bank_account_id)
        .filter(live(now))
        .select_related("case", "involved_account")
        .order_by("pk")
    )
    started: list[Instruction] = []
    for index, freeze in enumerate(candidates):
        registered = (
            freeze.status == InstructionStatus.EXECUTED
            and freeze.effective_from is None
            and freeze.hold_confirmed_at is None
        )
        if not registered:
            continue
        if any(earlier.case_id != freeze.case_id for earlier in candidates[:index]):
            break
        started.append(_take_effect(freeze, now))
    return started


def _take_effect(freeze: Instruction, now: datetime) -> Instruction:
    freeze = (
        # The freeze's row only: its case belongs to another unit, whose lock this path
        # must not take (the order is case before bank account, never the other way).
        Instruction.objects.select_for_update(of=("self",), no_key=True)
        .select_related("case")
        .get(pk=freeze.pk)
    )
    assert freeze.term_months is not None
    freeze.effective_from = now
    freeze.effective_until = add_months(now, freeze.term_months)  # R5: the term starts now
    # R14: the bank confirms within a working day what the freeze holds now.
    freeze.response_due_at = now + rule("BANK_RESPONSE")
    freeze.save(update_fields=["effective_from", "effective_until", "response_due_at"])
    open_bank_response_clock(freeze, now)
    open_freeze_clocks(freeze, now, verification=True)  # R5, R6 and R8 run from now
    record_event(
        case=freeze.case,
        type=EventType.FREEZE_TOOK_EFFECT,
        actor=None,
        instruction=freeze,
        registered_amount=freeze.executed_amount,
        effective_from=now.isoformat(),
        effective_until=freeze.effective_until.isoformat(),
        confirmation_due_at=freeze.response_due_at.isoformat(),
    )
    queue_effect_notify_after_commit(freeze.pk)
    return freeze


def queues_advance_all(now: datetime) -> int:
    """The sweep's catch-up: advance every queue whose head has ended (an expiry, or anything
    that ended a freeze without advancing its queue); answer how many freezes took effect.

    Each bank account in its own transaction, so that one busy account holds up no other.
    """
    waiting = (
        Instruction.objects.filter(
            kind=InstructionKind.FREEZE,
            status=InstructionStatus.EXECUTED,
            executed_amount__gt=0,
            ended_at__isnull=True,
            effective_from__isnull=True,
        )
        .values_list("involved_account__account_id", flat=True)
        .distinct()
    )
    started = 0
    for bank_account_id in sorted(set(waiting)):
        with transaction.atomic():
            lock_bank_account(bank_account_id)
            started += len(queue_advance(bank_account_id=bank_account_id, now=now))
    return started
