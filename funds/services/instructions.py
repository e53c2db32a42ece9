"""Services for instructions to institutions: request, approve, execute, reject, cancel.

Every function here opens a transaction, locks in the one order used everywhere (the case,
then the involved account, then for a freeze and what acts on one its bank account, the
queue's lock of funds.services.freeze_queue, then instructions by id, then the victim),
re-reads state under those locks, checks the transition table and the rules of DOMAIN.md, saves with
update_fields, refreshes the account's stage and writes the audit event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils.translation import gettext as _

from accounts.models import Organization, Role, User
from funds import acting_time
from funds.access import case_in_scope, require_approver, require_role
from funds.durations import add_months, rule
from funds.errors import InvalidState, RuleViolation
from funds.models import (
    Case,
    DeadlineKind,
    EndReason,
    EventType,
    Instruction,
    InstructionKind,
    InstructionStatus,
    InvolvedAccount,
    Victim,
)
from funds.models.instructions import NUMBERED, OPEN_STATUSES
from funds.models.money import ZERO
from funds.selectors import freeze_available, victim_owed
from funds.services.audit import record_event
from funds.services.cases import account_add, lock_case, require_filed, require_open
from funds.services.deadlines import (
    FREEZE_CLOCKS,
    deadline_open,
    deadlines_meet,
    open_approval_clock,
    open_bank_response_clock,
    open_freeze_clocks,
    open_stop_clocks,
)
from funds.services.documents import documents_issue_after_commit
from funds.services.freeze_queue import (
    ahead,
    lock_bank_account,
    other_case_holds,
    queue_advance,
)
from funds.services.notifications import notify_institution_after_commit
from funds.services.numbering import (
    instrument_number_enter,
    instrument_number_issue,
    raise_if_number_taken,
)
from funds.services.stages import in_force, refresh_stage
from funds.transitions import INSTRUCTION_TRANSITIONS, next_status
from funds.working_days import lock_calendar, working_deadline

# An approver's opinion is a paragraph of the approval form (funds.services.approvals).
OPINION_MAX = 2000
FOLLOW_UP_KINDS = (InstructionKind.RENEWAL, InstructionKind.RELEASE, InstructionKind.RETURN)
# The kinds whose requests or answers can queue a freeze or end one (R12): they take the
# bank account's lock.
QUEUE_KINDS = (InstructionKind.FREEZE, InstructionKind.RELEASE, InstructionKind.RETURN)


@dataclass(frozen=True)
class InstructionRequest:
    """What an officer asks for; which fields matter depends on ``kind``."""

    kind: str
    involved_account_id: int | None
    amount: Decimal | None = None
    instrument_number: str = ""
    term_months: int | None = None
    freeze_id: int | None = None
    victim_id: int | None = None
    reason: str = ""


def _lock_involved_account(case: Case, involved_account_id: int | None) -> InvolvedAccount:
    if involved_account_id is None:
        raise RuleViolation(_("Name the account."), field="account")
    try:
        return (
            InvolvedAccount.objects.select_for_update(of=("self",), no_key=True)
            .select_related("account")
            .get(pk=involved_account_id, case=case)
        )
    except InvolvedAccount.DoesNotExist:
        raise RuleViolation(_("No such account in this case."), field="account") from None


@transaction.atomic
def account_add_and_stop(
    *,
    actor: User,
    case: Case,
    institution_code: str,
    number: str,
    holder_name: str,
    layer: int,
    stop_amount: Decimal | None,
) -> tuple[InvolvedAccount, Instruction | None]:
    """Add an account to the case and, when ``stop_amount`` is given, ask its institution to
    stop payment in the same transaction (R13: the first stop goes out with the account);
    if the stop is refused, the account is not added either."""
    involved_account = account_add(
        actor=actor,
        case=case,
        institution_code=institution_code,
        number=number,
        holder_name=holder_name,
        layer=layer,
    )
    if stop_amount is None:
        return involved_account, None
    stop = instruction_request(
        actor=actor,
        case=case,
        request=InstructionRequest(
            kind=InstructionKind.STOP_PAYMENT,
            involved_account_id=involved_account.pk,
            amount=stop_amount,
        ),
    )
    return involved_account, stop


def _require_freeze_in_force(freeze: Instruction, now: datetime) -> None:
    if not in_force(freeze, now):
        raise InvalidState(_("The freeze is not in force."))


@transaction.atomic
def instruction_request(*, actor: User, case: Case, request: InstructionRequest) -> Instruction:
    """Ask an institution to stop, freeze, renew, release or return (API.md, "kinds")."""
    require_role(actor, Role.OFFICER)
    case = lock_case(case)
    if not case_in_scope(actor, case):
        raise Http404
    now = acting_time.now()
    kind = request.kind
    require_open(case, kind=kind)

    freeze: Instruction | None = None
    involved_account_id = request.involved_account_id
    if kind in FOLLOW_UP_KINDS:
        freeze = (
            Instruction.objects.filter(
                pk=request.freeze_id or 0, case=case, kind=InstructionKind.FREEZE
            )
            .only("involved_account")
            .first()
        )
        if freeze is None:
            raise RuleViolation(_("No such freeze in this case."), field="freeze")
        if involved_account_id is not None and involved_account_id != freeze.involved_account_id:
            raise RuleViolation(_("The freeze is on another account."), field="account")
        involved_account_id = freeze.involved_account_id
    involved_account = _lock_involved_account(case, involved_account_id)
    if kind == InstructionKind.FREEZE:
        lock_bank_account(involved_account.account_id)
    if freeze is not None:
        freeze = Instruction.objects.select_for_update(no_key=True).get(pk=freeze.pk)

    instruction = Instruction(
        case=case,
        involved_account=involved_account,
        institution_id=involved_account.account.institution_id,
        kind=kind,
        requested_by=actor,
        requested_at=now,
        freeze=freeze,
    )
    amount = request.amount
    handler = {
        InstructionKind.STOP_PAYMENT: _prepare_stop,
        InstructionKind.FREEZE: _prepare_freeze,
        InstructionKind.RENEWAL: _prepare_renewal,
        InstructionKind.RELEASE: _prepare_release,
        InstructionKind.RETURN: _prepare_return,
    }[InstructionKind(kind)]
    handler(
        instruction=instruction,
        case=case,
        involved_account=involved_account,
        request=request,
        now=now,
    )
    if instruction.requested_amount is None:
        if amount is None:
            raise RuleViolation(_("An amount is required."), field="amount")
        instruction.requested_amount = amount
    if instruction.requested_amount <= 0:
        raise RuleViolation(_("The amount must be more than zero."), field="amount")
    # A number issued elsewhere is kept (unique in its unit and kind); otherwise a
    # stop-payment, which goes out at once, takes the next of its unit's numbering now and
    # every other kind at its approval.
    if request.instrument_number.strip():
        instrument_number_enter(instruction, unit=case.unit, number=request.instrument_number)
    elif kind == InstructionKind.STOP_PAYMENT:
        instrument_number_issue(instruction, unit=case.unit, now=now)
    if freeze is not None and kind in (InstructionKind.RELEASE, InstructionKind.RETURN):
        available = freeze_available(freeze)
        if instruction.requested_amount > available:
            raise RuleViolation(
                _("At most %(available)s is still held and not yet asked for.")
                % {"available": f"{available:.2f}"},
                field="amount",
            )
    try:
        instruction.save()
    except IntegrityError as error:  # the same number entered by two requests at once
        raise_if_number_taken(error, instruction.instrument_number)
    if instruction.status == InstructionStatus.PENDING:
        # The first stop-payment stops the golden-time clock (R13).
        deadlines_meet(now=now, kinds=[DeadlineKind.FIRST_STOP], case=case)
        open_bank_response_clock(instruction, now)
        notify_institution_after_commit(instruction)
        documents_issue_after_commit(instruction, actor=actor)
    else:
        open_approval_clock(instruction, now)
    refresh_stage(involved_account, now)
    record_event(
        case=case,
        type=EventType.INSTRUCTION_REQUESTED,
        actor=actor,
        instruction=instruction,
        kind=kind,
        status=instruction.status,
        account=involved_account.account.number,
        institution=involved_account.account.institution.code,
        requested_amount=instruction.requested_amount,
        instrument_number=instruction.instrument_number,
        term_months=instruction.term_months,
        freeze=freeze.pk if freeze else None,
        victim=instruction.victim_id,
        queued=instruction.queued,
    )
    return instruction


def _prepare_stop(
    *,
    instruction: Instruction,
    case: Case,
    involved_account: InvolvedAccount,
    request: InstructionRequest,
    now: datetime,
) -> None:
    # R1: no approval; the bank should answer within minutes.
    stops = Instruction.objects.filter(
        involved_account=involved_account, kind=InstructionKind.STOP_PAYMENT
    )
    if stops.filter(status__in=OPEN_STATUSES).exists():
        raise InvalidState(_("A stop-payment on this account is already waiting for the bank."))
    # R3: at most two stop-payments per account in a case (cancelled and rejected ones
    # never took hold and do not count).
    limit = rule("MAX_STOPS_PER_ACCOUNT")
    if stops.filter(status=InstructionStatus.EXECUTED).count() >= limit:
        raise InvalidState(
            _("This account has already been stopped %(limit)d times in this case (R3).")
            % {"limit": limit}
        )
    freezes = Instruction.objects.filter(
        involved_account=involved_account, kind=InstructionKind.FREEZE
    )
    if any(in_force(f, now) for f in freezes.filter(status=InstructionStatus.EXECUTED)):
        raise InvalidState(_("A freeze is in force on this account; a stop-payment adds nothing."))
    instruction.status = InstructionStatus.PENDING
    instruction.response_due_at = now + rule("STOP_RESPONSE")


def _require_term(request: InstructionRequest) -> int:
    maximum = rule("FREEZE_MAX_MONTHS")
    term = maximum if request.term_months is None else request.term_months
    if not 1 <= term <= maximum:
        raise RuleViolation(
            _("The term is 1 to %(max)d months (R5).") % {"max": maximum}, field="term_months"
        )
    return term


def _prepare_freeze(
    *,
    instruction: Instruction,
    case: Case,
    involved_account: InvolvedAccount,
    request: InstructionRequest,
    now: datetime,
) -> None:
    require_filed(case)
    instruction.term_months = _require_term(request)
    if Instruction.objects.filter(
        involved_account=involved_account, kind=InstructionKind.FREEZE, status__in=OPEN_STATUSES
    ).exists():
        raise InvalidState(_("A freeze on this account is already waiting."))
    # R12: while another case holds the account's funds frozen, or has a freeze on it asked
    # for, approved or in line, this one queues behind it (decided under the bank account's
    # lock, taken by instruction_request).
    instruction.queued = other_case_holds(
        bank_account_id=involved_account.account_id, case_id=case.pk, now=now
    )
    instruction.status = InstructionStatus.AWAITING_APPROVAL


def _prepare_renewal(
    *,
    instruction: Instruction,
    case: Case,
    involved_account: InvolvedAccount,
    request: InstructionRequest,
    now: datetime,
) -> None:
    freeze = instruction.freeze
    assert freeze is not None
    _require_freeze_in_force(freeze, now)
    instruction.term_months = _require_term(request)
    if Instruction.objects.filter(
        freeze=freeze, kind=InstructionKind.RENEWAL, status__in=OPEN_STATUSES
    ).exists():
        raise InvalidState(_("A renewal of this freeze is already waiting."))
    held = freeze.held_amount
    amount = held if request.amount is None else request.amount
    if amount > held:
        raise RuleViolation(
            _("At most %(held)s is held by this freeze.") % {"held": f"{held:.2f}"}, field="amount"
        )
    instruction.requested_amount = amount
    instruction.status = InstructionStatus.AWAITING_APPROVAL


def _prepare_release(
    *,
    instruction: Instruction,
    case: Case,
    involved_account: InvolvedAccount,
    request: InstructionRequest,
    now: datetime,
) -> None:
    assert instruction.freeze is not None
    _require_freeze_in_force(instruction.freeze, now)
    if not request.reason.strip():
        raise RuleViolation(_("Say why the funds are released."), field="reason")
    instruction.reason = request.reason.strip()
    instruction.status = InstructionStatus.AWAITING_APPROVAL


def _prepare_return(
    *,
    instruction: Instruction,
    case: Case,
    involved_account: InvolvedAccount,
    request: InstructionRequest,
    now: datetime,
) -> None:
    assert instruction.freeze is not None
    _require_freeze_in_force(instruction.freeze, now)
    # Locked last, after the case, the account and the freeze (the global order).
    victim = _lock_victim(request.victim_id, case=case)
    if victim is None:
        raise RuleViolation(_("No such victim in this case."), field="victim")
    if request.amount is not None and request.amount > 0:
        _require_payable(victim, request.amount)
    instruction.victim = victim
    instruction.reason = request.reason.strip()
    instruction.status = InstructionStatus.AWAITING_APPROVAL


def _lock_victim(victim_id: int | None, *, case: Case) -> Victim | None:
    """Re-read a victim of ``case`` under its row lock (last in the lock order)."""
    return (
        Victim.objects.select_for_update(of=("self",), no_key=True)
        .select_related("account_institution")
        .filter(pk=victim_id or 0, case=case)
        .first()
    )


def _require_payable(
    victim: Victim, amount: Decimal, *, excluding_instruction: int | None = None
) -> None:
    """R9: a return is paid to the victim's own account, and never beyond what the victim is
    still owed (funds.selectors.victim_owed). ``victim`` is re-read under its lock, and the
    case's lock is held, so no other return to the victim can slip in between the check and
    the write; the victim_returned_within_loss constraint backs the executed amounts."""
    if not victim.has_account:
        raise InvalidState(
            _("%(name)s has no account on file: record the victim's own account first (R9).")
            % {"name": victim.name}
        )
    owed = victim_owed(victim, excluding_instruction=excluding_instruction)
    if amount > owed:
        raise InvalidState(
            _(
                "%(name)s is owed at most %(owed)s now: the loss less what was returned, "
                "is awaiting return or is reserved by a round in notice (R9)."
            )
            % {"name": victim.name, "owed": f"{max(owed, ZERO):.2f}"}
        )


def _lock_instruction(
    instruction: Instruction,
) -> tuple[Case, InvolvedAccount, Instruction, Instruction | None]:
    """Lock, in the global order, the case, the account, the instruction and its freeze."""
    case = lock_case(instruction.case)
    involved_account = (
        InvolvedAccount.objects.select_for_update(of=("self",), no_key=True)
        .select_related("account")
        .get(pk=instruction.involved_account_id)
    )
    if instruction.kind in QUEUE_KINDS:
        lock_bank_account(involved_account.account_id)
    ids = sorted({instruction.pk, *([instruction.freeze_id] if instruction.freeze_id else [])})
    locked = {
        i.pk: i
        for i in Instruction.objects.select_for_update(no_key=True)
        .filter(pk__in=ids)
        .order_by("pk")
    }
    current = locked[instruction.pk]
    freeze = locked.get(current.freeze_id) if current.freeze_id else None
    return case, involved_account, current, freeze


def instruction_approve(*, actor: User, instruction: Instruction, opinion: str = "") -> Instruction:
    """``awaiting_approval`` -> ``pending``, by a manager of a high enough unit above the case,
    with the approver's opinion (审批意见) if given."""
    require_role(actor, Role.MANAGER)
    opinion = opinion.strip()
    if len(opinion) > OPINION_MAX:
        raise RuleViolation(
            _("At most %(max)d characters.") % {"max": OPINION_MAX}, field="opinion"
        )
    with transaction.atomic():
        if instruction.kind == InstructionKind.RETURN:
            # Before the case's lock, as funds.services.calendar takes them: a calendar
            # change waits for this deadline, or this deadline for the change.
            lock_calendar(exclusive=False)
        case, _involved_account, instruction, freeze = _lock_instruction(instruction)
        if not case_in_scope(actor, case):
            raise Http404
        # The approver's level first: a manager who may never approve this kind hears so
        # (403), whatever the instruction's state.
        require_approver(actor, instruction.kind)
        instruction.status = next_status(INSTRUCTION_TRANSITIONS, "approve", instruction.status)
        if instruction.sent_back_at is not None:
            raise InvalidState(
                _("This request was sent back for correction; it waits for the officer.")
            )
        require_open(case, kind=instruction.kind)
        now = acting_time.now()
        if freeze is not None:
            _require_freeze_in_force(freeze, now)
        else:
            require_filed(case)
        if instruction.kind == InstructionKind.RETURN:
            # R9 again at approval: the bank is told where to pay, and what was asked for
            # still fits what the victim is owed.
            victim = _lock_victim(instruction.victim_id, case=case)
            assert victim is not None  # instruction_return_names_a_victim
            _require_payable(
                victim, instruction.requested_amount, excluding_instruction=instruction.pk
            )
        _approve(instruction, actor=actor, now=now, unit=case.unit)
        instruction.approval_opinion = opinion
        instruction.save(
            update_fields=[
                "status",
                "approved_by",
                "approved_at",
                "approval_opinion",
                "response_due_at",
                "deadline_provisional",
                "instrument_number",
                "issuing_unit",
                "instrument_source",
            ]
        )
        deadlines_meet(now=now, kinds=[DeadlineKind.APPROVAL], instructions=[instruction.pk])
        _send_to_institution(instruction, now)
        _record_approval(instruction, case=case, actor=actor)
    return instruction


