"""What: cases, victims, involved accounts, transfers, instructions, their audit trail and reports."""

from funds.models.accounts import BankAccount, InvolvedAccount, Stage, Transfer
from funds.models.audit import AuditCheck, Event, EventType
from funds.models.calendar import CalendarChange, CalendarDay, CalendarSource, CalendarYear
from funds.models.cases import Case, CaseNumberCounter, CaseStatus, FraudType, Victim
from funds.models.deadlines import (
    Deadline,
    DeadlineKind,
    Flag,
    FlagEscalation,
    FlagKind,
    FlagLevel,
    Notification,
    NotificationReason,
)
from funds.models.documents import Document, InstrumentCounter, InstrumentSeries
from funds.models.heartbeats import Heartbeat, HeartbeatName
from funds.models.idempotency import IdempotencyKey
from funds.models.imports import ImportStatus, StatementFileChunk, StatementImport
from funds.models.instructions import (
    EndReason,
    Instruction,
    InstructionKind,
    InstructionStatus,
    InstrumentSource,
)
from funds.models.mail import OutgoingMail
from funds.models.reports import (
    PeriodicReport,
    ReportKind,
    ReportSummaryState,
    ReportTotal,
    SpeedMeasure,
    SpeedSample,
    TotalsChange,
    TotalsGrain,
)
from funds.models.rounds import (
    AllocationObjection,
    AllocationRound,
    AllocationShare,
    RoundStatus,
)

__all__ = [
    "AllocationObjection",
    "AllocationRound",
    "AllocationShare",
    "AuditCheck",
    "BankAccount",
    "CalendarChange",
    "CalendarDay",
    "CalendarSource",
    "CalendarYear",
    "Case",
    "CaseNumberCounter",
    "CaseStatus",
    "Deadline",
    "DeadlineKind",
    "Document",
    "EndReason",
    "Event",
    "EventType",
    "Flag",
    "FlagEscalation",
    "FlagKind",
    "FlagLevel",
    "FraudType",
    "Heartbeat",
    "HeartbeatName",
    "IdempotencyKey",
    "ImportStatus",
    "Instruction",
    "InstructionKind",
    "InstructionStatus",
    "InstrumentCounter",
    "InstrumentSeries",
    "InstrumentSource",
    "InvolvedAccount",
    "Notification",
    "NotificationReason",
    "OutgoingMail",
    "PeriodicReport",
    "ReportKind",
    "ReportSummaryState",
    "ReportTotal",
    "RoundStatus",
    "SpeedMeasure",
    "SpeedSample",
    "Stage",
    "StatementFileChunk",
    "StatementImport",
    "TotalsChange",
    "TotalsGrain",
    "Transfer",
    "Victim",
]
