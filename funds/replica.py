"""Reports from a streaming replica, when there is one (DATABASE_REPLICA_URL).

Only what is read inside ``reports_from_replica()`` goes to the replica: the report API, the
periodic reports' pages and downloads, the desk's downloads. Everything else, and every write,
stays on the primary, so a user always reads what they just wrote (a replica is a little
behind). The raw-SQL report paths ask ``report_database()`` for the connection to use; the
ORM's reads are sent there by ``ReplicaRouter``. Without a replica both answer the primary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS

REPLICA = "replica"
_reports = ContextVar("reports_from_replica", default=False)


def report_database() -> str:
    """The database alias a report being read now should use."""
    return REPLICA if _reports.get() and REPLICA in settings.DATABASES else DEFAULT_DB_ALIAS


@contextmanager
def reports_from_replica() -> Iterator[None]:
    token = _reports.set(True)
    try:
        yield
    finally:
        _reports.reset(token)


def read_from_replica[F: Callable[..., Any]](view: F) -> F:
    """Run a view (or view method) with its reads on the replica."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with reports_from_replica():
            return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class ReplicaRouter:
    """Reads of reports to the replica; writes and migrations to the primary only."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return REPLICA if _reports.get() and REPLICA in settings.DATABASES else None

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # one database, two copies of it

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS
