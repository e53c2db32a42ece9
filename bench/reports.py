"""Benchmark: the reports and the liaison inbox as a province grows, against plain SQL.

    make bench-reports                       # 10k, 100k and 1M instructions
    SIZES=10000,100000 make bench-reports

Builds a throwaway PostgreSQL database (``<DATABASE_URL name>_bench``, dropped first and
after), migrates it and grows a generated province (devdata.generate, ``generate_data``) to
each size in turn, counted in instructions. After each step it folds the report totals
(what the periodic task does every minute), lets VACUUM ANALYZE do what autovacuum would,
and times, median of five warm runs:

* the totals endpoint as the province's manager: by child unit over all time, by month over
  the last twelve months, by institution over a range across month ends, and by child unit
  for a county manager;
* the speed endpoint (league table of the last 30 days, by child unit);
* what is held and queued now (the desk's 在冻, a stock: funds.reports.stock) for the
  province, per child unit;
* the liaison inbox for ICBC's liaison as the API's paginator reads it (the count bounded
  at API_COUNT_LIMIT, the page from the index instruction_liaison_inbox): the first page,
  the twentieth by cursor, and the API's whole JSON answer for the first page (with every
  row serialised);

and, in the same run, the same figures computed by plain SQL straight from the tables
(the query anyone would write without the maintained totals). It checks that both give the
same figures and prints a table of both times and their ratio.
"""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casetracker.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")

from throwaway import throwaway_database  # noqa: E402 - bench/ is the script's folder
from timing import RUNS, timed  # noqa: E402

SIZES = [int(s) for s in os.environ.get("SIZES", "10000,100000,1000000").split(",")]
ZONE = "Asia/Shanghai"


def main() -> None:
    # The benchmark measures reports, not sign-in: its managers need no second factor.
    os.environ.setdefault("MFA_REQUIRED_ROLES", "")
    with throwaway_database():
        run()


