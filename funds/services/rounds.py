"""Services for R10's allocation rounds: open, object, withdraw, confirm.

Every function opens a transaction and locks in the one global order (funds.services.
instructions): the calendar (shared, at confirmation only, as every R11 deadline takes it),
the case, the freeze's involved account, the freeze, the round, then the victims by id. The
case's lock alone already serialises every change in a case; the others make each check
read the rows it relies on as they are.

A round in notice reserves its shares: funds.selectors.freeze_available deducts the round
from what the freeze has available, and funds.selectors.victim_owed deducts each share from
what its victim is owed. No other return, release or round can take that money meanwhile,
so a confirmation finds it still there; it re-checks all the same, under the locks. The
confirmation ends the reservation and creates the returns in the same transaction, so the
money is counted once: reserved by the round, or asked for by its returns, never both.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Role, User
from funds import acting_time
from funds.access import case_in_scope, require_approver, require_role
from funds.durations import rule
from funds.errors import InvalidState, RuleViolation
from funds.models import (
    AllocationObjection,
    AllocationRound,
    AllocationShare,
    Case,
    EventType,
    Instruction,
    InstructionKind,
    InvolvedAccount,
    RoundStatus,
    Victim,
)
from funds.selectors import allocation_proposal, freeze_available
from funds.services.audit import record_event
from funds.services.cases import lock_case, require_open
from funds.services.instructions import return_issue_approved
from funds.services.stages import in_force
from funds.transitions import ROUND_TRANSITIONS, next_status
from funds.working_days import lock_calendar


def _local(moment: datetime) -> str:
    """A moment as the people of the case read it: Asia/Shanghai (settings.TIME_ZONE)."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def _lock_freeze(case: Case, freeze_id: int | None) -> tuple[InvolvedAccount, Instruction]:
    """The freeze's involved account, then the freeze, under their locks (400 on ``freeze``
    for one that is not a freeze of this case)."""
    found = (
        Instruction.objects.filter(pk=freeze_id or 0, case=case, kind=InstructionKind.FREEZE)
        .only("involved_account")
        .first()
    )
    if found is None:
        raise RuleViolation(_("No such freeze in this case."), field="freeze")
    involved_account = (
        InvolvedAccount.objects.select_for_update(of=("self",), no_key=True)
        .select_related("account__institution")
        .get(pk=found.involved_account_id)
    )
    freeze = Instruction.objects.select_for_update(no_key=True).get(pk=found.pk)
    return involved_account, freeze


def _require_in_force(freeze: Instruction) -> None:
    if not in_force(freeze, acting_time.now()):
        raise InvalidState(_("The freeze is not in force."))


def _lock_round(allocation_round: AllocationRound) -> AllocationRound:
    return (
        AllocationRound.objects.select_for_update(of=("self",), no_key=True)
        .select_related("opened_by")
        .get(pk=allocation_round.pk)
    )


def _lock_victims(ids: list[int]) -> dict[int, Victim]:
    return {
        victim.pk: victim
        for victim in Victim.objects.select_for_update(of=("self",), no_key=True)
        .select_related("account_institution")
        .filter(pk__in=ids)
        .order_by("pk")
    }


def round_open(*, actor: User, case: Case, freeze_id: int | None) -> AllocationRound:
    """Share what a freeze has available among the victims in proportion to what each is
    still owed, and publish the shares for the public notice (R10).

    Every victim still owed takes part, so every such victim needs an account on file: a
    round that left one out would hand that victim's share to the others for good. Until
    they have one, the round is refused, naming them. Victims owed nothing take no part."""
    require_role(actor, Role.OFFICER)
    with transaction.atomic():
        case = lock_case(case)
        if not case_in_scope(actor, case):
            raise Http404
        # Like the returns it leads to, a round goes on once the case is closed.
        require_open(case, kind=InstructionKind.RETURN)
        _involved_account, freeze = _lock_freeze(case, freeze_id)
        _require_in_force(freeze)
        if AllocationRound.objects.filter(freeze=freeze, status=RoundStatus.NOTICE).exists():
            raise InvalidState(
                _(
                    "A round over this freeze is already in notice: withdraw it before opening another."
                )
            )
        _lock_victims(list(Victim.objects.filter(case=case).values_list("pk", flat=True)))
        proposal = allocation_proposal(freeze)
        if proposal.without_account:
            raise InvalidState(
                _("Record the own accounts of these victims before sharing: %(names)s.")
                % {"names": "、".join(v.name for v in proposal.without_account)}
            )
        if proposal.available <= 0:
            raise InvalidState(
                _(
                    "Nothing to share: the freeze has %(available)s available and the victims "
                    "are owed nothing more, or nothing is left."
                )
                % {"available": f"{proposal.freeze_available:.2f}"}
            )
        now = acting_time.now()
        allocation_round = AllocationRound.objects.create(
            case=case,
            freeze=freeze,
            freeze_available=proposal.freeze_available,
            available=proposal.available,
            opened_by=actor,
            opened_at=now,
            notice_until=now + rule("PUBLIC_NOTICE"),  # R10
        )
        shares = AllocationShare.objects.bulk_create(
            AllocationShare(
                round=allocation_round,
                victim=share.victim,
                loss_amount=share.victim.loss_amount,
                already_returned=share.already_returned,
                amount=share.amount,
            )
            for share in proposal.shares
            if share.owed > 0
        )
        record_event(
            case=case,
            type=EventType.ROUND_OPENED,
            actor=actor,
            round=allocation_round.pk,
            freeze=freeze.pk,
            freeze_available=proposal.freeze_available,
            available=proposal.available,
            notice_until=timezone.localtime(allocation_round.notice_until).isoformat(),
            shares=[
                {
                    "victim": s.victim_id,
                    "owed": f"{s.owed:.2f}",
                    "amount": f"{s.amount:.2f}",
                }
                for s in shares
            ],
        )
    return allocation_round


