"""A bank's answers in bulk (API.md, ``POST /instructions/answers/``): one file, many answers.

Each row is applied by the very services a single answer goes through
(``instruction_execute``, ``instruction_reject``), each in a savepoint of its own, so that
one row's refusal undoes nothing of the others and every applied row is locked, checked,
audited and clocked exactly as a click in the inbox would be. A row already applied the
same way (same status and, for an execution, the same amount and reference; for a
rejection, the same reason) is skipped: a bank re-sending its file changes nothing. A row
for an instruction the liaison may not see reads as one for a missing instruction (no leak).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext as _

from accounts.models import Role, User
from funds.access import instructions_visible_to, require_role
from funds.answer_files import (
    AMOUNT,
    EXECUTE,
    ID,
    REASON,
    REFERENCE,
    REJECT,
    RESULT,
    parse_amount,
)
from funds.errors import InvalidState, NotAllowed, RuleViolation
from funds.models import Instruction, InstructionStatus
from funds.services.instructions import instruction_execute, instruction_reject

APPLIED, SKIPPED, UNANSWERED, ERROR = "applied", "skipped", "unanswered", "error"
# ASCII digits, few enough for a bigint (str.isdigit also takes "²" and numbers past 2**63).
REQUEST_NUMBER = re.compile(r"[0-9]{1,18}")
# The services' field names as the file's columns.
COLUMN_OF_FIELD = {"executed_amount": AMOUNT, "bank_reference": REFERENCE, "reason": REASON}


@dataclass(frozen=True)
class RowOutcome:
    row: int
    instruction: int | None
    outcome: str
    column: str = ""
    message: str = ""


@dataclass
class AnswersResult:
    outcomes: list[RowOutcome] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    @property
    def errors(self) -> list[RowOutcome]:
        return [o for o in self.outcomes if o.outcome == ERROR]


class _RowError(Exception):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


def _not_found() -> _RowError:
    return _RowError(ID, _("No request with this number is addressed to your institution."))


def _find(actor: User, text: str) -> Instruction:
    if not text:
        raise _RowError(ID, _("The request number is missing."))
    if not REQUEST_NUMBER.fullmatch(text):
        raise _RowError(ID, _("A request number is a whole number."))
    instruction = instructions_visible_to(actor).filter(pk=int(text)).first()
    if instruction is None:
        raise _not_found()
    return instruction


def _apply(actor: User, values: dict[str, str]) -> tuple[int, str]:
    """Apply one row; answer (instruction id, APPLIED or SKIPPED) or raise _RowError."""
    result = values.get(RESULT, "")
    if result not in (EXECUTE, REJECT):
        raise _RowError(
            RESULT,
            _("The result is %(execute)s or %(reject)s.") % {"execute": EXECUTE, "reject": REJECT},
        )
    instruction = _find(actor, values.get(ID, ""))
    reference = values.get(REFERENCE, "").strip()
    reason = values.get(REASON, "").strip()
    amount: Decimal | None = None
    if result == EXECUTE:
        amount = parse_amount(values.get(AMOUNT, ""))
        if amount is None:
            raise _RowError(AMOUNT, _("The executed amount is yuan with at most two decimals."))
        if (
            instruction.status == InstructionStatus.EXECUTED
            and instruction.executed_amount == amount
            and instruction.bank_reference == reference
        ):
            return instruction.pk, SKIPPED
    elif instruction.status == InstructionStatus.REJECTED and instruction.reject_reason == reason:
        return instruction.pk, SKIPPED
    try:
        with transaction.atomic():  # a savepoint: this row's failure undoes this row only
            if amount is not None:
                instruction_execute(
                    actor=actor,
                    instruction=instruction,
                    executed_amount=amount,
                    bank_reference=reference,
                )
            else:
                instruction_reject(actor=actor, instruction=instruction, reason=reason)
    except RuleViolation as refusal:
        raise _RowError(COLUMN_OF_FIELD.get(refusal.field, RESULT), refusal.message) from None
    except InvalidState as refusal:
        raise _RowError(RESULT, refusal.message) from None
    except (Http404, NotAllowed):
        raise _not_found() from None
    return instruction.pk, APPLIED


def instruction_answers_apply(
    *, actor: User, rows: list[tuple[int, dict[str, str]]]
) -> AnswersResult:
    """Apply a liaison's answer rows, each independently; a row with no result is left
    unanswered (a template row the bank has not filled in yet)."""
    require_role(actor, Role.LIAISON)
    result = AnswersResult()
    for number, values in rows:
        id_text = values.get(ID, "")
        instruction_id = int(id_text) if REQUEST_NUMBER.fullmatch(id_text) else None
        if not values.get(RESULT, "").strip():
            result.outcomes.append(RowOutcome(number, instruction_id, UNANSWERED))
            continue
        try:
            instruction_id, outcome = _apply(actor, values)
        except _RowError as error:
            result.outcomes.append(
                RowOutcome(number, instruction_id, ERROR, error.column, error.message)
            )
        else:
            result.outcomes.append(RowOutcome(number, instruction_id, outcome))
    return result