def run() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone
    from rest_framework.test import APIClient

    from accounts.models import Organization, User
    from devdata.generate import generate
    from devdata.world import build_demo_world
    from funds.models import Instruction
    from funds.reports.folding import report_totals_refresh
    from funds.reports.stock import stock

    call_command("migrate", verbosity=0)
    build_demo_world()
    users = {u.username: u for u in User.objects.all()}
    liaison = users["liaison_icbc"]
    province = Organization.objects.get(code="370000")
    county = Organization.objects.get(code="370102")
    now = timezone.now()
    today = timezone.localdate(now)

    def api(username: str, path: str) -> dict[str, Any]:
        client = APIClient()
        client.force_authenticate(users[username])
        response = client.get(path)
        assert response.status_code == 200, response.content[:300]
        return response.json()

    def sql(query: str, params: list[Any]) -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()

    month_ago = today.replace(day=1) - timedelta(days=1)
    across = (month_ago.replace(day=15), today.replace(day=1) + timedelta(days=9))
    year_start = (today.replace(day=1) - timedelta(days=330)).replace(day=1)
    speed_from = today - timedelta(days=29)

    results: list[tuple[int, str, float, float, bool]] = []
    built: list[tuple[int, int, float]] = []
    seed = 0
    for size in SIZES:
        started = time.perf_counter()
        count = Instruction.objects.count()
        while count < size * 0.98:
            seed += 1
            per_case = count / max(1, _cases()) if count else 3.9
            cases = max(100, int((size - count) / per_case))
            generate(cases=cases, seed=seed, now=now)
            count = Instruction.objects.count()
        report_totals_refresh()
        connection.cursor().execute("VACUUM ANALYZE")
        built.append((size, count, time.perf_counter() - started))

        def check(
            label: str,
            app: Callable[[], Any],
            plain: Callable[[], Any] | tuple[Callable[[], Any], ...],
            count: int = count,
        ) -> None:
            """Time the app and plain SQL; given several ways in plain SQL, the fastest."""
            app_ms, app_value = timed(app)
            plain_ms, plain_value = min(
                (timed(way) for way in (plain if isinstance(plain, tuple) else (plain,))),
                key=lambda measured: measured[0],
            )
            results.append((count, label, app_ms, plain_ms, app_value == plain_value))
            if app_value != plain_value:
                print(f"{label}: the app and plain SQL differ")
                if isinstance(app_value, dict):
                    for key in sorted(set(app_value) | set(plain_value), key=str):
                        if app_value.get(key) != plain_value.get(key):
                            print(f"  {key}: app {app_value.get(key)}")
                            print(f"  {key}: SQL {plain_value.get(key)}")

        check(
            "totals by unit, all time (province)",
            lambda: _figures(api("manager_sd", "/api/v1/reports/totals/?group_by=unit")),
            lambda: _plain_totals(sql, province, "unit", None, None),
        )
        check(
            "totals by month, 12 months (province)",
            lambda: _figures(
                api(
                    "manager_sd",
                    f"/api/v1/reports/totals/?group_by=month&from={year_start}&to={today}",
                )
            ),
            lambda: _plain_totals(sql, province, "month", year_start, today),
        )
        check(
            f"totals by bank, {across[0]:%m-%d}..{across[1]:%m-%d} (province)",
            lambda: _figures(
                api(
                    "manager_sd",
                    f"/api/v1/reports/totals/?group_by=institution&from={across[0]}&to={across[1]}",
                )
            ),
            lambda: _plain_totals(sql, province, "institution", *across),
        )
        check(
            "totals by unit, all time (county)",
            lambda: _figures(api("manager_lx", "/api/v1/reports/totals/?group_by=unit")),
            lambda: _plain_totals(sql, county, "unit", None, None),
        )
        check(
            "speed league, 30 days (province)",
            lambda: _speed(
                api(
                    "manager_sd",
                    f"/api/v1/reports/speed/?group_by=unit&from={speed_from}&to={today}",
                )
            ),
            lambda: _plain_speed(sql, province, speed_from, today),
        )
        check(
            "held and queued now, by unit (province desk)",
            lambda: _stock(stock(scope=province, now=now)),
            lambda: _plain_stock(sql, province, now),
        )
        inbox = _Inbox(liaison)
        check(
            "liaison inbox, first page + count",
            inbox.first_page,
            _plain_inbox_ways(sql, liaison.organization_id, None),
        )
        check(
            "liaison inbox, page 20 by cursor",
            inbox.page_by_cursor,
            _plain_inbox_ways(sql, liaison.organization_id, inbox.cursor_key),
        )
        check(
            "liaison inbox, GET /instructions/ (JSON)",
            lambda: _answer_rows(api("liaison_icbc", "/api/v1/instructions/")),
            _plain_inbox_ways(sql, liaison.organization_id, None),
        )

    print("\nBuilt (generate_data, fold, VACUUM ANALYZE):")
    for size, count, seconds in built:
        print(f"  {size:>9,} target: {count:>9,} instructions in {seconds:6.1f} s")
    print(f"\n{'instructions':>12}  {'query':<40} {'app ms':>9} {'SQL ms':>9} {'ratio':>7}  same")
    for count, label, app_ms, plain_ms, same in results:
        ratio = app_ms / plain_ms if plain_ms else float("inf")
        print(
            f"{count:>12,}  {label:<40} {app_ms:>9.1f} {plain_ms:>9.1f} {ratio:>7.2f}  "
            f"{'yes' if same else 'NO'}"
        )
    print("\nratio = app / plain SQL (below 1: the app is faster); median of", RUNS, "runs")
    if not all(r[4] for r in results):
        sys.exit("Some figures differ from plain SQL.")


def _stock(held_now: Any) -> tuple[Decimal, Decimal, dict[str, Decimal]]:
    return (
        held_now.held,
        held_now.queued,
        {k: v for k, v in held_now.held_by_unit.items() if v},
    )