def _approve(instruction: Instruction, *, actor: User, now: datetime, unit: Organization) -> None:
    """Record the approval, the instrument's number (unless entered) and the bank's
    deadline: R11 for a return, R14 otherwise. For a return the caller holds the calendar's
    lock (shared), taken before the case's; ``unit`` is the case's."""
    instruction.approved_by = actor
    instruction.approved_at = now
    if instruction.instrument_source not in NUMBERED and not instruction.instrument_number:
        instrument_number_issue(instruction, unit=unit, now=now)
    if instruction.kind == InstructionKind.RETURN:
        deadline = working_deadline(now, rule("RETURN_WORKING_DAYS"))  # R11
        instruction.response_due_at = deadline.due_at
        instruction.deadline_provisional = deadline.provisional
    else:
        instruction.response_due_at = now + rule("BANK_RESPONSE")  # R14


def _send_to_institution(instruction: Instruction, now: datetime) -> None:
    """Start the bank's answer clock and tell its liaisons once committed, with the
    instrument rendered by then."""
    open_bank_response_clock(instruction, now)
    notify_institution_after_commit(instruction)
    assert instruction.approved_by is not None
    documents_issue_after_commit(instruction, actor=instruction.approved_by)


def _record_approval(instruction: Instruction, *, case: Case, actor: User) -> None:
    assert instruction.response_due_at is not None
    record_event(
        case=case,
        type=EventType.INSTRUCTION_APPROVED,
        actor=actor,
        instruction=instruction,
        kind=instruction.kind,
        before=InstructionStatus.AWAITING_APPROVAL,
        after=instruction.status,
        requested_amount=instruction.requested_amount,
        instrument_number=instruction.instrument_number,
        response_due_at=instruction.response_due_at.isoformat(),
        deadline_provisional=instruction.deadline_provisional,
        opinion=instruction.approval_opinion,
        **unit_of(actor),
    )


