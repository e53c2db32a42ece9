"""Writing the audit trail: one event per change of state, in the change's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from accounts.models import User
from funds import acting_time
from funds.models import Case, Event, EventType, Instruction


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def new_event(
    *,
    case_id: int,
    type: EventType,
    actor: User | None,
    instruction_id: int | None = None,
    at: datetime | None = None,
    **data: Any,
) -> Event:
    """An event not saved yet, for ``record_events``; ``actor`` None is the system."""
    return Event(
        case_id=case_id,
        instruction_id=instruction_id,
        actor=actor,
        type=type,
        at=at or acting_time.now(),
        data=_plain(data),
    )


def record_event(
    *,
    case: Case,
    type: EventType,
    actor: User | None,
    instruction: Instruction | None = None,
    **data: Any,
) -> Event:
    """Append an event; ``actor`` None is the system. Amounts are kept as exact strings."""
    event = new_event(
        case_id=case.pk,
        instruction_id=instruction.pk if instruction else None,
        type=type,
        actor=actor,
        **data,
    )
    event.save()
    return event


def record_events(events: Iterable[Event]) -> int:
    """Append many events of ``new_event`` at once (the sweep's lapses); answer how many."""
    return len(Event.objects.bulk_create(list(events), batch_size=1000))