def _plain_stock(sql: Any, scope: Any, now: Any) -> tuple[Decimal, Decimal, dict[str, Decimal]]:
    """What is held now and what waits, per child unit, summed over every freeze."""
    cut = len(scope.path) + 1
    child = f"coalesce(NULLIF(split_part(substr(u.path, {cut}), '/', 1), ''), '0')::bigint"
    rows = sql(
        f"SELECT {child}, "
        "sum(CASE WHEN i.hold_confirmed_at IS NOT NULL AND i.ended_at IS NULL "
        "AND i.effective_until > %s "
        "THEN i.executed_amount - i.released_amount - i.returned_amount ELSE 0 END), "
        "sum(CASE WHEN i.queued AND i.hold_confirmed_at IS NULL AND i.ended_at IS NULL "
        "AND (i.status IN ('awaiting_approval', 'pending') "
        "OR i.status = 'executed' AND i.executed_amount > 0) "
        "THEN coalesce(i.executed_amount, i.requested_amount) ELSE 0 END) "
        "FROM funds_instruction i JOIN funds_case c ON c.id = i.case_id "
        "JOIN accounts_organization u ON u.id = c.unit_id "
        "WHERE i.kind = 'freeze' AND u.path LIKE %s GROUP BY 1",
        [now, f"{scope.path}%"],
    )
    from accounts.models import Organization

    codes = {o.pk: o.code for o in Organization.objects.filter(parent=scope)}
    codes[0] = scope.code
    held = sum((r[1] for r in rows), Decimal(0))
    queued = sum((r[2] for r in rows), Decimal(0))
    return held, queued, {codes[r[0]]: r[1] for r in rows if r[1]}


def _cases() -> int:
    from funds.models import Case

    return Case.objects.count()


# -- comparing like with like -------------------------------------------------------------

FIGURES = ("stop_requested", "stopped", "frozen", "released", "returned", "queued")


def _figures(report: dict[str, Any]) -> dict[str, Any]:
    """key -> (cases, loss, (count, amount) per figure, held), for rows and the total."""

    def one(row: dict[str, Any]) -> tuple[Any, ...]:
        return (
            row["cases"],
            Decimal(row["loss"]),
            *((row[f]["count"], Decimal(row[f]["amount"])) for f in FIGURES),
            Decimal(row["held"]),
        )

    figures = {row["key"]: one(row) for row in report["rows"]}
    figures["total"] = one(report["total"])
    return {k: v for k, v in figures.items() if _nonzero(v) or k == "total"}


def _nonzero(figures: tuple[Any, ...]) -> bool:
    return any(_nonzero(f) if isinstance(f, tuple) else f for f in figures)