def unit_of(actor: User) -> dict[str, str]:
    """The approver's unit as it is now, kept in the step's event: units are renamed,
    steps not (funds.services.approvals.approval_steps)."""
    unit = actor.organization
    return {"unit": unit.code, "unit_name": unit.name} if unit is not None else {}


def return_issue_approved(
    *,
    actor: User,
    case: Case,
    involved_account: InvolvedAccount,
    freeze: Instruction,
    victim: Victim,
    amount: Decimal,
    requested_by: User,
    reason: str,
    now: datetime,
    **event_data: object,
) -> Instruction:
    """Send a return to the bank already approved by ``actor``: R10's returns, issued when a
    manager confirms their allocation round (funds.services.rounds).

    Runs inside the caller's transaction, which holds in the global order the calendar
    (shared), the case, the freeze's involved account, the freeze and the victim, all
    re-read under those locks. The same checks as a return asked and then approved (R9:
    the victim's own account and what the victim is still owed; what the freeze still has
    available) and the same approval (R11's deadline, the bank's clock, the notice)."""
    require_approver(actor, InstructionKind.RETURN)
    _require_freeze_in_force(freeze, now)
    _require_payable(victim, amount)
    available = freeze_available(freeze)
    if amount > available:
        raise InvalidState(
            _("The freeze has only %(available)s available now, less than %(amount)s.")
            % {"available": f"{available:.2f}", "amount": f"{amount:.2f}"}
        )
    instruction = Instruction(
        case=case,
        involved_account=involved_account,
        institution_id=involved_account.account.institution_id,
        kind=InstructionKind.RETURN,
        status=next_status(INSTRUCTION_TRANSITIONS, "approve", InstructionStatus.AWAITING_APPROVAL),
        requested_amount=amount,
        requested_by=requested_by,
        requested_at=now,
        freeze=freeze,
        victim=victim,
        reason=reason,
    )
    _approve(instruction, actor=actor, now=now, unit=case.unit)
    instruction.save()
    _send_to_institution(instruction, now)
    refresh_stage(involved_account, now)
    record_event(
        case=case,
        type=EventType.INSTRUCTION_REQUESTED,
        actor=requested_by,
        instruction=instruction,
        kind=instruction.kind,
        status=InstructionStatus.AWAITING_APPROVAL,
        account=involved_account.account.number,
        institution=involved_account.account.institution.code,
        requested_amount=amount,
        freeze=freeze.pk,
        victim=victim.pk,
        **event_data,
    )
    _record_approval(instruction, case=case, actor=actor)
    return instruction


