"""The deadline sweep and the institution notices on the real services: PostgreSQL, Redis and
a real Celery worker with beat, started as a process of its own.

Nothing is mocked. The worker reads the test database through DATABASE_URL, so the tests that
share data with it (or with other threads) are transactional: what they build is committed.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from types import SimpleNamespace
from typing import IO
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import User
from casetracker.celery import app as celery_app
from devdata.world import build_demo_world
from funds import clock
from funds.models import (
    Case,
    Deadline,
    DeadlineKind,
    EndReason,
    Event,
    Flag,
    Instruction,
    InstructionKind,
    InvolvedAccount,
    Notification,
)
from funds.rules import rule
from funds.services.cases import account_add, case_report
from funds.services.instructions import (
    InstructionRequest,
    instruction_execute,
    instruction_request,
)
from funds.services.sweep import SweepResult, sweep
from funds.tasks import notify_institution

ROOT = Path(__file__).resolve().parents[2]
SWEEP_SECONDS = 2
# Generous: a cold worker imports Django, connects to Redis and PostgreSQL, and mingles.
WORKER_STARTUP_SECONDS = 60
# What the worker may add to the contract of two intervals: one task's round trip through
# Redis and one sweep on a nearly empty database.
FLAG_SLACK_SECONDS = 1.5
READY = re.compile(r"celery@\S+ ready\.")
UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"


# -- the world ---------------------------------------------------------------------------


def demo_users() -> SimpleNamespace:
    build_demo_world()
    return SimpleNamespace(**{u.username: u for u in User.objects.select_related("organization")})


def report(officer: User, reported_at: datetime) -> Case:
    """A case reported at ``reported_at``, logged at that moment."""
    with clock.acting_at(reported_at):
        return case_report(
            actor=officer,
            title="冒充客服退款诈骗",
            fraud_type="impersonating_customer_service",
            reported_at=reported_at,
        )


def ask_stop(officer: User, case: Case, number: str, at: datetime) -> Instruction:
    with clock.acting_at(at):
        involved = account_add(
            actor=officer,
            case=case,
            institution_code="ICBC",
            number=number,
            holder_name="王某",
            layer=1,
        )
        return instruction_request(
            actor=officer,
            case=case,
            request=InstructionRequest(
                kind=InstructionKind.STOP_PAYMENT,
                involved_id=involved.pk,
                amount=Decimal("5000.00"),
            ),
        )


def build_due(w: SimpleNamespace, units: int, now: datetime) -> None:
    """``units`` times over, one clock of each sort the sweep acts on as of ``now``:

    * a case whose first stop-payment is late since before the preliminary sweep (R13), so
      that its overdue flag, raised then, is escalated now;
    * a case whose first stop-payment became late after the preliminary sweep (R13);
    * a case whose first stop-payment is due soon (R13 warning);
    * a stop-payment the bank has not answered in time (R1);
    * a stop-payment executed more than 48 hours ago, which lapses now (R2).

    Run ``preliminary_sweep(now)`` afterwards; ``sweep(now)`` then gives ``expected(units)``.
    """
    first_stop = rule("FIRST_STOP_WITHIN")
    earlier = preliminary_moment(now)
    for unit in range(units):
        number = 6222020000000000 + 10 * unit
        report(w.officer_lx, earlier - first_stop - timedelta(minutes=10))
        report(w.officer_lx, now - first_stop - timedelta(minutes=10))
        report(w.officer_lx, now - first_stop + rule("FIRST_STOP_WARNING") / 2)
        asked = now - rule("STOP_RESPONSE") - timedelta(minutes=10)
        ask_stop(w.officer_lx, report(w.officer_lx, asked), str(number + 1), asked)
        executed = now - rule("STOP_DURATION") - timedelta(minutes=1)
        stop = ask_stop(w.officer_lx, report(w.officer_lx, executed), str(number + 2), executed)
        with clock.acting_at(executed):
            instruction_execute(
                actor=w.liaison_icbc,
                instruction=stop,
                executed_amount=Decimal("5000.00"),
                bank_reference=f"ICBC-{number}",
            )


def preliminary_moment(now: datetime) -> datetime:
    """A sweep long enough before ``now`` that what it raised is escalated at ``now``."""
    return now - rule("ESCALATE_AFTER") - timedelta(minutes=10)


def preliminary_sweep(now: datetime) -> SweepResult:
    return sweep(preliminary_moment(now))


def rows_written(result: SweepResult) -> dict[str, int]:
    """What a sweep reports it wrote: stop-payments lapsed, freezes expired, flags raised and
    people told."""
    return {
        "lapsed": result.lapsed,
        "expired": result.expired,
        "flags_raised": result.flags_raised,
        "notifications": result.notifications,
    }


def expected(units: int) -> dict[str, int]:
    """What ``sweep(now)`` writes for the clocks of ``build_due(units)``, in total."""
    return {
        "lapsed": units,
        "expired": 0,
        # a stop lapsed, a first stop late, a first stop due soon, a bank's answer late
        "flags_raised": 4 * units,
        # the requester of each of the three new overdue flags, the ICBC liaison of the late
        # answer, and the managers of 历下 and 济南 of the flag escalated
        "notifications": 6 * units,
    }


# -- (1) a real worker with beat ------------------------------------------------------------


def worker_database_url() -> str:
    """The URL of the database Django uses now (the test database), for another process."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "127.0.0.1"
    port = f":{db['PORT']}" if db["PORT"] else ""
    at = f"{credentials}@" if credentials else ""
    return f"postgres://{at}{host}{port}/{quote(db['NAME'], safe='')}"


