"""Benchmark: the cost of the audit chain's insert trigger, and of verify_audit.

    EVENTS=20000 .venv/bin/python bench/audit_chain.py

Builds a throwaway PostgreSQL database (``<DATABASE_URL name>_bench``), migrates it, makes
one case, then times inserting EVENTS case events in batches of 1,000 (the sweep's bulk
path, one transaction a batch) with the chain triggers on, the same with them off (plain
append-only inserts), and ``audit_chain_verify`` over a run of chained events. It prints
events per second of each.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casetracker.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789")

from throwaway import throwaway_database  # noqa: E402 - bench/ is the script's folder

EVENTS = int(os.environ.get("EVENTS", "20000"))


def main() -> None:
    with throwaway_database():
        run()


def run() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from devdata.world import build_demo_world
    from funds.models import Case, Event, EventType
    from funds.services.audit import new_event, record_events
    from funds.services.audit_chain import audit_chain_verify
    from funds.services.cases import case_report

    call_command("migrate", verbosity=0)
    build_demo_world()
    from accounts.models import User

    officer = User.objects.get(username="officer_lx")
    case: Case = case_report(
        actor=officer, title="bench", fraud_type="investment", reported_at=timezone.now()
    )

    def insert() -> float:
        started = time.perf_counter()
        for start in range(0, EVENTS, 1000):
            with transaction.atomic():
                record_events(
                    new_event(case_id=case.pk, type=EventType.STOP_LAPSED, actor=None, n=i)
                    for i in range(start, min(start + 1000, EVENTS))
                )
        return time.perf_counter() - started

    chain_triggers = ("funds_event_chain_begin", "funds_event_chain", "funds_event_chain_end")

    def chain(on: bool) -> None:
        with connection.cursor() as cursor:
            for trigger in chain_triggers:
                cursor.execute(
                    f"ALTER TABLE funds_event {'ENABLE' if on else 'DISABLE'} TRIGGER {trigger}"
                )

    # Plain, chained, plain, chained: each figure the better of two, so that neither run
    # profits alone from a warm cache.
    chain(False)
    plain = insert()
    chain(True)
    chained = insert()
    chain(False)
    plain = min(plain, insert())
    chain(True)
    chained = min(chained, insert())
    seq = Event.objects.filter(chain_seq__isnull=False).order_by("chain_seq").first()
    assert seq is not None and seq.chain_seq is not None
    started = time.perf_counter()
    # The chained events: the range from the first of them, the whole chain being
    # interrupted by the plain ones.
    report = audit_chain_verify(from_seq=seq.chain_seq + 1, to_seq=seq.chain_seq + EVENTS - 1)
    verified = time.perf_counter() - started
    assert report.ok, report.problem
    print(f"{'':28}{'seconds':>10}{'events/s':>12}")
    for label, seconds in (
        ("insert, chained", chained),
        ("insert, no chain trigger", plain),
        ("verify_audit", verified),
    ):
        print(f"{label:28}{seconds:>10.2f}{EVENTS / seconds:>12,.0f}")
    print(f"chain trigger: {chained / plain:.1f}x the plain insert")


if __name__ == "__main__":
    main()