def _advance_queue_of(
    instruction: Instruction, involved_account: InvolvedAccount, now: datetime
) -> None:
    """R12: whatever may have ended a freeze, or taken one out of line, lets the freezes
    behind it on the bank account take effect (the bank account is locked already)."""
    if instruction.kind in QUEUE_KINDS:
        queue_advance(bank_account_id=involved_account.account_id, now=now)


def _require_liaison_of(actor: User, instruction: Instruction) -> None:
    require_role(actor, Role.LIAISON)
    if actor.organization_id != instruction.institution_id:
        raise Http404


def instruction_execute(
    *, actor: User, instruction: Instruction, executed_amount: Decimal, bank_reference: str
) -> Instruction:
    """The institution's answer: done, with the amount actually found (possibly zero)."""
    _require_liaison_of(actor, instruction)
    if not bank_reference.strip():
        raise RuleViolation(_("The bank's reference is required."), field="bank_reference")
    if executed_amount < 0:
        raise RuleViolation(_("The amount cannot be negative."), field="executed_amount")
    with transaction.atomic():
        case, involved_account, instruction, freeze = _lock_instruction(instruction)
        _require_liaison_of(actor, instruction)
        instruction.status = next_status(INSTRUCTION_TRANSITIONS, "execute", instruction.status)
        if executed_amount > instruction.requested_amount:
            raise RuleViolation(
                _("At most the requested %(amount)s can be executed.")
                % {"amount": f"{instruction.requested_amount:.2f}"},
                field="executed_amount",
            )
        now = acting_time.now()
        instruction.executed_amount = executed_amount
        instruction.bank_reference = bank_reference.strip()
        instruction.responded_by = actor
        instruction.responded_at = now
        fields = ["status", "executed_amount", "bank_reference", "responded_by", "responded_at"]
        effects = _apply_execution(instruction, involved_account, freeze, now)
        if instruction.effective_until is not None:
            fields += ["effective_from", "effective_until"]
        if instruction.kind == InstructionKind.FREEZE:
            fields += ["hold_confirmed_at", "hold_reference", "effect_notified_at"]
        instruction.save(update_fields=fields)
        deadlines_meet(now=now, kinds=[DeadlineKind.BANK_RESPONSE], instructions=[instruction.pk])
        _move_clocks_on_execution(instruction, involved_account, freeze, now)
        stage = refresh_stage(involved_account, now)
        _advance_queue_of(instruction, involved_account, now)
        record_event(
            case=case,
            type=EventType.INSTRUCTION_EXECUTED,
            actor=actor,
            instruction=instruction,
            kind=instruction.kind,
            before=InstructionStatus.PENDING,
            after=instruction.status,
            requested_amount=instruction.requested_amount,
            executed_amount=executed_amount,
            bank_reference=instruction.bank_reference,
            effective_from=instruction.effective_from.isoformat()
            if instruction.effective_from
            else None,
            effective_until=instruction.effective_until.isoformat()
            if instruction.effective_until
            else None,
            stage=stage,
            **effects,
        )
    return instruction