class WorkerOutput:
    """Read the worker's output as it comes, so that its pipe never fills; each line is kept
    with the moment it arrived and written to a log file for the failure report."""

    def __init__(self, stream: IO[str], log: Path) -> None:
        self.lines: list[tuple[float, str]] = []
        self.ready_at: float | None = None
        self._ready = threading.Event()
        self._log = log
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        with self._log.open("w", encoding="utf-8") as log:
            for line in stream:
                arrived = time.monotonic()
                self.lines.append((arrived, line))
                log.write(line)
                log.flush()
                if self.ready_at is None and READY.search(line):
                    self.ready_at = arrived
                    self._ready.set()
        self._ready.set()  # the worker ended: stop waiting for a ready line

    def wait_ready(self, timeout: float) -> float | None:
        self._ready.wait(timeout)
        return self.ready_at

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def tail(self, count: int = 40) -> str:
        return "".join(line for _at, line in self.lines[-count:])


@contextmanager
def celery_worker(tmp_path: Path, env: dict[str, str]) -> Iterator[WorkerOutput]:
    """A real worker with embedded beat, in a process group of its own; always stopped."""
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "casetracker",
            "worker",
            "--beat",
            "--pool=solo",
            "--loglevel=info",
            "--schedule",
            str(tmp_path / "beat-schedule"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,  # its beat child goes into the same group, stopped with it
    )
    assert worker.stdout is not None
    output = WorkerOutput(worker.stdout, tmp_path / "worker.log")
    try:
        yield output
    finally:
        worker.send_signal(signal.SIGTERM)  # warm shutdown: the worker stops its beat too
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=20)
        with suppress(ProcessLookupError):
            # Whatever of the group outlived the worker (its beat process) ends here.
            os.killpg(worker.pid, signal.SIGKILL)
        output.join(timeout=10)
        worker.stdout.close()


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_with_beat_raises_a_flag_within_two_sweep_intervals(tmp_path):
    w = demo_users()
    case = report(w.officer_lx, timezone.now() - timedelta(hours=1))
    assert Deadline.objects.get(case=case, kind=DeadlineKind.FIRST_STOP).due_at < timezone.now()
    assert not Flag.objects.filter(case=case).exists()
    env = {
        **os.environ,
        "DATABASE_URL": worker_database_url(),
        # The test Redis database: the suite's cache was cleared when this test began, and
        # nothing clears it again while the worker runs.
        "CELERY_BROKER_URL": settings.REDIS_URL,
        "DEADLINE_SWEEP_SECONDS": str(SWEEP_SECONDS),
        # The worker sends the mail of the flags it raises; keep it off any mail server.
        "MAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "PYTHONUNBUFFERED": "1",
    }

    with celery_worker(tmp_path, env) as output:
        ready_at = output.wait_ready(WORKER_STARTUP_SECONDS)
        assert ready_at is not None, (
            f"the worker was not ready within {WORKER_STARTUP_SECONDS} s:\n{output.tail()}"
        )
        deadline = ready_at + 2 * SWEEP_SECONDS + FLAG_SLACK_SECONDS
        flags = Flag.objects.filter(kind="first_stop_overdue", case=case)
        raised_after: float | None = None
        while time.monotonic() < deadline + 5:  # look a little past it, to say by how much
            if flags.exists():
                raised_after = time.monotonic() - ready_at
                break
            time.sleep(0.05)

        assert raised_after is not None, (
            f"no flag {2 * SWEEP_SECONDS + FLAG_SLACK_SECONDS + 5:.1f} s after the worker was "
            f"ready:\n{output.tail()}"
        )
        assert raised_after <= 2 * SWEEP_SECONDS + FLAG_SLACK_SECONDS, (
            f"the flag came {raised_after:.2f} s after the worker was ready, more than two "
            f"sweep intervals of {SWEEP_SECONDS} s:\n{output.tail()}"
        )

    flag = flags.get()
    assert (flag.level, flag.resolved_at) == ("overdue", None)
    assert flag.deadline.kind == DeadlineKind.FIRST_STOP
    # One flag for the clock, and the officer who logged the case told of it once.
    assert Flag.objects.filter(case=case).count() == 1
    assert list(Notification.objects.filter(flag=flag).values_list("recipient", "reason")) == [
        (w.officer_lx.pk, "raised")
    ]
    log = "".join(line for _at, line in output.lines)
    assert "funds.tasks.sweep_deadlines" in log


