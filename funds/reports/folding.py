"""Folding the maintained totals: what the triggers append becomes the totals reports read.

The triggers of migration funds 0005 append to funds_totalschange what every statement
changed in the figures (funds.reports.figures defines each figure and names its trigger).
``report_totals_refresh`` (Celery beat, every REPORT_REFRESH_SECONDS) folds those changes
into ReportTotal, rolled up to every unit above the case's unit, by day and by month. It
rebuilds everything instead, through ``funds_report_replay()``, when the police tree moved or
a case changed unit. Both hold one transaction-level advisory lock (so it works behind
PgBouncer in transaction mode), and two workers never fold at once; a fold is one statement,
so a report never sees half of one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import OperationalError, connection, transaction

from accounts.models import Organization
from funds import acting_time
from funds.models import ReportSummaryState
from funds.reports.figures import COLUMNS

logger = logging.getLogger(__name__)

# The advisory lock that folds and rebuilds hold (any constant unique to this purpose).
SUMMARY_LOCK = 6_006_001
REBUILD_ATTEMPTS = 5

_SUMS = ", ".join(f"sum({c}) AS {c}" for c in COLUMNS)
_COLUMNS = ", ".join(COLUMNS)
FOLD = f"""
    WITH moved AS (
        DELETE FROM funds_totalschange RETURNING day, unit_id, institution_id, {_COLUMNS}
    ), base AS (
        SELECT day, unit_id, institution_id, {_SUMS} FROM moved GROUP BY 1, 2, 3
    ), expanded AS (
        SELECT g.grain,
               CASE WHEN g.grain = 'day' THEN b.day
                    ELSE date_trunc('month', b.day::timestamp)::date END AS start,
               a.unit_id, b.institution_id, {", ".join(f"b.{c}" for c in COLUMNS)}
        FROM base b
        JOIN accounts_organization u ON u.id = b.unit_id
        CROSS JOIN LATERAL
            unnest(string_to_array(trim(BOTH '/' FROM u.path), '/')::bigint[]) AS a(unit_id)
        CROSS JOIN (VALUES ('day'), ('month')) AS g(grain)
    )
    INSERT INTO funds_reporttotal (unit_id, grain, start, institution_id, {_COLUMNS})
    SELECT unit_id, grain, start, institution_id, {_SUMS} FROM expanded
    GROUP BY unit_id, grain, start, institution_id
    ORDER BY unit_id, grain, start, institution_id
    ON CONFLICT (unit_id, grain, start, COALESCE(institution_id, 0)) DO UPDATE SET
        {", ".join(f"{c} = funds_reporttotal.{c} + excluded.{c}" for c in COLUMNS)}
"""  # noqa: S608 - built from the constant column list only


@dataclass
class RefreshResult:
    folded: int = 0
    rebuilt: bool = False
    skipped: bool = False


def _unit_paths() -> dict[str, str]:
    return {str(pk): path for pk, path in Organization.objects.values_list("pk", "path")}


def _moved(recorded: dict[str, str], current: dict[str, str]) -> bool:
    """Whether a unit the totals were rolled up along now sits elsewhere in the tree."""
    return any(recorded.get(pk, path) != path for pk, path in current.items())


def report_totals_refresh() -> RefreshResult:
    """Fold the appended changes into the totals; rebuild them if the tree moved."""
    state = ReportSummaryState.objects.filter(pk=1).first()
    paths = _unit_paths()
    if state is None or state.stale or _moved(state.unit_paths, paths):
        report_totals_rebuild()
        return RefreshResult(rebuilt=True)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SUMMARY_LOCK])
        if not cursor.fetchone()[0]:
            return RefreshResult(skipped=True)  # another worker is folding or rebuilding
        cursor.execute(FOLD)
        folded = cursor.rowcount
        # New units join the recorded tree; a moved one was caught above.
        ReportSummaryState.objects.filter(pk=1).update(
            unit_paths=paths, folded_at=acting_time.now()
        )
    return RefreshResult(folded=folded)


def report_totals_rebuild() -> None:
    """Recompute the totals and the speed samples from the tables (funds_report_replay).

    Runs in one REPEATABLE READ transaction: what it deletes and what it recomputes come
    from the same snapshot, and the triggers' changes of transactions that commit meanwhile
    stay behind to be folded next time. Inside a caller's transaction (tests) it simply
    runs there.

    The lock is transaction-level (it ends with the transaction, so it works behind
    PgBouncer in transaction mode, where a session lock could outlive its client on a
    pooled connection). While waiting for it, the snapshot was already taken; so once it is
    held, the state row is locked too: a fold or rebuild that committed meanwhile updated
    that row, which REPEATABLE READ answers with a serialization failure, and the rebuild
    starts again on a fresh snapshot.
    """
    if connection.in_atomic_block:
        _rebuild()
        return
    # The row exists before any rebuild, so that even the first two see each other.
    ReportSummaryState.objects.get_or_create(pk=1)
    for attempt in range(REBUILD_ATTEMPTS):
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SUMMARY_LOCK])
                    cursor.execute("SELECT 1 FROM funds_reportsummarystate WHERE id = 1 FOR UPDATE")
                _rebuild()
            return
        except OperationalError as error:
            # A fold or rebuild committed after the snapshot, or a speed sample written
            # meanwhile by a trigger collides with the replay's: again, on a fresh snapshot.
            last = attempt == REBUILD_ATTEMPTS - 1
            if getattr(error.__cause__, "sqlstate", None) != "40001" or last:
                raise
            logger.info("Report totals rebuild met a concurrent change; trying again.")


def _rebuild() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM funds_totalschange")
        cursor.execute("DELETE FROM funds_reporttotal")
        cursor.execute("DELETE FROM funds_speedsample")
        cursor.execute("SELECT funds_report_replay()")
        cursor.execute(FOLD)
    now = acting_time.now()
    ReportSummaryState.objects.update_or_create(
        pk=1,
        defaults={"unit_paths": _unit_paths(), "stale": False, "rebuilt_at": now, "folded_at": now},
    )
