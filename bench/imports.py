"""Benchmark: a statement import against PostgreSQL's COPY of the same rows, in one run.

    make bench-imports              # 10,000 and 100,000 rows
    ROWS=10000,50000 make bench-imports

Builds a throwaway PostgreSQL database (``<DATABASE_URL name>_bench``, dropped first),
migrates it, loads the demo world and, for each size:

* writes a statement CSV in the contract's columns: a victim's card pays ten layer-1
  accounts, each of which pays ten more, and so on (an account receives five transfers
  on average, so ROWS/5 accounts, all reachable: every one joins the case at its layer);
* imports it into a new case through the service, as the Celery task does
  (funds.services.imports: store the file, then run it: parse, check, upsert the
  accounts, insert the transfers, derive the layers, audit);
* times ``COPY ... FROM STDIN (FORMAT csv, HEADER)`` of the same file into a bare table of
  nine columns in the same database, the least any import must cost;
* then imports the file again with tracemalloc on, for the peak of Python's memory (the
  file is streamed: the peak must not grow with the rows).

It prints the figures, the ratio import/COPY (target: within 10x) and the peaks, then
the time of each phase of the timed import (``StatementImport.phases``, as the service
measured them: the stored file loaded, the rows read, parsed, checked and streamed into a
temporary table by COPY, the duplicates skipped, the accounts upserted, the transfers
inserted, the layers derived with the joining accounts' events, the import audited, and the
commit, where PostgreSQL checks the deferred foreign keys).
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casetracker.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789")

from throwaway import throwaway_database  # noqa: E402 - bench/ is the script's folder

SIZES = [int(n) for n in os.environ.get("ROWS", "10000,100000").split(",")]
HEADER = [
    "交易时间", "付款机构", "付款账号", "付款户名", "收款机构", "收款账号", "收款户名",
    "交易金额", "交易流水号",
]  # fmt: skip
VICTIM_CARD = "6222020000001111"
BANKS = ["ICBC", "CCB", "ABC", "BOC"]


def account(k: int) -> tuple[str, str]:
    return BANKS[k % 4], f"62{k:014d}"


def write_statement(path: Path, rows: int) -> None:
    accounts = max(rows // 5, 10)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for i in range(rows):
            k = i % accounts
            source = ("ICBC", VICTIM_CARD) if k < 10 else account(k // 10)
            target = account(k)
            writer.writerow(
                [
                    f"2026-03-01 {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}",
                    source[0], source[1], "甲",
                    target[0], target[1], "乙",
                    f"{(i % 997) + 1:,}.{i % 100:02d}",
                    f"REF{i:09d}",
                ]
            )  # fmt: skip


def main() -> None:
    with throwaway_database():
        run()


def run() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from accounts.models import User
    from devdata.world import build_demo_world
    from funds.models import InvolvedAccount
    from funds.services.cases import case_report, victim_add
    from funds.services.imports import statement_import_create, statement_import_run

    call_command("migrate", verbosity=0)
    build_demo_world()
    officer = User.objects.get(username="officer_lx")

    def new_case() -> int:
        case = case_report(
            actor=officer, title="bench", fraud_type="other", reported_at=timezone.now()
        )
        victim_add(
            actor=officer, case=case, name="张三", id_number="370102199001071234",
            phone="13800000000", loss_amount=1_000_000_000, account_institution_code="ICBC",
            account_number=VICTIM_CARD,
        )  # fmt: skip
        return case.pk

    def import_file(path: Path) -> tuple[float, object]:
        from funds.models import Case

        case = Case.objects.get(pk=new_case())
        started = time.perf_counter()
        with path.open("rb") as stream:
            statement_import = statement_import_create(
                actor=officer,
                case=case,
                upload=iter(lambda: stream.read(1 << 20), b""),
                file_name=path.name,
            )
        done = statement_import_run(import_id=statement_import.pk)
        elapsed = time.perf_counter() - started
        assert done.status == "done", done.errors[:5]
        return elapsed, done

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE UNLOGGED TABLE IF NOT EXISTS bench_copy (occurred_at timestamptz,"
            " from_bank text, from_number text, from_holder text, to_bank text,"
            " to_number text, to_holder text, amount text, reference text)"
        )
        cursor.execute("ALTER TABLE bench_copy SET LOGGED")

    results = []
    phases: list[tuple[int, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as folder:
        for rows in SIZES:
            path = Path(folder) / f"statement-{rows}.csv"
            write_statement(path, rows)
            elapsed, done = import_file(path)
            involved = InvolvedAccount.objects.filter(case_id=done.case_id).count()  # type: ignore[attr-defined]
            raw = connection.connection  # psycopg's own connection, for COPY
            with raw.cursor() as cursor:
                cursor.execute("TRUNCATE bench_copy")
            raw.commit()
            started = time.perf_counter()
            with (
                raw.cursor() as cursor,
                path.open("rb") as stream,
                cursor.copy("COPY bench_copy FROM STDIN (FORMAT csv, HEADER)") as copy,
            ):
                while data := stream.read(1 << 20):
                    copy.write(data)
            raw.commit()
            copy_elapsed = time.perf_counter() - started
            tracemalloc.start()
            tracemalloc.reset_peak()
            import_file(path)
            _current, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            results.append(
                (rows, path.stat().st_size, done.created, involved, elapsed, copy_elapsed, peak)  # type: ignore[attr-defined]
            )
            phases.append((rows, getattr(done, "phases", {})))
            print(f"{rows:,} rows done", file=sys.stderr)

    print()
    print(
        "| rows | file | created | accounts joined | import (s) | COPY (s) | ratio | Python peak |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rows, size, created, involved, elapsed, copy_elapsed, peak in results:
        print(
            f"| {rows:,} | {size / 1e6:.1f} MB | {created:,} | {involved:,} | {elapsed:.2f} |"
            f" {copy_elapsed:.2f} | {elapsed / copy_elapsed:.1f}x | {peak / 1e6:.1f} MB |"
        )
    print()
    names = list(dict.fromkeys(name for _rows, timed in phases for name in timed))
    print("| phase | " + " | ".join(f"{rows:,} rows (s)" for rows, _timed in phases) + " |")
    print("|---|" + "---:|" * len(phases))
    for name in names:
        print(
            f"| {name} | "
            + " | ".join(f"{timed.get(name, 0):.2f}" for _rows, timed in phases)
            + " |"
        )


if __name__ == "__main__":
    main()