# -- (2) the broker down -------------------------------------------------------------------


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def broker_at(url: str) -> Iterator[None]:
    """Publish to ``url``, failing at once when it cannot be reached.

    The Celery app read its configuration from the settings when first used, and keeps a
    connection pool bound to the broker it had, so both are changed (and reset) here.
    """
    changes = {
        "broker_url": url,
        "broker_connection_retry": False,
        "broker_connection_timeout": 1,
        "task_publish_retry": False,
    }
    before = {name: celery_app.conf[name] for name in changes}

    def drop_pools() -> None:
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    with override_settings(CELERY_BROKER_URL=url):
        celery_app.conf.update(changes)
        drop_pools()
        try:
            yield
        finally:
            celery_app.conf.update(before)
            drop_pools()


def token_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_unreachable_api_writes_still_succeed_and_the_sweep_catches_up(
    mailoutbox,
):
    w = demo_users()
    User.objects.filter(pk=w.liaison_icbc.pk).update(email="liaison@icbc.example")
    officer = token_client(w.officer_lx)
    failures = Records()
    notifications_log = logging.getLogger("funds.services.notifications")
    notifications_log.addHandler(failures)
    # The notice task is the project's app's, so the broker set here is the one it uses.
    assert notify_institution.app is celery_app

    try:
        with broker_at(UNREACHABLE_BROKER):
            response = officer.post(
                "/api/v1/cases/",
                {
                    "title": "冒充客服退款诈骗",
                    "fraud_type": "impersonating_customer_service",
                    "reported_at": timezone.now().isoformat(),
                },
                format="json",
            )
            assert response.status_code == 201, response.content
            case_id = response.json()["id"]
            response = officer.post(
                f"/api/v1/cases/{case_id}/accounts/",
                {
                    "institution": "ICBC",
                    "number": "6222020000000001",
                    "holder_name": "王某",
                    "layer": 1,
                },
                format="json",
            )
            assert response.status_code == 201, response.content
            account_id = response.json()["id"]
            response = officer.post(
                f"/api/v1/cases/{case_id}/instructions/",
                {"kind": "stop_payment", "account": account_id, "amount": "40000.00"},
                format="json",
            )
            assert response.status_code == 201, response.content
            stop = Instruction.objects.get(pk=response.json()["id"])

            # The request committed all it changed, though its notice could not be queued.
            assert Case.objects.filter(pk=case_id).exists()
            assert InvolvedAccount.objects.filter(pk=account_id, case_id=case_id).exists()
            assert (stop.case_id, stop.involved_id, stop.kind, stop.status) == (
                case_id,
                account_id,
                "stop_payment",
                "pending",
            )
            assert Event.objects.filter(instruction=stop, type="instruction_requested").count() == 1
            assert stop.institution_notified_at is None
            assert mailoutbox == []
            failed = [
                r
                for r in failures.records
                if r.getMessage()
                == f"Could not queue the notice of instruction {stop.pk}; the sweep will send it."
            ]
            assert len(failed) == 1, [r.getMessage() for r in failures.records]
            assert failed[0].levelno == logging.ERROR
            assert failed[0].exc_info is not None
            assert "127.0.0.1:1" in str(failed[0].exc_info[1])

            # The broker is still down: the sweep needs none to catch up.
            later = timezone.localtime(stop.requested_at + timedelta(minutes=5))
            out = StringIO()
            call_command("sweep_deadlines", f"--at={later.isoformat()}", stdout=out)
    finally:
        notifications_log.removeHandler(failures)

    assert "institution_notices 1" in out.getvalue(), out.getvalue()
    assert len(mailoutbox) == 1
    notice = mailoutbox[0]
    assert notice.to == ["liaison@icbc.example"]
    assert "6222020000000001" in notice.subject
    stop.refresh_from_db()
    assert stop.institution_notified_at == later

    # A second sweep, later still, has nothing more to send.
    out = StringIO()
    call_command(
        "sweep_deadlines", f"--at={(later + timedelta(minutes=1)).isoformat()}", stdout=out
    )
    assert "institution_notices 0" in out.getvalue(), out.getvalue()
    assert len(mailoutbox) == 1
    stop.refresh_from_db()
    assert stop.institution_notified_at == later


# -- (3) two sweeps at once ----------------------------------------------------------------


# A race is won or lost by timing: it is run a few times over, each on a fresh database.
@pytest.mark.parametrize("attempt", [1, 2, 3, 4], ids=lambda n: f"race-{n}")
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_raise_each_flag_exactly_once(attempt):
    w = demo_users()
    now = timezone.now()
    units = 3
    build_due(w, units, now)
    earlier = preliminary_sweep(now)
    assert earlier.flags_raised > 0
    before = set(Flag.objects.values_list("pk", flat=True))
    notes_before = Notification.objects.count()

    sweeps = 4
    barrier = threading.Barrier(sweeps)
    results: list[SweepResult | BaseException | None] = [None] * sweeps

    def run(index: int) -> None:
        try:
            connection.ensure_connection()  # connected before the race starts
            barrier.wait(timeout=30)
            results[index] = sweep(now)
        except BaseException as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,), name=f"sweep-{i}") for i in range(sweeps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a sweep never finished"

    errors = [r for r in results if not isinstance(r, SweepResult)]
    assert errors == [], "\n".join(
        "".join(traceback.format_exception(e)) if isinstance(e, BaseException) else repr(e)
        for e in errors
    )
    done = [r for r in results if isinstance(r, SweepResult)]
    # Together the sweeps did exactly what one sweep would have done.
    total = {key: sum(rows_written(r)[key] for r in done) for key in expected(units)}
    assert total == expected(units), done

    # One flag per clock and level, whoever raised it.
    flags = Flag.objects.all()
    assert Counter(flags.values_list("deadline_id", "level")).most_common(1)[0][1] == 1
    new = Counter(flags.exclude(pk__in=before).values_list("kind", "level"))
    assert new == {
        ("stop_lapsed", "overdue"): units,
        ("first_stop_overdue", "overdue"): units,
        ("first_stop_overdue", "warning"): units,
        ("bank_response_overdue", "overdue"): units,
    }
    # Each lapsed stop-payment ended once, with one audit event, and its account moved.
    lapsed = Instruction.objects.filter(end_reason=EndReason.LAPSED)
    assert lapsed.count() == units
    for stop in lapsed:
        assert Event.objects.filter(instruction=stop, type="stop_lapsed").count() == 1
        assert stop.ended_at == stop.effective_until
        assert stop.involved.stage == "lapsed"
    assert Event.objects.filter(type="stop_lapsed").count() == units
    # Each person told of each flag once, for each reason.
    notes = Notification.objects.all()
    assert Counter(notes.values_list("flag_id", "recipient_id", "reason")).most_common(1)[0][1] == 1
    assert notes.count() == notes_before + expected(units)["notifications"]
    escalated = Counter(
        notes.filter(reason="escalated").values_list("recipient__username", flat=True)
    )
    assert escalated == {"manager_lx": units, "manager_jn": units}

    # And a sweep after them changes nothing.
    assert sweep(now) == SweepResult()


# -- (4) the sweep's queries do not follow the rows ------------------------------------------


@pytest.mark.django_db
def test_the_sweep_takes_the_same_number_of_queries_for_many_rows_due():
    w = demo_users()
    now = timezone.now()

    def sweep_queries(units: int) -> tuple[int, SweepResult, list[str]]:
        with transaction.atomic():
            build_due(w, units, now)
            preliminary_sweep(now)
            with CaptureQueriesContext(connection) as queries:
                result = sweep(now)
            transaction.set_rollback(True)  # the next count starts from the same world
        return len(queries), result, [q["sql"] for q in queries.captured_queries]

    few, few_result, few_sql = sweep_queries(2)
    many, many_result, many_sql = sweep_queries(8)

    # Both sweeps really had everything due that they act on...
    assert rows_written(few_result) == expected(2)
    assert rows_written(many_result) == expected(8)
    # ...and took the same statements for four times the rows.
    assert many == few, "\n".join(
        ["-- with 2 units due:", *few_sql, "-- with 8 units due:", *many_sql]
    )
