"""Who may see which cases and instructions: built on accounts.scope, used by every read."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from accounts.models import Role, User
from accounts.scope import can_see_unit, filter_by_institution, filter_by_unit
from funds.errors import NotAllowed
from funds.models import Case, Flag, FlagKind, Instruction, InstructionKind

AnyUser = User | AnonymousUser


def require_role(actor: AnyUser, *roles: str) -> User:
    """The actor as a User if its role is one of ``roles``; NotAllowed (403) otherwise."""
    if not isinstance(actor, User) or not actor.is_active or actor.role not in roles:
        raise NotAllowed(_("Your role may not do this."))
    return actor


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
    return queryset.filter(Q(kind=InstructionKind.STOP_PAYMENT) | Q(approved_at__isnull=False))


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


def flags_visible_to(user: AnyUser) -> QuerySet[Flag]:
    """Police: flags of their subtree's cases. Liaisons: the late answers they owe."""
    if isinstance(user, User) and user.role == Role.LIAISON:
        return filter_by_institution(
            Flag.objects.filter(kind=FlagKind.BANK_RESPONSE_OVERDUE),
            user,
            field="instruction__institution",
        )
    return filter_by_unit(Flag.objects.all(), user, field="case__unit")