def _apply_execution(
    instruction: Instruction,
    involved_account: InvolvedAccount,
    freeze: Instruction | None,
    now: datetime,
) -> dict[str, object]:
    """Carry an executed instruction's effect onto the account, its freeze and the victim."""
    amount = instruction.executed_amount or ZERO
    kind = instruction.kind
    effects: dict[str, object] = {}
    if kind == InstructionKind.STOP_PAYMENT:
        if amount > 0:
            instruction.effective_from = now
            instruction.effective_until = now + rule("STOP_DURATION")  # R2
            involved_account.stopped_amount += amount
            involved_account.save(update_fields=["stopped_amount"])
    elif kind == InstructionKind.FREEZE:
        if amount > 0:
            waiting_behind = ahead(instruction, now).count() if instruction.queued else 0
            if waiting_behind:
                # R12: the answer registers the freeze in line; it holds nothing yet.
                effects["registered_behind"] = waiting_behind
            else:
                instruction.effective_from = now
                instruction.effective_until = add_months(now, instruction.term_months or 0)  # R5
                instruction.effect_notified_at = now
                effects.update(_take_hold(instruction, involved_account, amount, now))
    else:
        assert freeze is not None
        _require_freeze_in_force(freeze, now)
        if kind == InstructionKind.RENEWAL:
            assert instruction.term_months is not None and freeze.effective_until is not None
            before = freeze.effective_until
            freeze.effective_until = add_months(before, instruction.term_months)
            instruction.effective_until = freeze.effective_until
            freeze.save(update_fields=["effective_until"])
            effects.update(freeze=freeze.pk, expiry_before=before.isoformat())
        else:
            if amount > freeze.held_amount:
                raise InvalidState(_("The freeze holds less than that now."))
            if kind == InstructionKind.RELEASE:
                freeze.released_amount += amount
                involved_account.released_amount += amount
                involved_account.save(update_fields=["released_amount"])
                update = ["released_amount"]
            else:
                freeze.returned_amount += amount
                involved_account.returned_amount += amount
                involved_account.save(update_fields=["returned_amount"])
                update = ["returned_amount"]
                victim = Victim.objects.select_for_update(no_key=True).get(
                    pk=instruction.victim_id or 0
                )
                # R9: never beyond the loss (victim_returned_within_loss holds it too).
                if victim.returned_amount + amount > victim.loss_amount:
                    raise InvalidState(
                        _("%(name)s is owed only %(owed)s now (R9).")
                        % {
                            "name": victim.name,
                            "owed": f"{victim.loss_amount - victim.returned_amount:.2f}",
                        }
                    )
                victim.returned_amount += amount
                victim.save(update_fields=["returned_amount"])
                effects["victim"] = victim.pk
            if freeze.held_amount == 0:
                freeze.ended_at = now
                freeze.end_reason = EndReason.EMPTIED
                update += ["ended_at", "end_reason"]
            freeze.save(update_fields=update)
            effects.update(freeze=freeze.pk, freeze_held=freeze.held_amount)
    return effects


