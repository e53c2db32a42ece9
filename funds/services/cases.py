"""Services for cases and what an officer logs in them: victims, accounts, transfers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import CharField, Func, Value
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from accounts.models import Organization, Role, User
from funds import acting_time
from funds.access import case_in_scope, require_role
from funds.account_numbers import NUMBER_MAX_LENGTH, normalise_account_number
from funds.errors import InvalidState, RuleViolation
from funds.masking import mask_account_number
from funds.models import (
    BankAccount,
    Case,
    CaseStatus,
    DeadlineKind,
    EventType,
    InstructionKind,
    InvolvedAccount,
    Transfer,
    Victim,
)
from funds.personal_data import PersonalDataError, normalise_id_number, normalise_phone
from funds.selectors import institution_by_code, victim_account_keys
from funds.services.audit import record_event
from funds.services.deadlines import deadlines_meet, open_first_stop_clock
from funds.services.layers import layers_derive
from funds.transitions import CASE_TRANSITIONS, next_status


def _next_case_number(unit: Organization, year: int) -> Func:
    """The next number of the unit's year, given out inside the case's INSERT, safe under
    concurrent creation (funds 0035).

    One upsert both creates the year's counter and increments it; PostgreSQL's row lock on
    the conflicting row makes concurrent callers queue, so no two get the same value, and
    the numbers stay consecutive (a report that rolls back gives its number back). Inside
    the INSERT, the lock is taken one round trip later than a statement of its own would.
    """
    return Func(
        Value(unit.pk),
        Value(unit.code),
        Value(year),
        function="funds_next_case_number",
        output_field=CharField(),
    )


def lock_case(case: Case) -> Case:
    """Re-read the case under a row lock; every change in a case starts here (lock order:
    case, involved account, instructions by id, victim).

    The locks are ``FOR NO KEY UPDATE``: no key ever changes, and the weaker lock leaves
    foreign-key checks (``FOR KEY SHARE``, taken when the sweep inserts flags and events that
    point at a case) free to proceed, so a sweep and a user never wait on each other in a
    cycle."""
    return (
        Case.objects.select_for_update(of=("self",), no_key=True)
        .select_related("unit")
        .get(pk=case.pk)
    )


def _require_case_actor(actor: User, case: Case, *roles: str) -> User:
    require_role(actor, *roles)
    if not case_in_scope(actor, case):
        raise Http404
    return actor


# Once closed, a case still lets go of the money it holds: releases and returns go on.
KINDS_ON_A_CLOSED_CASE = frozenset({InstructionKind.RELEASE, InstructionKind.RETURN})


def require_open(case: Case, *, kind: str | None = None) -> None:
    """Refuse a change to a closed case, except an instruction of ``KINDS_ON_A_CLOSED_CASE``."""
    if case.status == CaseStatus.CLOSED and kind not in KINDS_ON_A_CLOSED_CASE:
        raise InvalidState(_("The case is closed."))


def require_filed(case: Case) -> None:
    """R4: no freeze before the case is filed (严禁立案前冻结)."""
    if case.status != CaseStatus.FILED:
        raise InvalidState(_("A freeze needs a filed case (R4)."))


@transaction.atomic
def case_report(
    *, actor: User, title: str, fraud_type: str, reported_at: datetime, description: str = ""
) -> Case:
    """Log a reported fraud in the officer's own unit; the case starts ``reported``."""
    require_role(actor, Role.OFFICER)
    unit = actor.organization
    assert unit is not None and unit.is_police  # officers belong to police units (User.clean)
    now = acting_time.now()
    # The number comes back from the INSERT's RETURNING: Django refreshes a field given as an
    # expression.
    case = Case.objects.create(
        number=_next_case_number(unit, timezone.localtime(now).year),
        unit=unit,
        title=title,
        fraud_type=fraud_type,
        reported_at=reported_at,
        description=description,
        created_by=actor,
    )
    open_first_stop_clock(case, now)
    record_event(
        case=case,
        type=EventType.CASE_REPORTED,
        actor=actor,
        number=case.number,
        title=title,
        fraud_type=fraud_type,
        reported_at=reported_at.isoformat(),
    )
    return case


def _case_transition(
    *, actor: User, case: Case, action: str, roles: tuple[str, ...], **changes: object
) -> Case:
    with transaction.atomic():
        case = lock_case(case)
        _require_case_actor(actor, case, *roles)
        before = case.status
        case.status = next_status(CASE_TRANSITIONS, action, case.status)
        for field, value in changes.items():
            setattr(case, field, value)
        case.save(update_fields=["status", *changes])
        data: dict[str, Any] = {
            k: v.isoformat() if isinstance(v, datetime) else v for k, v in changes.items()
        }
        record_event(
            case=case,
            type=EventType(f"case_{case.status}"),
            actor=actor,
            before=before,
            after=case.status,
            **data,
        )
    return case


