"""What: cases, victims, involved accounts, transfers, instructions and their audit trail."""

from funds.models.accounts import BankAccount, InvolvedAccount, Stage, Transfer
from funds.models.audit import Event
from funds.models.cases import Case, CaseNumberCounter, CaseStatus, FraudType, Victim
from funds.models.deadlines import (
    Deadline,
    DeadlineKind,
    Flag,
    FlagKind,
    FlagLevel,
    Notification,
    NotificationReason,
)
from funds.models.instructions import EndReason, Instruction, InstructionKind, InstructionStatus

__all__ = [
    "BankAccount",
    "Case",
    "CaseNumberCounter",
    "CaseStatus",
    "Deadline",
    "DeadlineKind",
    "EndReason",
    "Event",
    "Flag",
    "FlagKind",
    "FlagLevel",
    "FraudType",
    "Instruction",
    "InstructionKind",
    "InstructionStatus",
    "InvolvedAccount",
    "Notification",
    "NotificationReason",
    "Stage",
    "Transfer",
    "Victim",
]
