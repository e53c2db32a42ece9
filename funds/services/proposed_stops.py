"""Stop-payments proposed from the fund flow (issue 11, "Layers derived, stops proposed").

An account of the case that received money (the sum of the case's transfers into it) and
holds no stop-payment or freeze now is proposed for a stop of the amount it received. The
stages that hold nothing are ``identified``, ``stop_failed``, ``lapsed``,
``freeze_failed`` and ``expired``; an account stopped, frozen, asked to be, released or
returned is not proposed. The officer sends the chosen ones at once: each through
``instruction_request``, the service of a single stop-payment, each in a transaction of
its own, so that one refused (R3, say) leaves the others sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import DecimalField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils.translation import gettext as _

from accounts.models import Role, User
from accounts.scope import can_see_unit
from funds.access import AnyUser, case_in_scope, require_role
from funds.errors import DomainError, RuleViolation
from funds.models import (
    Case,
    Instruction,
    InstructionKind,
    InvolvedAccount,
    Stage,
    Transfer,
)
from funds.models.money import MAX_DIGITS, ZERO
from funds.services.instructions import InstructionRequest, instruction_request

UNHELD_STAGES = (
    Stage.IDENTIFIED,
    Stage.STOP_FAILED,
    Stage.LAPSED,
    Stage.FREEZE_FAILED,
    Stage.EXPIRED,
)


def proposed_stops(case: Case, user: AnyUser) -> list[InvolvedAccount]:
    """The accounts to propose, most received first; each with ``received`` and
    ``other_cases`` (the numbers of the other cases the user may see that involve the same
    bank account) and ``other_cases_hidden`` (how many more the user may not see)."""
    received = (
        Transfer.objects.filter(case_id=case.pk, to_account_id=OuterRef("account_id"))
        .order_by()
        .values("to_account_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    money = DecimalField(max_digits=MAX_DIGITS, decimal_places=2)
    accounts: QuerySet[InvolvedAccount] = (
        InvolvedAccount.objects.filter(case=case, stage__in=UNHELD_STAGES)
        .annotate(
            received=Coalesce(Subquery(received, output_field=money), ZERO, output_field=money)
        )
        .filter(received__gt=0)
        .select_related("account__institution")
        .order_by("-received", "layer", "id")
    )
    proposed = list(accounts)
    others = (
        InvolvedAccount.objects.filter(account_id__in=[a.account_id for a in proposed])
        .exclude(case_id=case.pk)
        .select_related("case__unit")
        .only("account_id", "case__number", "case__unit__kind", "case__unit__path")
    )
    seen: dict[int, list[str]] = {}
    hidden: dict[int, int] = {}
    for other in others:
        if can_see_unit(user, other.case.unit):
            seen.setdefault(other.account_id, []).append(other.case.number)
        else:
            hidden[other.account_id] = hidden.get(other.account_id, 0) + 1
    for account in proposed:
        account.other_cases = sorted(seen.get(account.account_id, []))  # type: ignore[attr-defined]
        account.other_cases_hidden = hidden.get(account.account_id, 0)  # type: ignore[attr-defined]
    return proposed


@dataclass(frozen=True)
class StopSent:
    involved_account_id: int
    instruction: Instruction | None
    error: str = ""


def proposed_stops_send(
    *, actor: User, case: Case, involved_account_ids: list[int]
) -> list[StopSent]:
    """Ask for a stop-payment of the amount received on each chosen proposed account; an
    account not proposed (any more) is refused beside ``accounts`` before anything is sent."""
    require_role(actor, Role.OFFICER)
    if not case_in_scope(actor, case):
        raise Http404
    if not involved_account_ids:
        raise RuleViolation(_("Choose at least one account."), field="accounts")
    amounts: dict[int, Decimal] = {a.pk: a.received for a in proposed_stops(case, actor)}  # type: ignore[attr-defined]
    unknown = [pk for pk in involved_account_ids if pk not in amounts]
    if unknown:
        raise RuleViolation(
            _("Not proposed for a stop-payment in this case: %(ids)s.")
            % {"ids": ", ".join(str(pk) for pk in unknown)},
            field="accounts",
        )
    results = []
    for pk in dict.fromkeys(involved_account_ids):
        try:
            instruction = instruction_request(
                actor=actor,
                case=case,
                request=InstructionRequest(
                    kind=InstructionKind.STOP_PAYMENT, involved_account_id=pk, amount=amounts[pk]
                ),
            )
        except DomainError as error:
            results.append(StopSent(pk, None, error.message))
        else:
            results.append(StopSent(pk, instruction))
    return results
