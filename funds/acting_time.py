"""The time that services act at: now, unless a block asks to act as of another moment.

``seed_demo`` builds a history that happened over the past months, and
``sweep_deadlines --at`` sweeps as of a given time; both wrap their calls in ``acting_at``.
Everything else simply gets ``timezone.now()`` (which tests travel with time_machine).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from django.utils import timezone

_as_of: ContextVar[datetime | None] = ContextVar("funds_acting_time", default=None)


def now() -> datetime:
    return _as_of.get() or timezone.now()


@contextmanager
def acting_at(moment: datetime) -> Iterator[datetime]:
    """Within the block, services act as of ``moment`` (an aware datetime)."""
    if timezone.is_naive(moment):
        raise ValueError("acting_at needs an aware datetime")
    token = _as_of.set(moment)
    try:
        yield moment
    finally:
        _as_of.reset(token)
