"""Reports read from a real streaming replica (DATABASE_REPLICA_URL): a primary and a hot
standby made by pg_basebackup, each on a port of its own, started by this test.

The proof that reports go to the replica: with its replay paused, a stop-payment written on
the primary is in the primary's figures but not in what the report API answers; once replay
resumes, the API answers it too."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.casetracker.test_deploy import free_port

ROOT = Path(__file__).resolve().parents[2]


def postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:  # never skip: the suite needs a PostgreSQL server installed anyway
        raise AssertionError("no PostgreSQL server binaries under /usr/lib/postgresql")
    return found[-1].parent


def as_postgres(*command: str) -> subprocess.CompletedProcess[str]:
    """Run a server command as the `postgres` user (PostgreSQL refuses to run as root)."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(
        [*prefix, *command], capture_output=True, text=True, timeout=180, check=False
    )


def must(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


@contextmanager
def primary_and_replica() -> Iterator[tuple[int, int]]:
    bin_dir = postgres_bin()
    top = Path(tempfile.mkdtemp(prefix="ct-replica-", dir="/tmp"))
    top.chmod(0o755)
    primary, replica = top / "primary", top / "replica"
    if os.geteuid() == 0:
        shutil.chown(top, "postgres", "postgres")
    ports = free_port(), free_port()
    started: list[Path] = []
    try:
        must(
            as_postgres(
                str(bin_dir / "initdb"),
                "-D",
                str(primary),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            )
        )
        for data, port in ((primary, ports[0]),):
            must(
                as_postgres(
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-w",
                    "-l",
                    str(top / "primary.log"),
                    "-o",
                    f"-p {port} -k {top} -c listen_addresses=127.0.0.1 -c fsync=off",
                    "start",
                )
            )
            started.append(data)
        must(
            as_postgres(
                str(bin_dir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(ports[0]),
                "-U",
                "postgres",
                "casetracker",
            )
        )
        must(
            as_postgres(
                str(bin_dir / "pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(ports[0]),
                "-U",
                "postgres",
                "-D",
                str(replica),
                "-R",
                "-X",
                "stream",
                "--no-sync",
            )
        )
        must(
            as_postgres(
                str(bin_dir / "pg_ctl"),
                "-D",
                str(replica),
                "-w",
                "-l",
                str(top / "replica.log"),
                "-o",
                f"-p {ports[1]} -k {top} -c listen_addresses=127.0.0.1",
                "start",
            )
        )
        started.append(replica)
        yield ports
    finally:
        for data in reversed(started):
            as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(top, ignore_errors=True)


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_reports_read_from_the_replica_and_everything_else_from_the_primary():
    with primary_and_replica() as (primary, replica):
        env = {
            **os.environ,
            "DEBUG": "1",
            "ALLOWED_HOSTS": "testserver",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{primary}/casetracker",
            "DATABASE_REPLICA_URL": f"postgres://postgres@127.0.0.1:{replica}/casetracker",
            "PYTHONPATH": str(ROOT),
        }
        # Migrations run on the primary only; the replica follows by replication.
        must(manage(env, "migrate", "--noinput"))
        result = manage(env, "shell", "-c", "import tests.casetracker.replica_probe")
        must(result)
        seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["replica_in_recovery"] is True and seen["primary_in_recovery"] is False
    assert seen["before"] > 0
    # The new stop-payment is in the primary's figures, not in the paused replica's answer.
    assert seen["on_primary"] == seen["before"] + 1
    assert seen["while_paused"] == seen["before"]
    assert seen["after"] == seen["before"] + 1