def case_accept(*, actor: User, case: Case) -> Case:
    """``reported`` -> ``accepted`` (受案)."""
    return _case_transition(
        actor=actor,
        case=case,
        action="accept",
        roles=(Role.OFFICER,),
        accepted_at=acting_time.now(),
    )


def case_file(*, actor: User, case: Case, filing_number: str) -> Case:
    """``accepted`` -> ``filed`` (立案); freezes are possible from here on (R4)."""
    if not filing_number.strip():
        raise RuleViolation(_("A filing number is required."), field="filing_number")
    return _case_transition(
        actor=actor,
        case=case,
        action="file",
        roles=(Role.OFFICER,),
        filed_at=acting_time.now(),
        filing_number=filing_number.strip(),
    )


def case_close(*, actor: User, case: Case) -> Case:
    """Any open status -> ``closed``, by a manager of the case's unit or above.

    The first-stop clock stops; the clocks of instructions and freezes run on, since money
    still held must still be renewed, released or returned in time.
    """
    with transaction.atomic():
        now = acting_time.now()
        case = _case_transition(
            actor=actor, case=case, action="close", roles=(Role.MANAGER,), closed_at=now
        )
        deadlines_meet(now=now, kinds=[DeadlineKind.FIRST_STOP], case=case)
    return case


# Error mail shows none of this frame's values: they are personal data (PIPL art. 28).
@sensitive_variables()
@transaction.atomic
def victim_add(
    *,
    actor: User,
    case: Case,
    name: str,
    id_number: str,
    phone: str,
    loss_amount: Decimal,
    account_institution_code: str = "",
    account_number: str = "",
    account_holder_name: str = "",
    account_field: str = "account",
) -> Victim:
    """Add a victim with the reported loss and, when known, the victim's own account: the
    one the money left and the one returns are paid to (R9). A refused account is reported
    beside ``account_field``."""
    case = lock_case(case)
    _require_case_actor(actor, case, Role.OFFICER)
    require_open(case)
    # PIPL art. 28: only checked identity numbers and normalised phones are kept, whatever
    # the way in (the serializer and the form answer the same messages beside the field).
    try:
        id_number = normalise_id_number(id_number)
    except PersonalDataError as error:
        raise RuleViolation(error.message, field="id_number") from None
    try:
        phone = normalise_phone(phone)
    except PersonalDataError as error:
        raise RuleViolation(error.message, field="phone") from None
    account_institution_code = account_institution_code.strip()
    account_number = normalise_account_number(account_number)
    if bool(account_institution_code) != bool(account_number):
        raise RuleViolation(
            _("Give both the institution and the number of the victim's account, or neither."),
            field=account_field,
        )
    account_institution = (
        institution_by_code(account_institution_code, field=account_field)
        if account_institution_code
        else None
    )
    if loss_amount <= 0:
        raise RuleViolation(_("The loss must be more than zero."), field="loss_amount")
    victim = Victim.objects.create(
        case=case,
        name=name,
        id_number=id_number,
        phone=phone,
        loss_amount=loss_amount,
        account_institution=account_institution,
        account_number=account_number,
        account_holder_name=account_holder_name.strip() if account_institution else "",
    )
    # Identity numbers, phones and full account numbers stay out of the audit trail: it is
    # read more widely.
    record_event(
        case=case,
        type=EventType.VICTIM_ADDED,
        actor=actor,
        victim=victim.pk,
        name=name,
        loss_amount=loss_amount,
        account_institution=account_institution.code if account_institution else None,
        account_number=mask_account_number(account_number) if account_number else None,
    )
    return victim


REVEAL_REASON_MAX_LENGTH = 500


@sensitive_variables()
@transaction.atomic
def victim_account_reveal(*, actor: User, case: Case, victim_id: int, reason: str) -> Victim:
    """The victim with the own account's number, for an officer of the case who states why.

    PIPL art. 28: the number is shown masked everywhere else (the API, the pages, exports,
    mail, the audit trail); reading it in full is an act of its own, recorded with its
    reason and never with the number. Managers, auditors and liaisons may not (403; the
    paying bank reads a return's destination on the return itself); an officer outside the
    case's subtree, or a victim of another case, gets 404.
    """
    _require_case_actor(actor, case, Role.OFFICER)
    victim = (
        Victim.objects.filter(case=case, pk=victim_id).select_related("account_institution").first()
    )
    if victim is None:
        raise Http404
    reason = reason.strip()
    if not reason:
        raise RuleViolation(_("Say why the full number is needed."), field="reason")
    if len(reason) > REVEAL_REASON_MAX_LENGTH:
        raise RuleViolation(
            _("Say it in at most %(max)d characters.") % {"max": REVEAL_REASON_MAX_LENGTH},
            field="reason",
        )
    if not victim.has_account:
        raise InvalidState(_("The victim has no account on file."))
    record_event(
        case=case,
        type=EventType.VICTIM_ACCOUNT_REVEALED,
        actor=actor,
        victim=victim.pk,
        reason=reason,
    )
    return victim