def _plain_totals(sql: Any, scope: Any, group_by: str, first: Any, last: Any) -> dict[str, Any]:
    """The totals report straight from the tables (the queries anyone would write)."""
    cut = len(scope.path) + 1
    if group_by == "unit":
        key = f"coalesce(NULLIF(split_part(substr(u.path, {cut}), '/', 1), ''), '0')::bigint"
    elif group_by == "institution":
        key = "{inst}"
    else:
        key = "to_char(({at} AT TIME ZONE '" + ZONE + "'), 'YYYY-MM')"
    window = ""
    params: list[Any] = [f"{scope.path}%"]
    if first is not None:
        window = f" AND ({{at}} AT TIME ZONE '{ZONE}')::date BETWEEN %s AND %s"
        params += [first, last]

    def query(select: str, source: str, at: str, where: str, inst: str = "NULL") -> str:
        k = key.format(at=at, inst=inst)
        return (
            f"SELECT {k}, {select} FROM {source} JOIN funds_case c ON c.id = {source.split()[1]}.case_id "
            f"JOIN accounts_organization u ON u.id = c.unit_id "
            f"WHERE u.path LIKE %s {where}{window.format(at=at)} GROUP BY 1"
        )

    rows: dict[Any, dict[str, Any]] = defaultdict(lambda: defaultdict(lambda: Decimal(0)))
    if group_by != "institution":
        for k, n in sql(
            f"SELECT {key.format(at='c.reported_at', inst='NULL')}, count(*) FROM funds_case c "
            f"JOIN accounts_organization u ON u.id = c.unit_id WHERE u.path LIKE %s"
            f"{window.format(at='c.reported_at')} GROUP BY 1",
            params,
        ):
            rows[k]["cases"] += n
        for k, n in sql(query("sum(v.loss_amount)", "funds_victim v", "c.reported_at", ""), params):
            rows[k]["loss"] += n
    else:
        for k, n in sql(
            query(
                "count(DISTINCT i.case_id)",
                "funds_instruction i",
                "c.reported_at",
                "",
                inst="i.institution_id",
            ),
            params,
        ):
            rows[k]["cases"] += n
    for k, n, amount in sql(
        query(
            "count(*), sum(i.requested_amount)",
            "funds_instruction i",
            "i.requested_at",
            "AND i.kind = 'stop_payment' AND i.status <> 'cancelled'",
            inst="i.institution_id",
        ),
        params,
    ):
        rows[k]["stop_requested_count"] += n
        rows[k]["stop_requested_amount"] += amount
    # A freeze is frozen from the bank's confirmation of its hold (R12: for a queued one,
    # once it took effect); the rest from their answer.
    done = query(
        "i.kind, count(*), sum(i.executed_amount), "
        "sum(i.executed_amount - i.released_amount - i.returned_amount)",
        "funds_instruction i",
        "(CASE WHEN i.kind = 'freeze' THEN i.hold_confirmed_at ELSE i.responded_at END)",
        "AND i.status = 'executed' AND i.executed_amount > 0 "
        "AND (i.kind <> 'freeze' OR i.hold_confirmed_at IS NOT NULL)",
        inst="i.institution_id",
    ).replace("GROUP BY 1", "GROUP BY 1, 2")
    for k, n, amount in sql(
        query(
            "count(*), sum(coalesce(i.executed_amount, i.requested_amount))",
            "funds_instruction i",
            "i.requested_at",
            "AND i.kind = 'freeze' AND i.queued AND i.hold_confirmed_at IS NULL "
            "AND i.ended_at IS NULL AND (i.status IN ('awaiting_approval', 'pending') "
            "OR i.status = 'executed' AND i.executed_amount > 0)",
            inst="i.institution_id",
        ),
        params,
    ):
        rows[k]["queued_count"] += n
        rows[k]["queued_amount"] += amount
    names = {"stop_payment": "stopped", "freeze": "frozen", "release": "released"}
    for k, kind, n, amount, held in sql(done, params):
        name = names.get(kind, "returned" if kind == "return" else None)
        if name:
            rows[k][f"{name}_count"] += n
            rows[k][f"{name}_amount"] += amount
        if kind == "freeze":
            rows[k]["held"] += held

    from accounts.models import Organization

    if group_by == "unit":
        labels = {o.pk: o.code for o in Organization.objects.filter(parent=scope)}
        labels[0] = scope.code
    elif group_by == "institution":
        labels = {o.pk: o.code for o in Organization.objects.institutions()}
    else:
        labels = {k: k for k in rows}

    def one(values: dict[str, Any]) -> tuple[Any, ...]:
        return (
            int(values["cases"]),
            values["loss"],
            *((int(values[f"{f}_count"]), values[f"{f}_amount"]) for f in FIGURES),
            values["held"],
        )

    figures = {labels[k]: one(v) for k, v in rows.items() if k is not None}
    total: dict[str, Any] = defaultdict(lambda: Decimal(0))
    for values in rows.values():
        for name, value in values.items():
            total[name] += value
    if group_by == "institution":
        # The total counts each case once, however many institutions it involved.
        total["loss"] = Decimal(0)
        total["cases"] = 0
        (cases,) = sql(
            "SELECT count(*) FROM funds_case c JOIN accounts_organization u ON u.id = c.unit_id "
            f"WHERE u.path LIKE %s{window.format(at='c.reported_at')}",
            params,
        )[0]
        (loss,) = sql(
            "SELECT coalesce(sum(v.loss_amount), 0) FROM funds_victim v JOIN funds_case c "
            "ON c.id = v.case_id JOIN accounts_organization u ON u.id = c.unit_id "
            f"WHERE u.path LIKE %s{window.format(at='c.reported_at')}",
            params,
        )[0]
        total["cases"], total["loss"] = cases, loss
    figures["total"] = one(total)
    return {k: v for k, v in figures.items() if _nonzero(v) or k == "total"}