def _lock_case_and_round(
    actor: User, allocation_round: AllocationRound
) -> tuple[Case, AllocationRound]:
    case = lock_case(allocation_round.case)
    if not case_in_scope(actor, case):
        raise Http404
    return case, _lock_round(allocation_round)


def round_object(
    *, actor: User, allocation_round: AllocationRound, victim_id: int | None, reason: str
) -> AllocationObjection:
    """Record an objection to a round while its public notice runs (R10)."""
    require_role(actor, Role.OFFICER)
    if not reason.strip():
        raise RuleViolation(_("Say what the objection is."), field="reason")
    with transaction.atomic():
        case, allocation_round = _lock_case_and_round(actor, allocation_round)
        next_status(ROUND_TRANSITIONS, "object", allocation_round.status)
        now = acting_time.now()
        if now >= allocation_round.notice_until:
            raise InvalidState(
                _("The public notice ended at %(until)s: objections are no longer taken.")
                % {"until": _local(allocation_round.notice_until)}
            )
        victim = Victim.objects.filter(pk=victim_id or 0, case=case).first()
        if victim is None:
            raise RuleViolation(_("No such victim in this case."), field="victim")
        objection = AllocationObjection.objects.create(
            round=allocation_round,
            victim=victim,
            reason=reason.strip(),
            recorded_by=actor,
            recorded_at=now,
        )
        record_event(
            case=case,
            type=EventType.ROUND_OBJECTION,
            actor=actor,
            round=allocation_round.pk,
            objection=objection.pk,
            victim=victim.pk,
            reason=objection.reason,
        )
    return objection


def round_withdraw(
    *, actor: User, allocation_round: AllocationRound, reason: str
) -> AllocationRound:
    """Withdraw a round not yet confirmed, freeing what it reserved; a corrected round may
    then be opened over the same freeze."""
    require_role(actor, Role.OFFICER)
    if not reason.strip():
        raise RuleViolation(_("Say why the round is withdrawn."), field="reason")
    with transaction.atomic():
        case, allocation_round = _lock_case_and_round(actor, allocation_round)
        before = allocation_round.status
        allocation_round.status = next_status(
            ROUND_TRANSITIONS, "withdraw", allocation_round.status
        )
        allocation_round.withdrawn_by = actor
        allocation_round.withdrawn_at = acting_time.now()
        allocation_round.withdraw_reason = reason.strip()
        allocation_round.save(
            update_fields=["status", "withdrawn_by", "withdrawn_at", "withdraw_reason"]
        )
        record_event(
            case=case,
            type=EventType.ROUND_WITHDRAWN,
            actor=actor,
            round=allocation_round.pk,
            before=before,
            after=allocation_round.status,
            reason=allocation_round.withdraw_reason,
            available=allocation_round.available,
        )
    return allocation_round


def round_confirm(*, actor: User, allocation_round: AllocationRound) -> AllocationRound:
    """After the public notice, confirm a round and send one approved return per share
    above zero to the bank, in the same transaction (R10, approved as R9 requires)."""
    require_role(actor, Role.MANAGER)
    with transaction.atomic():
        # Before the case's lock, as instruction_approve takes it for a return's R11 clock.
        lock_calendar(exclusive=False)
        case = lock_case(allocation_round.case)
        if not case_in_scope(actor, case):
            raise Http404
        # The level first: a manager below city level hears so (403) whatever the round's
        # state, as for approving a return.
        require_approver(actor, InstructionKind.RETURN)
        involved_account, freeze = _lock_freeze(case, allocation_round.freeze_id)
        allocation_round = _lock_round(allocation_round)
        before = allocation_round.status
        allocation_round.status = next_status(ROUND_TRANSITIONS, "confirm", allocation_round.status)
        now = acting_time.now()
        if now < allocation_round.notice_until:
            raise InvalidState(
                _("The public notice runs until %(until)s: the round can be confirmed after it.")
                % {"until": _local(allocation_round.notice_until)}
            )
        _require_in_force(freeze)
        shares = list(allocation_round.shares.order_by("victim_id"))
        victims = _lock_victims([s.victim_id for s in shares])
        # The reservation ends here; the returns below take its place in this transaction.
        allocation_round.confirmed_by = actor
        allocation_round.confirmed_at = now
        allocation_round.save(update_fields=["status", "confirmed_by", "confirmed_at"])
        available = freeze_available(freeze)
        if allocation_round.available > available:
            raise InvalidState(
                _(
                    "The freeze has only %(available)s available now, less than the round's "
                    "%(shared)s: withdraw the round and open a corrected one."
                )
                % {
                    "available": f"{available:.2f}",
                    "shared": f"{allocation_round.available:.2f}",
                }
            )
        returns = []
        for share in shares:
            if share.amount <= 0:
                continue
            share.return_instruction = return_issue_approved(
                actor=actor,
                case=case,
                involved_account=involved_account,
                freeze=freeze,
                victim=victims[share.victim_id],
                amount=share.amount,
                requested_by=allocation_round.opened_by,
                reason=_("Allocation round #%(round)d (R10)") % {"round": allocation_round.pk},
                now=now,
                round=allocation_round.pk,
            )
            share.save(update_fields=["return_instruction"])
            returns.append(share.return_instruction.pk)
        record_event(
            case=case,
            type=EventType.ROUND_CONFIRMED,
            actor=actor,
            round=allocation_round.pk,
            before=before,
            after=allocation_round.status,
            available=allocation_round.available,
            returns=returns,
            objections=allocation_round.objections.count(),
        )
    return allocation_round
