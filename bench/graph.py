"""Benchmark: a case's fund flow graph against one plain SQL aggregate of the same edges.

    make bench-graph                          # 10,000 transfers, 5,000 accounts
    TRANSFERS=50000 ACCOUNTS=20000 make bench-graph

Builds a throwaway PostgreSQL database (``<DATABASE_URL name>_bench``, dropped first),
migrates it, loads the demo world and fills one case with ACCOUNTS bank accounts by SQL
(20 of them the victims' own, four in five of the rest involved accounts over five layers,
the others seen only in transfers) and TRANSFERS transfers, each from a layer to the next,
with repeated pairs so that edges sum several transfers. Then it times, median of RUNS
warm runs, in milliseconds:

* plain SQL: ``SELECT from_account_id, to_account_id, sum(amount), count(*) ... GROUP BY``
  over the case's transfers, fetched (the least any graph must read);
* the service: funds.graph.case_graph (its four queries and the Python that builds nodes
  and edges);
* the API: ``GET /api/v1/cases/{id}/graph/`` through Django's test client (sign-in,
  scope, JSON rendering), as an officer of the case's unit;

and prints the figures and the ratio of each to plain SQL. Both give the same edges.
"""

from __future__ import annotations

import os
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casetracker.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")

from throwaway import throwaway_database  # noqa: E402 - bench/ is the script's folder
from timing import RUNS, timed  # noqa: E402

TRANSFERS = int(os.environ.get("TRANSFERS", "10000"))
ACCOUNTS = int(os.environ.get("ACCOUNTS", "5000"))
VICTIMS = 20
LAYERS = 5


def main() -> None:
    with throwaway_database():
        run()


def build(case_id: int, officer: int, icbc: int, ccb: int) -> None:
    """The case's accounts, victims and transfers, by generate_series."""
    from django.db import connection

    with connection.cursor() as cursor:
        # Victims' cards at CCB (g <= VICTIMS), the rest at ICBC.
        cursor.execute(
            """
            INSERT INTO funds_bankaccount (institution_id, number)
            SELECT CASE WHEN g <= %s THEN %s ELSE %s END, '6222' || lpad(g::text, 12, '0')
            FROM generate_series(1, %s) g
            """,
            [VICTIMS, ccb, icbc, ACCOUNTS],
        )
        cursor.execute(
            """
            INSERT INTO funds_victim (case_id, name, id_number, phone, loss_amount,
                account_institution_id, account_number, account_holder_name, returned_amount,
                created_at)
            SELECT %s, 'victim ' || g, '370102199001011234', '13800138000', 100000.00, %s,
                '6222' || lpad(g::text, 12, '0'), 'victim ' || g, 0, now()
            FROM generate_series(1, %s) g
            """,
            [case_id, ccb, VICTIMS],
        )
        # Non-victim account k (0-based among the others) sits in layer 1 + k % LAYERS; four
        # in five are involved accounts, the fifth only seen in transfers.
        cursor.execute(
            """
            CREATE TEMP TABLE bench_layer AS
            SELECT a.id, (a.n - 1) %% %s + 1 AS layer, (a.n - 1) %% 5 <> 4 AS involved
            FROM (SELECT id, row_number() OVER (ORDER BY id) n FROM funds_bankaccount
                  WHERE number > '6222' || lpad(%s::text, 12, '0')) a
            """,
            [LAYERS, VICTIMS],
        )
        cursor.execute(
            """
            INSERT INTO funds_involvedaccount (case_id, account_id, holder_name, layer, stage,
                stopped_amount, frozen_amount, released_amount, returned_amount, created_by_id,
                created_at)
            SELECT %s, id, 'holder ' || id, layer,
                (ARRAY['identified','stop_requested','stopped','frozen'])[id %% 4 + 1],
                0, 0, 0, 0, %s, now()
            FROM bench_layer WHERE involved
            """,
            [case_id, officer],
        )
        # Transfer g goes from layer L to layer L + 1 (victims are layer 0); its pair repeats
        # every TRANSFERS / 2 transfers, so that edges sum two transfers each.
        cursor.execute(
            """
            CREATE TEMP TABLE bench_source AS
            SELECT id, 0 AS layer, row_number() OVER (ORDER BY id) n FROM funds_bankaccount
            WHERE institution_id = %s
            UNION ALL
            SELECT id, layer, row_number() OVER (PARTITION BY layer ORDER BY id) FROM bench_layer
            """,
            [ccb],
        )
        cursor.execute(
            """
            INSERT INTO funds_transfer (case_id, from_account_id, to_account_id,
                from_holder_name, to_holder_name, amount, occurred_at, reference, created_by_id,
                created_at)
            SELECT %s, s.id, t.id, 'payer', 'payee', 100 + (g %% 97) * 10.5,
                now() - interval '1 minute' * g, 'R' || g, %s, now()
            FROM generate_series(1, %s) g
            CROSS JOIN LATERAL (SELECT (g %% (%s / 2)) %% %s AS layer) l
            JOIN bench_source s ON s.layer = l.layer
                AND s.n = (g %% (%s / 2)) %% (SELECT count(*) FROM bench_source x
                                              WHERE x.layer = l.layer) + 1
            JOIN bench_source t ON t.layer = l.layer + 1
                AND t.n = ((g %% (%s / 2)) * 7) %% (SELECT count(*) FROM bench_source y
                                                    WHERE y.layer = l.layer + 1) + 1
            """,
            [case_id, officer, TRANSFERS, TRANSFERS, LAYERS, TRANSFERS, TRANSFERS],
        )
        cursor.execute("ANALYZE")