def _speed(report: dict[str, Any]) -> dict[str, Any]:
    measures = ("first_stop", "stop_answer")
    figures = {
        row["key"]: tuple((row[m]["count"], row[m]["median"], row[m]["p90"]) for m in measures)
        for row in report["rows"]
    }
    return {k: v for k, v in figures.items() if any(m[0] for m in v)}


def _plain_speed(sql: Any, scope: Any, first: Any, last: Any) -> dict[str, Any]:
    """Report-to-first-stop and stop-payment answer, median and 90th percentile per child."""
    cut = len(scope.path) + 1
    child = f"NULLIF(split_part(substr(u.path, {cut}), '/', 1), '')::bigint"
    rows = sql(
        f"""
        WITH first_stop AS (
            SELECT {child} AS child, greatest(0, floor(extract(epoch FROM min(i.requested_at)
                   - c.reported_at))) AS seconds
            FROM funds_case c JOIN accounts_organization u ON u.id = c.unit_id
            JOIN funds_instruction i ON i.case_id = c.id AND i.kind = 'stop_payment'
            WHERE u.path LIKE %s
              AND (c.reported_at AT TIME ZONE '{ZONE}')::date BETWEEN %s AND %s
            GROUP BY c.id, u.path, c.reported_at
        ), answers AS (
            SELECT {child} AS child,
                   greatest(0, floor(extract(epoch FROM i.responded_at - i.requested_at)))
                   AS seconds
            FROM funds_instruction i JOIN funds_case c ON c.id = i.case_id
            JOIN accounts_organization u ON u.id = c.unit_id
            WHERE u.path LIKE %s AND i.kind = 'stop_payment'
              AND i.status IN ('executed', 'rejected')
              AND (i.requested_at AT TIME ZONE '{ZONE}')::date BETWEEN %s AND %s
        )
        SELECT 'first_stop', child, count(*),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds),
               percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds)
        FROM first_stop GROUP BY child
        UNION ALL
        SELECT 'stop_answer', child, count(*),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds),
               percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds)
        FROM answers GROUP BY child
        """,
        [f"{scope.path}%", first, last, f"{scope.path}%", first, last],
    )
    from accounts.models import Organization

    codes = {o.pk: o.code for o in Organization.objects.filter(parent=scope)}
    codes[None] = scope.code
    found: dict[str, dict[str, tuple[Any, ...]]] = defaultdict(dict)
    for measure, child, n, median, p90 in rows:
        found[codes[child]][measure] = (n, round(median, 1), round(p90, 1))
    empty = (0, None, None)
    return {
        code: (m.get("first_stop", empty), m.get("stop_answer", empty)) for code, m in found.items()
    }


class _Inbox:
    """The liaison's inbox as the API's paginator reads it (funds.api.pagination): the
    bounded count and a page from the index, first and then twenty pages on by cursor."""

    def __init__(self, liaison: Any) -> None:
        from funds.api.pagination import cursor_decode

        self.liaison = liaison
        path = "/api/v1/instructions/"
        for _ in range(19):
            paginator, _rows = self._page(path)
            path = paginator.get_paginated_response([]).data["next"]
        self.cursor_path = path
        self.cursor_key = cursor_decode(path.split("cursor=")[1].split("&")[0])[0]

    def _page(self, path: str) -> tuple[Any, list[Any]]:
        from rest_framework.request import Request
        from rest_framework.test import APIRequestFactory

        from funds.api.pagination import InboxPagination
        from funds.selectors import instruction_list

        paginator = InboxPagination()
        request = Request(APIRequestFactory().get(path))
        rows = paginator.paginate_queryset(instruction_list(self.liaison), request) or []
        return paginator, rows

    def first_page(self) -> tuple[int, list[int]]:
        paginator, rows = self._page("/api/v1/instructions/")
        return paginator.total, [i.pk for i in rows]

    def page_by_cursor(self) -> tuple[int, list[int]]:
        paginator, rows = self._page(self.cursor_path)
        return paginator.total, [i.pk for i in rows]


def _answer_rows(answer: dict[str, Any]) -> tuple[int, list[int]]:
    return answer["count"], [row["id"] for row in answer["results"]]


