"""Writing the audit trail: one event per change of state, in the change's transaction."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from accounts.models import User
from funds import clock
from funds.models import Case, Event, Instruction


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def record_event(
    *,
    case: Case,
    type: str,
    actor: User | None,
    instruction: Instruction | None = None,
    **data: Any,
) -> Event:
    """Append an event; ``actor`` None is the system. Amounts are kept as exact strings."""
    return Event.objects.create(
        case=case,
        instruction=instruction,
        actor=actor,
        type=type,
        at=clock.now(),
        data=_plain(data),
    )
