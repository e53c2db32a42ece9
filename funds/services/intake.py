"""From report to stop-payments in one step (R13, API.md "From report to stop-payments in
one call").

The alarm platform's call and the officer's first form both come here: the case, its
victims with their own accounts, the accounts that received the money (layer 1) and a
pending stop-payment on each, in one transaction. Every part goes through the same service
as when it is added alone, so the rules, the audit trail, the first-stop clock and the
banks' notices are the same; a part that is refused undoes the whole report and is named by
its place in the list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from accounts.models import Role, User
from funds.access import require_role
from funds.account_numbers import normalise_account_number
from funds.errors import DomainError, PartRefused, RuleViolation
from funds.models import Case, Instruction, Victim
from funds.services.cases import case_report, victim_add
from funds.services.instructions import account_add_and_stop

# Enough for the largest reports seen (dozens of victims of one scam, a hundred cards paid
# to), small enough that one request can never hold the case lock for long.
MAX_VICTIMS = 100
MAX_ACCOUNTS = 200


@dataclass(frozen=True)
class VictimIntake:
    name: str
    id_number: str
    phone: str
    loss_amount: Decimal
    account_institution: str = ""
    account_number: str = ""
    account_holder_name: str = ""


@dataclass(frozen=True)
class AccountIntake:
    """An account that received the money, and how much to stop on it."""

    institution: str
    number: str
    holder_name: str
    amount: Decimal


@dataclass(frozen=True)
class Intake:
    case: Case
    victims: list[Victim]
    instructions: list[Instruction]


def _refuse(error: DomainError, part: str, index: int) -> PartRefused:
    return PartRefused(error, part=part, index=index)


@sensitive_variables("victims", "accounts", "account", "victims_own", "seen", "key")
def _check_parts(victims: Sequence[VictimIntake], accounts: Sequence[AccountIntake]) -> None:
    """What no single service can see: the list as a whole."""
    if not victims:
        raise RuleViolation(_("Name at least one victim."), field="victims")
    if len(victims) > MAX_VICTIMS:
        raise RuleViolation(
            _("At most %(max)d victims in one report.") % {"max": MAX_VICTIMS}, field="victims"
        )
    if len(accounts) > MAX_ACCOUNTS:
        raise RuleViolation(
            _("At most %(max)d accounts in one report.") % {"max": MAX_ACCOUNTS},
            field="accounts",
        )
    victims_own = {
        (v.account_institution.strip(), normalise_account_number(v.account_number))
        for v in victims
        if v.account_number
    }
    seen: set[tuple[str, str]] = set()
    for index, account in enumerate(accounts):
        key = (account.institution.strip(), normalise_account_number(account.number))
        if key in seen:
            raise _refuse(
                RuleViolation(_("This account is listed twice."), field="number"),
                "accounts",
                index,
            )
        if key in victims_own:
            raise _refuse(
                RuleViolation(
                    _("This is a victim's own account, not one that received the money."),
                    field="number",
                ),
                "accounts",
                index,
            )
        seen.add(key)


@sensitive_variables("victims", "accounts", "victim", "account", "added")
@transaction.atomic
def case_intake(
    *,
    actor: User,
    title: str,
    fraud_type: str,
    reported_at: datetime,
    description: str = "",
    victims: Sequence[VictimIntake],
    accounts: Sequence[AccountIntake],
) -> Intake:
    """Log the report with its victims and layer-1 accounts, and ask each account's
    institution to stop payment of its amount; all or nothing."""
    require_role(actor, Role.OFFICER)
    _check_parts(victims, accounts)
    case = case_report(
        actor=actor,
        title=title,
        fraud_type=fraud_type,
        reported_at=reported_at,
        description=description,
    )
    added: list[Victim] = []
    for index, victim in enumerate(victims):
        try:
            added.append(
                victim_add(
                    actor=actor,
                    case=case,
                    name=victim.name,
                    id_number=victim.id_number,
                    phone=victim.phone,
                    loss_amount=victim.loss_amount,
                    account_institution_code=victim.account_institution,
                    account_number=victim.account_number,
                    account_holder_name=victim.account_holder_name,
                )
            )
        except DomainError as error:
            raise _refuse(error, "victims", index) from error
    stops: list[Instruction] = []
    for index, account in enumerate(accounts):
        try:
            _involved, stop = account_add_and_stop(
                actor=actor,
                case=case,
                institution_code=account.institution,
                number=account.number,
                holder_name=account.holder_name,
                layer=1,
                stop_amount=account.amount,
            )
        except DomainError as error:
            raise _refuse(error, "accounts", index) from error
        assert stop is not None  # a stop amount was given
        stops.append(stop)
    return Intake(case=case, victims=added, instructions=stops)
