"""Run by tests/casetracker/test_replica.py in a process of its own, whose primary and
replica are the two servers that test started: prints what the reports answered."""

from __future__ import annotations

import json
import time
from decimal import Decimal

from django.db import connections
from django.test import Client
from django.utils import timezone

from accounts.models import User
from devdata.stories import build_demo_cases
from devdata.world import build_demo_world
from funds.reports.folding import report_totals_rebuild, report_totals_refresh
from funds.services.intake import AccountIntake, VictimIntake, case_intake


def scalar(alias: str, sql: str) -> object:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def caught_up() -> None:
    """Wait until the replica has replayed everything the primary wrote so far."""
    target = scalar("default", "SELECT pg_current_wal_lsn()::text")
    for _ in range(600):
        lag = scalar("replica", f"SELECT pg_wal_lsn_diff('{target}', pg_last_wal_replay_lsn())")
        if Decimal(str(lag)) <= 0:
            return
        time.sleep(0.05)
    raise SystemExit("the replica did not catch up within 30 s")


def main() -> None:
    build_demo_world()
    build_demo_cases()
    report_totals_rebuild()
    client = Client()
    client.force_login(User.objects.get(username="manager_sd"))

    def asked() -> int:
        response = client.get("/api/v1/reports/totals/?group_by=institution")
        assert response.status_code == 200, response.content
        return int(response.json()["total"]["stop_requested"]["count"])

    caught_up()
    before = asked()
    scalar("replica", "SELECT pg_wal_replay_pause()::text")
    case_intake(
        actor=User.objects.get(username="officer_lx"),
        title="复制延迟验证",
        fraud_type="other",
        reported_at=timezone.now(),
        victims=[VictimIntake("张三", "370102199001011231", "13800138000", Decimal("100.00"))],
        accounts=[AccountIntake("ICBC", "6222020000009999", "王某", Decimal("100.00"))],
    )
    report_totals_refresh()
    on_primary = scalar(
        "default",
        "SELECT sum(stop_requested_count) FROM funds_reporttotal r"
        " JOIN accounts_organization u ON u.id = r.unit_id"
        " WHERE u.code = '370000' AND r.grain = 'day' AND r.institution_id IS NOT NULL",
    )
    while_paused = asked()
    scalar("replica", "SELECT pg_wal_replay_resume()::text")
    caught_up()
    print(
        json.dumps(
            {
                "replica_in_recovery": scalar("replica", "SELECT pg_is_in_recovery()"),
                "primary_in_recovery": scalar("default", "SELECT pg_is_in_recovery()"),
                "before": before,
                "on_primary": int(on_primary or 0),
                "while_paused": while_paused,
                "after": asked(),
            }
        )
    )


main()