def run() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from accounts.models import Organization, User
    from devdata.world import build_demo_world
    from funds.graph import case_graph
    from funds.models import Case, Transfer

    call_command("migrate", verbosity=0)
    build_demo_world()
    officer = User.objects.get(username="officer_lx")
    assert officer.organization is not None
    case = Case.objects.create(
        number="BENCH-GRAPH-1",
        unit=officer.organization,
        title="bench",
        fraud_type="other",
        reported_at=timezone.now(),
        created_by=officer,
    )
    started = time.perf_counter()
    build(
        case.pk,
        officer.pk,
        Organization.objects.get(code="ICBC").pk,
        Organization.objects.get(code="CCB").pk,
    )
    built = time.perf_counter() - started

    def plain() -> list[tuple[int, int, Decimal, int]]:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT from_account_id, to_account_id, sum(amount), count(*)
                FROM funds_transfer WHERE case_id = %s GROUP BY from_account_id, to_account_id
                """,
                [case.pk],
            )
            return cursor.fetchall()

    client = Client()
    client.force_login(officer)

    def api() -> bytes:
        response = client.get(f"/api/v1/cases/{case.pk}/graph/")
        assert response.status_code == 200, response.status_code
        return response.content

    plain_ms, edges = timed(plain)
    service_ms, graph = timed(lambda: case_graph(case))
    api_ms, body = timed(api)

    # The same edges, both ways: the plain sums keyed by bank account, the graph's by node.
    plain_sums = sorted((str(total), n) for _f, _t, total, n in edges)
    graph_sums = sorted((e["amount"], e["count"]) for e in graph["edges"])
    same = plain_sums == graph_sums
    transfers = Transfer.objects.filter(case=case).count()
    print(
        f"\nFund flow graph benchmark: {transfers:,} transfers, {len(graph['nodes']):,} nodes "
        f"({ACCOUNTS:,} accounts incl. {VICTIMS} victims), {len(graph['edges']):,} edges "
        f"(built in {built:.1f} s); median of {RUNS} warm runs"
    )
    print(f"\n{'what':<52} {'ms':>8} {'ratio':>7}")
    for label, ms in (
        ("plain SQL: GROUP BY over the case's transfers", plain_ms),
        ("funds.graph.case_graph (the service)", service_ms),
        ("GET /api/v1/cases/{id}/graph/ (test client)", api_ms),
    ):
        print(f"{label:<52} {ms:>8.1f} {ms / plain_ms:>7.2f}")
    print(f"\nsame edges: {'yes' if same else 'NO'}; JSON answer: {len(body) / 1024:,.0f} KiB")
    print("ratio = time / plain SQL's")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
