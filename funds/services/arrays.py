"""Arrays passed to PostgreSQL in bulk statements (``unnest``) as one literal each."""

from __future__ import annotations

from collections.abc import Iterable


def pg_array(values: Iterable[object]) -> str:
    """A PostgreSQL array literal of ``values``, each quoted: psycopg adapts a list element
    by element, which costs more than the whole insert; a batch's array is one string."""
    return (
        "{"
        + ",".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
        + "}"
    )
