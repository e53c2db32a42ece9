"""Benchmark: the deadline sweep over many open clocks, against plain SQL in the same run.

    make bench-sweep                 # 1,000,000 open clocks
    DEADLINES=100000 make bench-sweep

Builds a throwaway PostgreSQL database (``<DATABASE_URL name>_bench``, dropped first),
migrates it, fills it with cases and open clocks by ``generate_series`` (all due), then
times:

* the sweep (funds.services.sweep.sweep): lapses, flags, notices, escalation, resolution,
  in transactions of DEADLINE_SWEEP_BATCH clocks, and the VACUUM that sweep_run runs after it;
* the second sweep over the same rows (nothing new to do: the idempotent case), again after
  CHECKPOINT and ANALYZE (the steady state), and the next beat a minute on;
* plain SQL baselines in the same database: selecting the due clocks, and inserting one
  row per due clock into a scratch table (the least any sweep must write).

It prints a table of the figures and the ratio of the sweep to the plain insert.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casetracker.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789")

from throwaway import throwaway_database  # noqa: E402 - bench/ is the script's folder

DEADLINES = int(os.environ.get("DEADLINES", "1000000"))
CASES = max(DEADLINES // 10, 1)
INSTRUCTIONS = max((DEADLINES - CASES) // 5, 1)


def main() -> None:
    with throwaway_database():
        run()


def build(now: datetime) -> None:
    """Fill the migrated database with cases and open clocks, all due as of ``now``."""
    from django.db import connection

    from devdata.world import build_demo_world

    build_demo_world()
    # The report triggers (funds migration 0005) are switched off while the data is built in
    # bulk and on again before anything is timed: the sweep's own writes fire them as in
    # production.
    built_tables = ["funds_case", "funds_instruction", "funds_involvedaccount", "funds_deadline"]
    with connection.cursor() as cursor:
        for table in built_tables:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        cursor.execute("SELECT id FROM accounts_organization WHERE code = '370102001'")
        (unit,) = cursor.fetchone()
        cursor.execute("SELECT id FROM accounts_user WHERE username = 'officer_lx'")
        (officer,) = cursor.fetchone()
        cursor.execute(
            """
            INSERT INTO funds_case (number, unit_id, title, fraud_type, status, description,
                reported_at, filing_number, created_by_id, created_at)
            SELECT 'B-' || g, %s, 'bench ' || g, 'other', 'reported', '', %s - interval '2 hours',
                '', %s, %s
            FROM generate_series(1, %s) g
            """,
            [unit, now, officer, now, CASES],
        )
        cursor.execute("SELECT id FROM accounts_organization WHERE code = 'ICBC'")
        (icbc,) = cursor.fetchone()
        cursor.execute("SELECT min(id) FROM funds_case")
        (first_case,) = cursor.fetchone()
        cursor.execute(
            """
            INSERT INTO funds_bankaccount (institution_id, number)
            SELECT %s, '62220216' || lpad(g::text, 11, '0')
            FROM generate_series(1, %s) g
            """,
            [icbc, CASES],
        )
        cursor.execute(
            """
            INSERT INTO funds_involvedaccount (case_id, account_id, holder_name, layer, stage,
                stopped_amount, frozen_amount, released_amount, returned_amount, created_by_id,
                created_at)
            SELECT c.id, a.id, 'holder', 1, 'stop_requested', 0, 0, 0, 0, %s, %s
            FROM (SELECT id, row_number() OVER (ORDER BY id) n FROM funds_case) c
            JOIN (SELECT id, row_number() OVER (ORDER BY id) n FROM funds_bankaccount) a ON a.n = c.n
            """,
            [officer, now],
        )
        # Answered stop-payments carrying five open, past-due clocks each (one of every
        # instruction-level kind that does not lapse), as if every unit were behind at once.
        cursor.execute(
            """
            INSERT INTO funds_instruction (case_id, involved_id, institution_id, kind, status,
                requested_amount, executed_amount, requested_by_id, requested_at, responded_at,
                bank_reference, reject_reason, instrument_number, instrument_source, reason,
                queued, end_reason, released_amount, returned_amount, effective_until,
                effective_from, deadline_provisional, hold_reference)
            SELECT i.case_id, i.id, %s, 'stop_payment', 'executed', 100.00, 100.00, %s,
                %s - interval '3 days', %s - interval '3 days', 'R', '', '', 'legacy', '',
                false, '', 0, 0, %s - interval '1 hour', %s - interval '3 days', false, ''
            FROM generate_series(1, %s) g
            JOIN funds_involvedaccount i ON i.case_id = %s + g %% %s
            """,
            [icbc, officer, now, now, now, now, INSTRUCTIONS, first_case, CASES],
        )
        # Open clocks, all past due: one first-stop clock per case, five per instruction, and
        # for 1% of the instructions a stop-payment lapsing in this very pass.
        cursor.execute(
            """
            INSERT INTO funds_deadline (kind, case_id, instruction_id, warn_at, due_at, opened_at)
            SELECT 'first_stop', c.id, NULL, c.reported_at + interval '20 minutes',
                c.reported_at + interval '30 minutes', c.reported_at
            FROM funds_case c
            """
        )
        cursor.execute(
            """
            INSERT INTO funds_deadline (kind, case_id, instruction_id, warn_at, due_at, opened_at)
            SELECT k.kind, i.case_id, i.id, %s - interval '7 hours', i.effective_until,
                %s - interval '3 days'
            FROM funds_instruction i
            JOIN unnest(ARRAY['bank_response','approval','renewal','verification','release',
                              'stop_lapse']) AS k(kind)
              ON k.kind <> 'stop_lapse' OR i.id %% 100 = 0
            """,
            [now, now],
        )
        for table in built_tables:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        cursor.execute("ANALYZE")


def run() -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from funds.services.sweep import SweepResult, sweep, sweep_vacuum

    call_command("migrate", verbosity=0)
    now = timezone.now()
    started = time.perf_counter()
    build(now)
    built = time.perf_counter() - started

    slow: list[tuple[float, str]] = []

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        begin = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            slow.append((time.perf_counter() - begin, " ".join(sql.split())[:110]))

    def timed(label: str, fn) -> tuple[str, float, object]:
        begin = time.perf_counter()
        with connection.execute_wrapper(record):
            value = fn()
        return label, time.perf_counter() - begin, value

    def plain_select() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM funds_deadline WHERE met_at IS NULL AND due_at <= %s", [now]
            )
            return cursor.fetchone()[0]

    def plain_insert() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE scratch (deadline_id bigint, level text, raised_at timestamptz)"
            )
            cursor.execute(
                """
                INSERT INTO scratch SELECT id, 'overdue', %s FROM funds_deadline
                WHERE met_at IS NULL AND due_at <= %s
                """,
                [now, now],
            )
            rows = cursor.rowcount
            cursor.execute("DROP TABLE scratch")
            return rows

    rows = [
        timed("plain SQL: select the due clocks", plain_select),
        timed("plain SQL: insert one row per due clock", plain_insert),
    ]
    mark = len(slow)
    rows.append(timed("sweep (first pass: raise, notify, escalate)", lambda: sweep(now)))
    first = rows[-1][2]
    assert isinstance(first, SweepResult)
    passes = slow[mark:]
    # What sweep_run does after a pass that claimed as many clocks (outside any transaction).
    rows.append(
        timed(
            "VACUUM funds_deadline after it (sweep_run)",
            lambda: sweep_vacuum(claimed=first.claimed),
        )
    )
    rows.append(timed("sweep (second pass: nothing new)", lambda: sweep(now)))
    # The first pass wrote millions of rows; let PostgreSQL write them out and update its
    # statistics before timing the steady state, as autovacuum would between beats.
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
        cursor.execute("ANALYZE funds_deadline, funds_flag, funds_notification")
    rows.append(timed("sweep (steady state, after CHECKPOINT and ANALYZE)", lambda: sweep(now)))
    # The next beat: the first index scan after the burst marked the claimed clocks' old index
    # entries dead (until VACUUM removes them), so this one steps over them.
    later = now + timedelta(minutes=1)
    rows.append(timed("sweep (steady state, next beat a minute on)", lambda: sweep(later)))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM funds_deadline WHERE met_at IS NULL")
        (clocks,) = cursor.fetchone()
    print(
        f"\nDeadline sweep benchmark: {clocks:,} open clocks on {CASES:,} cases and "
        f"{INSTRUCTIONS:,} instructions (built in {built:.1f} s)"
    )
    print(f"{'step':<52} {'seconds':>9}  result")
    for label, seconds, value in rows:
        print(f"{label:<52} {seconds:>9.2f}  {value}")
    sweep_time, insert_time = rows[2][1], rows[1][1]
    print(
        f"\nfirst pass: {first.batches} transactions of at most {settings.DEADLINE_SWEEP_BATCH:,} "
        f"clocks (DEADLINE_SWEEP_BATCH), {sweep_time / max(first.batches, 1):.2f} s each"
    )
    print(f"ratio sweep / plain insert: {sweep_time / insert_time:.1f}x")
    print(
        f"ratio sweep and its VACUUM / plain insert: {(sweep_time + rows[3][1]) / insert_time:.1f}x"
    )
    # The first pass's statements by kind: how many, in all, the slowest (SHOW_QUERIES=1).
    kinds: dict[str, list[float]] = {}
    for seconds, sql in passes:
        kinds.setdefault(sql[:60], []).append(seconds)
    print(f"\n{'first pass, statements':<62} {'count':>6} {'seconds':>8} {'slowest':>8}")
    for sql, times in sorted(kinds.items(), key=lambda kind: -sum(kind[1]))[:8]:
        print(f"{sql:<62} {len(times):>6} {sum(times):>8.2f} {max(times):>8.3f}")
    if os.environ.get("SHOW_QUERIES"):
        for seconds, sql in sorted(slow, reverse=True)[:12]:
            print(f"{seconds:8.3f}  {sql}")


if __name__ == "__main__":
    main()
