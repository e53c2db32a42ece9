"""Who may see which cases and instructions, and who may approve what: built on
accounts.scope, used by every read, by the services and by the pages alike."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from accounts.models import Role, UnitLevel, User
from accounts.scope import can_see_unit, filter_by_institution, filter_by_unit
from funds.errors import InvalidState, NotAllowed
from funds.models import (
    AllocationRound,
    Case,
    Flag,
    FlagKind,
    Instruction,
    InstructionKind,
    Notification,
    PeriodicReport,
    StatementImport,
)
from funds.models.instructions import SENT_TO_INSTITUTION

AnyUser = User | AnonymousUser


def require_role(actor: AnyUser, *roles: str) -> User:
    """The actor as a User if its role is one of ``roles``; NotAllowed (403) otherwise."""
    if not isinstance(actor, User) or not actor.is_active or actor.role not in roles:
        raise NotAllowed(_("Your role may not do this."))
    return actor


# The lowest unit level whose manager may approve each kind (R4, R5, R9); a stop-payment
# needs no approval (R1).
APPROVAL_LEVEL = {
    InstructionKind.FREEZE: UnitLevel.COUNTY,
    InstructionKind.RENEWAL: UnitLevel.COUNTY,
    InstructionKind.RELEASE: UnitLevel.COUNTY,
    InstructionKind.RETURN: UnitLevel.CITY,
}


def may_approve(user: AnyUser, kind: str) -> bool:
    """Whether ``user`` may approve an instruction of ``kind`` (the case's scope aside)."""
    return _approval_refusal(user, kind) is None


def require_approver(user: AnyUser, kind: str) -> User:
    """``user`` as a User if it may approve ``kind``; NotAllowed (403) or, for a kind that
    needs no approval, InvalidState (409) otherwise."""
    refusal = _approval_refusal(user, kind)
    if refusal is not None:
        raise refusal
    assert isinstance(user, User)
    return user


def _approval_refusal(user: AnyUser, kind: str) -> NotAllowed | InvalidState | None:
    if not isinstance(user, User) or not user.is_active or user.role != Role.MANAGER:
        return NotAllowed(_("Your role may not do this."))
    level = APPROVAL_LEVEL.get(InstructionKind(kind))
    if level is None:
        return InvalidState(_("A stop-payment needs no approval (R1)."))
    unit = user.organization
    if unit is None or not unit.is_at_or_above(level):
        return NotAllowed(
            _("A %(kind)s must be approved by a manager at %(level)s level or above.")
            % {"kind": InstructionKind(kind).label, "level": UnitLevel(level).label}
        )
    return None


def cases_visible_to(user: AnyUser) -> QuerySet[Case]:
    """Cases of the police user's subtree; none for anyone else."""
    return filter_by_unit(Case.objects.all(), user, field="unit")


def case_in_scope(user: AnyUser, case: Case) -> bool:
    return can_see_unit(user, case.unit)


def access_case(user: AnyUser, case_id: object, queryset: QuerySet[Case] | None = None) -> Case:
    """The case if the user may see it; 404 alike for missing and out of scope."""
    queryset = (
        cases_visible_to(user) if queryset is None else filter_by_unit(queryset, user, field="unit")
    )
    try:
        return queryset.get(pk=int(str(case_id)))
    except (Case.DoesNotExist, ValueError):
        raise Http404 from None


def _sent(queryset: QuerySet[Instruction]) -> QuerySet[Instruction]:
    """Instructions that reached the institution: a stop-payment at once, the rest once approved."""
    return queryset.filter(SENT_TO_INSTITUTION)


def instructions_visible_to(user: AnyUser) -> QuerySet[Instruction]:
    """Police roles: instructions of their subtree's cases. Liaisons: those sent to their
    institution (an instruction still awaiting approval has not been sent)."""
    if isinstance(user, User) and user.role == Role.LIAISON:
        return _sent(filter_by_institution(Instruction.objects.all(), user, field="institution"))
    return filter_by_unit(Instruction.objects.all(), user, field="case__unit")


def instruction_in_scope(user: AnyUser, instruction: Instruction) -> bool:
    if not isinstance(user, User) or not user.is_active:
        return False
    if user.role == Role.LIAISON:
        return user.organization_id == instruction.institution_id and (
            instruction.kind == InstructionKind.STOP_PAYMENT or instruction.approved_at is not None
        )
    return can_see_unit(user, instruction.case.unit)


def access_instruction(
    user: AnyUser, instruction_id: object, queryset: QuerySet[Instruction] | None = None
) -> Instruction:
    base = instructions_visible_to(user)
    if queryset is not None:
        base = queryset & base
    try:
        return base.get(pk=int(str(instruction_id)))
    except (Instruction.DoesNotExist, ValueError):
        raise Http404 from None


def rounds_visible_to(user: AnyUser) -> QuerySet[AllocationRound]:
    """Allocation rounds (R10) of the police user's subtree's cases; none for anyone else
    (a bank is told of a round only by the returns it confirms)."""
    return filter_by_unit(AllocationRound.objects.all(), user, field="case__unit")


def access_round(
    user: AnyUser, round_id: object, queryset: QuerySet[AllocationRound] | None = None
) -> AllocationRound:
    """The round if the user may see it; 404 alike for missing and out of scope."""
    base = rounds_visible_to(user)
    if queryset is not None:
        base = queryset & base
    try:
        return base.get(pk=int(str(round_id)))
    except (AllocationRound.DoesNotExist, ValueError):
        raise Http404 from None


def flags_visible_to(user: AnyUser) -> QuerySet[Flag]:
    """Police: flags of their subtree's cases. Liaisons: the late answers they owe."""
    if isinstance(user, User) and user.role == Role.LIAISON:
        return filter_by_institution(
            Flag.objects.filter(kind=FlagKind.BANK_RESPONSE_OVERDUE),
            user,
            field="instruction__institution",
        )
    return filter_by_unit(Flag.objects.all(), user, field="case__unit")


def periodic_reports_visible_to(user: AnyUser) -> QuerySet[PeriodicReport]:
    """Kept periodic reports of units in the police user's subtree; none for anyone else."""
    return filter_by_unit(PeriodicReport.objects.all(), user)


def access_periodic_report(user: AnyUser, report_id: object) -> PeriodicReport:
    """The kept report if the user may see it; 404 alike for missing and out of scope."""
    try:
        return periodic_reports_visible_to(user).select_related("unit").get(pk=int(str(report_id)))
    except (PeriodicReport.DoesNotExist, ValueError):
        raise Http404 from None


def notifications_of(user: AnyUser) -> QuerySet[Notification]:
    """A person's own notices; nobody sees another's, whatever their role or unit."""
    if not isinstance(user, User):
        return Notification.objects.none()
    return Notification.objects.filter(recipient_id=user.pk)


def access_notification(user: AnyUser, pk: int) -> Notification:
    """One of the user's own notices; 404 alike for a missing one and another's."""
    note = notifications_of(user).filter(pk=pk).first()
    if note is None:
        raise Http404
    return note


def imports_visible_to(user: AnyUser) -> QuerySet[StatementImport]:
    """Imports of the cases of the police user's subtree; none for anyone else."""
    return filter_by_unit(StatementImport.objects.all(), user, field="case__unit")


def access_import(user: AnyUser, import_id: object) -> StatementImport:
    """The import if the user may see its case; 404 alike for missing and out of scope."""
    try:
        return (
            imports_visible_to(user)
            .select_related("case", "created_by", "institution")
            .get(pk=int(str(import_id)))
        )
    except (StatementImport.DoesNotExist, ValueError):
        raise Http404 from None