@sensitive_variables()
def bank_account_get_or_create(
    *, institution_code: str, number: str, field: str, number_field: str = "number"
) -> BankAccount:
    """The account known by institution and normalised number, created on first mention.

    Every way in (the API, the pages, the demo's stories; statement imports when they come)
    reaches accounts through here, so that one card typed two ways is one account
    (funds.account_numbers). ``field`` is the input an unknown institution is blamed on,
    ``number_field`` the one a number is blamed on when nothing of it is left or too much.
    """
    institution = institution_by_code(institution_code, field=field)
    normalised = normalise_account_number(number)
    if not normalised:
        raise RuleViolation(
            _("Enter the account number (spaces, hyphens and invisible characters do not count)."),
            field=number_field,
        )
    if len(normalised) > NUMBER_MAX_LENGTH:
        raise RuleViolation(
            _("An account number has at most %(max)d characters.") % {"max": NUMBER_MAX_LENGTH},
            field=number_field,
        )
    # Two cases may name a new account at once: the unique (institution, number) makes one
    # of them wait for the other's row instead of creating a second (get_or_create retries
    # the read after the IntegrityError).
    account, _created = BankAccount.objects.get_or_create(
        institution=institution, number=normalised
    )
    return account


# Error mail shows none of this frame's values: they are personal data (PIPL art. 28).
@sensitive_variables()
@transaction.atomic
def account_add(
    *, actor: User, case: Case, institution_code: str, number: str, holder_name: str, layer: int
) -> InvolvedAccount:
    """Add an account that received or moved the money to the case, at its layer, with the
    holder name this case's unit recorded."""
    case = lock_case(case)
    _require_case_actor(actor, case, Role.OFFICER)
    require_open(case)
    if layer < 1:
        raise RuleViolation(_("The layer starts at 1."), field="layer")
    account = bank_account_get_or_create(
        institution_code=institution_code, number=number, field="institution"
    )
    if InvolvedAccount.objects.filter(case=case, account=account).exists():
        raise RuleViolation(_("This account is already part of the case."), field="number")
    involved_account = InvolvedAccount.objects.create(
        case=case,
        account=account,
        holder_name=holder_name.strip(),
        layer=layer,
        created_by=actor,
    )
    other_cases = list(
        InvolvedAccount.objects.filter(account=account)
        .exclude(case=case)
        .values_list("case__number", flat=True)
        .order_by("case__number")
    )
    record_event(
        case=case,
        type=EventType.ACCOUNT_ADDED,
        actor=actor,
        involved_account=involved_account.pk,
        institution=institution_code,
        number=account.number,
        holder_name=involved_account.holder_name,
        layer=layer,
        other_cases=other_cases,
    )
    return involved_account


# Error mail shows none of this frame's values: they are personal data (PIPL art. 28).
@sensitive_variables()
@transaction.atomic
def transfer_add(
    *,
    actor: User,
    case: Case,
    from_account: dict[str, str],
    to_account: dict[str, str],
    amount: Decimal,
    occurred_at: datetime,
    reference: str,
) -> Transfer:
    """Record one movement of money between two accounts."""
    case = lock_case(case)
    _require_case_actor(actor, case, Role.OFFICER)
    require_open(case)
    if amount <= 0:
        raise RuleViolation(_("The amount must be more than zero."), field="amount")
    source = bank_account_get_or_create(
        institution_code=from_account["institution"],
        number=from_account["number"],
        field="from_account",
        number_field="from_account",
    )
    target = bank_account_get_or_create(
        institution_code=to_account["institution"],
        number=to_account["number"],
        field="to_account",
        number_field="to_account",
    )
    if source.pk == target.pk:
        raise RuleViolation(_("A transfer needs two different accounts."), field="to_account")
    if Transfer.objects.filter(case=case, from_account=source, reference=reference).exists():
        raise RuleViolation(_("This transfer is already recorded in the case."), field="reference")
    transfer = Transfer.objects.create(
        case=case,
        from_account=source,
        to_account=target,
        from_holder_name=from_account["holder_name"].strip(),
        to_holder_name=to_account["holder_name"].strip(),
        amount=amount,
        occurred_at=occurred_at,
        reference=reference,
        created_by=actor,
    )
    # A victim's own account on file is kept masked in the trail, as everywhere (PIPL art.
    # 28); one entered after this transfer cannot be masked here afterwards (append-only).
    victims = victim_account_keys(case.pk)

    def as_recorded(account: BankAccount) -> str:
        own = (account.institution_id, account.number) in victims
        return mask_account_number(account.number) if own else account.number

    record_event(
        case=case,
        type=EventType.TRANSFER_ADDED,
        actor=actor,
        transfer=transfer.pk,
        from_account=as_recorded(source),
        from_holder_name=transfer.from_holder_name,
        to_account=as_recorded(target),
        to_holder_name=transfer.to_holder_name,
        amount=amount,
        occurred_at=occurred_at.isoformat(),
        reference=reference,
    )
    # The hand path and the import agree: accounts the money reaches join at their layer.
    layers_derive(actor=actor, case_id=case.pk)
    return transfer
