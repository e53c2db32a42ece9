"""The report rebuild's lock is transaction-level (it works behind PgBouncer in transaction
mode) and rebuilds, folds and a rebuild that waited all end with the same figures."""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import connection, transaction
from django.test import TransactionTestCase

from devdata.stories import build_demo_cases
from devdata.world import build_demo_world
from funds.models import ReportSummaryState, ReportTotal, SpeedSample
from funds.reports.folding import SUMMARY_LOCK, report_totals_rebuild, report_totals_refresh
from tests.funds.test_concurrency import run_at_once


def figures() -> list[str]:
    """The kept totals without their ids (a rebuild writes new rows)."""
    return sorted(repr(row[1:]) for row in ReportTotal.objects.values_list())


def speed() -> list[str]:
    return sorted(repr(row[1:]) for row in SpeedSample.objects.values_list())


def advisory_locks_held() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        return int(cursor.fetchone()[0])


class RebuildLockTest(TransactionTestCase):
    def setUp(self) -> None:
        build_demo_world()
        build_demo_cases()
        report_totals_rebuild()
        self.figures, self.speed = figures(), speed()
        assert self.figures, "the demo world has figures to rebuild"

    def test_the_rebuild_holds_no_lock_once_its_transaction_ends(self) -> None:
        report_totals_rebuild()
        assert advisory_locks_held() == 0
        report_totals_refresh()
        assert advisory_locks_held() == 0
        assert (figures(), speed()) == (self.figures, self.speed)

    def test_rebuilds_and_folds_at_once_end_with_the_figures_of_one_rebuild(self) -> None:
        results = run_at_once(
            report_totals_rebuild,
            report_totals_rebuild,
            report_totals_refresh,
            report_totals_rebuild,
            report_totals_refresh,
        )
        assert not [r for r in results if isinstance(r, Exception)], results
        assert (figures(), speed()) == (self.figures, self.speed)
        state = ReportSummaryState.objects.get(pk=1)
        assert not state.stale

    def test_a_rebuild_that_waited_while_another_committed_starts_again(self) -> None:
        outcome: list[Any] = []
        waiting = logging.getLogger("funds.reports.folding")
        records: list[logging.LogRecord] = []

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                records.append(record)

        handler = Keep()
        waiting.addHandler(handler)

        def rebuild() -> None:
            try:
                report_totals_rebuild()
                outcome.append("done")
            except Exception as error:  # the test reports it below
                outcome.append(error)
            finally:
                connection.close()

        try:
            # Hold the lock as a fold does, so the rebuild takes its snapshot and waits.
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SUMMARY_LOCK])
                thread = threading.Thread(target=rebuild)
                thread.start()
                for _ in range(200):
                    cursor.execute(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    )
                    if cursor.fetchone()[0]:
                        break
                    threading.Event().wait(0.05)
                else:
                    raise AssertionError("the rebuild never waited for the lock")
                # What the fold commits while the rebuild waits, behind its snapshot.
                ReportSummaryState.objects.filter(pk=1).update(stale=False)
            thread.join(timeout=60)
        finally:
            waiting.removeHandler(handler)
        assert outcome == ["done"], outcome
        assert any("trying again" in r.getMessage() for r in records)
        assert (figures(), speed()) == (self.figures, self.speed)