def _plain_inbox_ways(sql: Any, institution_id: int, after: Any) -> tuple[Callable[[], Any], ...]:
    """Two ways to the same page in plain SQL, the faster of which is the baseline: every
    table joined in one query, and the page joined to its case, account and victim with the
    organisations and approvers read by id in one query each (as the app reads them)."""
    return (
        lambda: _plain_inbox(sql, institution_id, after, split=False),
        lambda: _plain_inbox(sql, institution_id, after, split=True),
    )


def _plain_inbox(
    sql: Any, institution_id: int, after: Any, *, split: bool
) -> tuple[int, list[int]]:
    """The plain SQL for the same page: the count stopped at the same limit, the page in the
    order of the index that serves it, from the cursor's row on."""
    from django.conf import settings

    visible = (
        "FROM funds_instruction i WHERE i.institution_id = %s "
        "AND (i.kind = 'stop_payment' OR i.approved_at IS NOT NULL)"
    )
    limit = settings.API_COUNT_LIMIT
    (count,) = sql(
        f"SELECT count(*) FROM (SELECT 1 {visible} LIMIT %s) t", [institution_id, limit + 1]
    )[0]
    waiting = "CASE WHEN i.status = 'pending' THEN 0 ELSE 1 END"
    due = "COALESCE(i.response_due_at, 'infinity'::timestamptz)"
    where, params = "", []
    if after is not None:
        w, d, r, pk = after
        where = (
            f"AND ({waiting}, {due}) >= (%s, COALESCE(%s, 'infinity'::timestamptz)) "
            f"AND (({waiting}, {due}) > (%s, COALESCE(%s, 'infinity'::timestamptz)) "
            "OR (i.requested_at, i.id) < (%s, %s)) "
        )
        params = [w, d, w, d, r, pk]
    order = f"{where}ORDER BY {waiting}, {due}, i.requested_at DESC, i.id DESC LIMIT 50"
    # The page carries what the inbox shows: the case, institution, issuing unit, approver,
    # account and the victim a return is paid to (what funds.selectors.instruction_list reads).
    if not split:
        page = sql(
            "SELECT i.*, c.*, o.*, u.*, a.*, ia.*, ba.*, v.*, vo.* FROM funds_instruction i "
            "JOIN funds_case c ON c.id = i.case_id "
            "JOIN accounts_organization o ON o.id = i.institution_id "
            "LEFT JOIN accounts_organization u ON u.id = i.issuing_unit_id "
            "LEFT JOIN accounts_user a ON a.id = i.approved_by_id "
            "JOIN funds_involvedaccount ia ON ia.id = i.involved_id "
            "JOIN funds_bankaccount ba ON ba.id = ia.account_id "
            "LEFT JOIN funds_victim v ON v.id = i.victim_id "
            "LEFT JOIN accounts_organization vo ON vo.id = v.account_institution_id "
            f"WHERE i.institution_id = %s AND (i.kind = 'stop_payment' OR i.approved_at IS NOT NULL) {order}",
            [institution_id, *params],
        )
        return min(count, limit), [row[0] for row in page]
    page = sql(
        "SELECT i.id, i.institution_id, i.issuing_unit_id, i.approved_by_id, "
        "v.account_institution_id, i.*, c.*, ia.*, ba.*, v.* FROM funds_instruction i "
        "JOIN funds_case c ON c.id = i.case_id "
        "JOIN funds_involvedaccount ia ON ia.id = i.involved_id "
        "JOIN funds_bankaccount ba ON ba.id = ia.account_id "
        "LEFT JOIN funds_victim v ON v.id = i.victim_id "
        f"WHERE i.institution_id = %s AND (i.kind = 'stop_payment' OR i.approved_at IS NOT NULL) {order}",
        [institution_id, *params],
    )
    organizations = sorted({o for row in page for o in (row[1], row[2], row[4]) if o})
    sql("SELECT * FROM accounts_organization WHERE id = ANY(%s)", [organizations])
    approvers = sorted({row[3] for row in page if row[3]})
    sql("SELECT * FROM accounts_user WHERE id = ANY(%s)", [approvers])
    return min(count, limit), [row[0] for row in page]


if __name__ == "__main__":
    main()