def _take_hold(
    freeze: Instruction, involved_account: InvolvedAccount, amount: Decimal, now: datetime
) -> dict[str, object]:
    """A freeze in force holds ``amount``, as the bank confirmed: the account's frozen money
    grows, and the freeze takes over from the stop-payments on the account."""
    freeze.hold_confirmed_at = now
    freeze.hold_reference = freeze.bank_reference
    involved_account.frozen_amount += amount
    involved_account.save(update_fields=["frozen_amount"])
    superseded = list(
        Instruction.objects.filter(
            involved_account=involved_account,
            kind=InstructionKind.STOP_PAYMENT,
            status=InstructionStatus.EXECUTED,
            ended_at__isnull=True,
        )
        .order_by("pk")
        .select_for_update(no_key=True)
        .values_list("pk", flat=True)
    )
    Instruction.objects.filter(pk__in=superseded).update(
        ended_at=now, end_reason=EndReason.SUPERSEDED
    )
    return {"superseded_stops": superseded}


def _end_alarms_of_ended_holds(
    hold: Instruction, involved_account: InvolvedAccount, now: datetime
) -> None:
    """A new hold ends the alarms of the holds on the account that lapsed or expired (or
    that this freeze just superseded): a stop-payment those of stop-payments, a freeze
    those of both."""
    ended = list(
        Instruction.objects.filter(involved_account=involved_account, ended_at__isnull=False)
        .exclude(pk=hold.pk)
        .values_list("pk", flat=True)
    )
    kinds = [DeadlineKind.STOP_LAPSE]
    if hold.kind == InstructionKind.FREEZE:
        kinds.append(DeadlineKind.FREEZE_EXPIRY)
    deadlines_meet(now=now, kinds=kinds, instructions=ended)


def _move_clocks_on_execution(
    instruction: Instruction,
    involved_account: InvolvedAccount,
    freeze: Instruction | None,
    now: datetime,
) -> None:
    """Start and stop the clocks that an executed instruction starts and stops."""
    kind = instruction.kind
    took_hold = (instruction.executed_amount or ZERO) > 0 and (
        kind != InstructionKind.FREEZE or instruction.hold_confirmed_at is not None
    )
    if kind in (InstructionKind.STOP_PAYMENT, InstructionKind.FREEZE) and took_hold:
        _end_alarms_of_ended_holds(instruction, involved_account, now)
        if kind == InstructionKind.STOP_PAYMENT:
            open_stop_clocks(instruction, now)
        else:
            open_freeze_clocks(instruction, now, verification=True)
    elif kind == InstructionKind.RENEWAL and freeze is not None:
        deadlines_meet(
            now=now,
            kinds=[DeadlineKind.FREEZE_EXPIRY, DeadlineKind.RENEWAL],
            instructions=[freeze.pk],
        )
        open_freeze_clocks(freeze, now, verification=False)
    elif kind in (InstructionKind.RELEASE, InstructionKind.RETURN) and freeze is not None:
        if kind == InstructionKind.RELEASE and took_hold:
            deadlines_meet(
                now=now, kinds=[DeadlineKind.RELEASE], instructions=[freeze.pk]
            )  # R7 done
        if freeze.ended_at is not None:
            deadlines_meet(now=now, kinds=FREEZE_CLOCKS, instructions=[freeze.pk])


def instruction_reject(*, actor: User, instruction: Instruction, reason: str) -> Instruction:
    """The institution's answer: refused, with a reason."""
    _require_liaison_of(actor, instruction)
    if not reason.strip():
        raise RuleViolation(_("Say why the instruction is rejected."), field="reason")
    with transaction.atomic():
        case, involved_account, instruction, _freeze = _lock_instruction(instruction)
        _require_liaison_of(actor, instruction)
        instruction.status = next_status(INSTRUCTION_TRANSITIONS, "reject", instruction.status)
        now = acting_time.now()
        instruction.reject_reason = reason.strip()
        instruction.responded_by = actor
        instruction.responded_at = now
        instruction.save(update_fields=["status", "reject_reason", "responded_by", "responded_at"])
        deadlines_meet(now=now, kinds=[DeadlineKind.BANK_RESPONSE], instructions=[instruction.pk])
        stage = refresh_stage(involved_account, now)
        _advance_queue_of(instruction, involved_account, now)
        record_event(
            case=case,
            type=EventType.INSTRUCTION_REJECTED,
            actor=actor,
            instruction=instruction,
            kind=instruction.kind,
            before=InstructionStatus.PENDING,
            after=instruction.status,
            reason=instruction.reject_reason,
            stage=stage,
        )
    return instruction


def freeze_confirm_hold(
    *, actor: User, instruction: Instruction, held_amount: Decimal, bank_reference: str
) -> Instruction:
    """R12: the institution confirms what a queued freeze holds now that it took effect.

    The bank's first answer registered the freeze in line; when its turn came
    (funds.services.freeze_queue) the money left may be less than was registered, so only
    this second answer makes it frozen. Zero ends the freeze: nothing was left to hold.
    """
    _require_liaison_of(actor, instruction)
    if not bank_reference.strip():
        raise RuleViolation(_("The bank's reference is required."), field="bank_reference")
    if held_amount < 0:
        raise RuleViolation(_("The amount cannot be negative."), field="held_amount")
    with transaction.atomic():
        case, involved_account, freeze, _parent = _lock_instruction(instruction)
        _require_liaison_of(actor, freeze)
        if not (
            freeze.kind == InstructionKind.FREEZE
            and freeze.status == InstructionStatus.EXECUTED
            and freeze.effective_from is not None
            and freeze.hold_confirmed_at is None
            and freeze.ended_at is None
        ):
            raise InvalidState(
                _(
                    "Only a queued freeze that has taken effect waits for its amount to be confirmed."
                )
            )
        if held_amount > freeze.requested_amount:
            raise RuleViolation(
                _("At most the requested %(amount)s can be frozen.")
                % {"amount": f"{freeze.requested_amount:.2f}"},
                field="held_amount",
            )
        now = acting_time.now()
        registered = freeze.executed_amount
        freeze.executed_amount = held_amount
        # ``bank_reference`` stays the registration's; the confirmation's is hold_reference.
        fields = ["executed_amount", "hold_confirmed_at", "hold_reference"]
        effects: dict[str, object] = {}
        if held_amount > 0:
            effects = _take_hold(freeze, involved_account, held_amount, now)
        else:
            freeze.hold_confirmed_at = now
            freeze.ended_at = now
            freeze.end_reason = EndReason.NOTHING_LEFT
            fields += ["ended_at", "end_reason"]
        freeze.hold_reference = bank_reference.strip()
        freeze.save(update_fields=fields)
        deadlines_meet(now=now, kinds=[DeadlineKind.BANK_RESPONSE], instructions=[freeze.pk])
        if held_amount > 0:
            # Its own clocks started when it took effect (funds.services.freeze_queue).
            _end_alarms_of_ended_holds(freeze, involved_account, now)
        else:
            deadlines_meet(now=now, kinds=FREEZE_CLOCKS, instructions=[freeze.pk])
        stage = refresh_stage(involved_account, now)
        queue_advance(bank_account_id=involved_account.account_id, now=now)
        record_event(
            case=case,
            type=EventType.FREEZE_HOLD_CONFIRMED,
            actor=actor,
            instruction=freeze,
            registered_amount=registered,
            held_amount=held_amount,
            hold_reference=freeze.hold_reference,
            stage=stage,
            **effects,
        )
    return freeze


def instruction_cancel(*, actor: User, instruction: Instruction) -> Instruction:
    """Withdraw an instruction not yet answered, by an officer of the case's unit."""
    require_role(actor, Role.OFFICER)
    with transaction.atomic():
        case, involved_account, instruction, _freeze = _lock_instruction(instruction)
        if not case_in_scope(actor, case):
            raise Http404
        before = instruction.status
        instruction.status = next_status(INSTRUCTION_TRANSITIONS, "cancel", instruction.status)
        now = acting_time.now()
        instruction.cancelled_by = actor
        instruction.cancelled_at = now
        instruction.sent_back_at = None  # a withdrawn request waits for nobody
        instruction.save(update_fields=["status", "cancelled_by", "cancelled_at", "sent_back_at"])
        deadlines_meet(
            now=now,
            kinds=[DeadlineKind.APPROVAL, DeadlineKind.BANK_RESPONSE],
            instructions=[instruction.pk],
        )
        stage = refresh_stage(involved_account, now)
        _advance_queue_of(instruction, involved_account, now)
        record_event(
            case=case,
            type=EventType.INSTRUCTION_CANCELLED,
            actor=actor,
            instruction=instruction,
            kind=instruction.kind,
            before=before,
            after=instruction.status,
            stage=stage,
        )
    return instruction


def _lock_freeze_for_officer(actor: User, freeze: Instruction) -> tuple[Case, Instruction]:
    require_role(actor, Role.OFFICER)
    case, _involved_account, freeze, _parent = _lock_instruction(freeze)
    if not case_in_scope(actor, case):
        raise Http404
    if freeze.kind != InstructionKind.FREEZE:
        raise InvalidState(_("Only a freeze can be verified or found unrelated."))
    _require_freeze_in_force(freeze, acting_time.now())
    return case, freeze


def freeze_verify(*, actor: User, freeze: Instruction) -> Instruction:
    """R8: record that the frozen funds are verified as linked to the case."""
    with transaction.atomic():
        case, freeze = _lock_freeze_for_officer(actor, freeze)
        if freeze.verified_at is not None:
            raise InvalidState(_("This freeze is already verified."))
        now = acting_time.now()
        freeze.verified_at = now
        freeze.verified_by = actor
        freeze.save(update_fields=["verified_at", "verified_by"])
        deadlines_meet(now=now, kinds=[DeadlineKind.VERIFICATION], instructions=[freeze.pk])
        record_event(
            case=case,
            type=EventType.FREEZE_VERIFIED,
            actor=actor,
            instruction=freeze,
            held=freeze.held_amount,
        )
    return freeze


def freeze_find_unrelated(*, actor: User, freeze: Instruction, reason: str) -> Instruction:
    """R7: record that the frozen funds are unrelated to the case; release is due in 3 days."""
    if not reason.strip():
        raise RuleViolation(_("Say why the funds are unrelated."), field="reason")
    with transaction.atomic():
        case, freeze = _lock_freeze_for_officer(actor, freeze)
        if freeze.unrelated_found_at is not None:
            raise InvalidState(_("These funds are already recorded as unrelated."))
        now = acting_time.now()
        freeze.unrelated_found_at = now
        freeze.save(update_fields=["unrelated_found_at"])
        deadlines_meet(now=now, kinds=[DeadlineKind.VERIFICATION], instructions=[freeze.pk])
        deadline_open(
            kind=DeadlineKind.RELEASE,
            case=case,
            instruction=freeze,
            due_at=now + rule("RELEASE_AFTER_FINDING"),
            warning=rule("RELEASE_WARNING"),
            now=now,
        )
        record_event(
            case=case,
            type=EventType.FREEZE_FOUND_UNRELATED,
            actor=actor,
            instruction=freeze,
            reason=reason.strip(),
            held=freeze.held_amount,
        )
    return freeze
