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
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.credentials import api_token_issue
from accounts.models import User
from casetracker.celery import app as celery_app
from devdata.world import build_demo_world
from funds import acting_time
from funds.durations import rule
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
    OutgoingMail,
)
from funds.services.cases import account_add, case_report
from funds.services.instructions import (
    InstructionRequest,
    instruction_execute,
    instruction_request,
)
from funds.services.mail import mail_deliver
from funds.services.sweep import SweepResult, sweep
from funds.tasks import notify_institution_task
from tests.broker import broker_at

ROOT = Path(__file__).resolve().parents[2]
SWEEP_SECONDS = 2
# Generous bounds for events, never asserted as durations: a cold worker imports Django,
# connects to Redis and PostgreSQL and mingles; on a loaded machine all of it can be slow.
WORKER_STARTUP_SECONDS = 90
FLAG_WITHIN_SECONDS = 90
READY = re.compile(r"celery@\S+ ready\.")
BEAT_STARTED = re.compile(r"beat: Starting\.\.\.")
UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"


# -- the world ---------------------------------------------------------------------------


def demo_users() -> SimpleNamespace:
    build_demo_world()
    return SimpleNamespace(**{u.username: u for u in User.objects.select_related("organization")})


def report(officer: User, reported_at: datetime) -> Case:
    """A case reported at ``reported_at``, logged at that moment."""
    with acting_time.acting_at(reported_at):
        return case_report(
            actor=officer,
            title="冒充客服退款诈骗",
            fraud_type="impersonating_customer_service",
            reported_at=reported_at,
        )


def ask_stop(officer: User, case: Case, number: str, at: datetime) -> Instruction:
    with acting_time.acting_at(at):
        involved_account = account_add(
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
                involved_account_id=involved_account.pk,
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
        with acting_time.acting_at(executed):
            instruction_execute(
                actor=w.liaison_icbc,
                instruction=stop,
                executed_amount=Decimal("5000.00"),
                bank_reference=f"ICBC-{number}",
            )


def preliminary_moment(now: datetime) -> datetime:
    """A sweep long enough before ``now`` that what it raised is escalated at ``now``."""
    return now - rule("ESCALATION_STEPS")[0] - timedelta(minutes=10)


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
        # the requester of each of the three new overdue flags and of the new warning, the
        # ICBC liaison of the late answer, and the manager of 济南 (the unit above 历下) of
        # the flag escalated
        "notifications": 6 * units,
    }


# -- (1) a real worker with beat ------------------------------------------------------------


def worker_database_url() -> str:
    """The URL of the database Django uses now (the test database), for another process."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    # A Unix socket folder (the embedded server) is the host, percent-encoded.
    host = quote(db["HOST"] or "127.0.0.1", safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    at = f"{credentials}@" if credentials else ""
    return f"postgres://{at}{host}{port}/{quote(db['NAME'], safe='')}"


class ProcessOutput:
    """Read a process's output as it comes, so that its pipe never fills; each line is kept
    and written to a log file for the failure report."""

    def __init__(self, stream: IO[str], log: Path, ready: re.Pattern[str]) -> None:
        self.lines: list[str] = []
        self.is_ready = False
        self._pattern = ready
        self._ready = threading.Event()
        self._log = log
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        with self._log.open("w", encoding="utf-8") as log:
            for line in stream:
                self.lines.append(line)
                log.write(line)
                log.flush()
                if not self.is_ready and self._pattern.search(line):
                    self.is_ready = True
                    self._ready.set()
        self._ready.set()  # the process ended: stop waiting for a ready line

    def wait_ready(self, timeout: float) -> bool:
        self._ready.wait(timeout)
        return self.is_ready

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def tail(self, count: int = 40) -> str:
        return "".join(self.lines[-count:])


@contextmanager
def celery_process(
    tmp_path: Path, env: dict[str, str], name: str, *args: str
) -> Iterator[tuple[subprocess.Popen[str], ProcessOutput]]:
    """``celery -A casetracker <args>``, in a process group of its own; always stopped."""
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "casetracker", *args, "--loglevel=info"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,
    )
    assert process.stdout is not None
    output = ProcessOutput(
        process.stdout, tmp_path / f"{name}.log", READY if args[0] == "worker" else BEAT_STARTED
    )
    try:
        yield process, output
    finally:
        process.send_signal(signal.SIGTERM)  # warm shutdown
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever of the group outlived it
        output.join(timeout=10)
        process.stdout.close()


def worker_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": worker_database_url(),
        # The test Redis database: the suite's cache was cleared when this test began, and
        # nothing clears it again while the worker runs.
        "CELERY_BROKER_URL": settings.REDIS_URL,
        "DEADLINE_SWEEP_SECONDS": str(SWEEP_SECONDS),
        # The worker sends the mail of the flags it raises; keep it off any mail server.
        "MAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_and_beat_raise_a_flag_for_a_late_first_stop(tmp_path):
    w = demo_users()
    case = report(w.officer_lx, timezone.now() - timedelta(hours=1))
    assert Deadline.objects.get(case=case, kind=DeadlineKind.FIRST_STOP).due_at < timezone.now()
    assert not Flag.objects.filter(case=case).exists()
    env = worker_env()

    flags = Flag.objects.filter(kind="first_stop_overdue", case=case)
    with (
        celery_process(tmp_path, env, "worker", "worker", "--pool=solo") as (_w, worker),
        celery_process(tmp_path, env, "beat", "beat") as (beat_process, beat),
    ):
        assert worker.wait_ready(WORKER_STARTUP_SECONDS), (
            f"the worker was not ready within {WORKER_STARTUP_SECONDS} s:\n{worker.tail()}"
        )
        assert beat.wait_ready(WORKER_STARTUP_SECONDS), f"beat did not start:\n{beat.tail()}"
        # Wait on the event itself, up to a generous bound: the sweep beat sends every
        # SWEEP_SECONDS raises the flag; how soon depends on the machine's load, not on us.
        waited_until = time.monotonic() + FLAG_WITHIN_SECONDS
        while not flags.exists() and time.monotonic() < waited_until:
            assert beat_process.poll() is None, f"beat ended:\n{beat.tail()}"
            time.sleep(0.1)
        assert flags.exists(), (
            f"no flag {FLAG_WITHIN_SECONDS} s after worker and beat were ready:\n"
            f"worker:\n{worker.tail()}\nbeat:\n{beat.tail()}"
        )

    flag = flags.get()
    assert (flag.level, flag.resolved_at) == ("overdue", None)
    assert flag.deadline.kind == DeadlineKind.FIRST_STOP
    # One flag for the clock, and the officer who logged the case told of it once, however
    # many sweeps ran while the test watched.
    assert Flag.objects.filter(case=case).count() == 1
    assert list(Notification.objects.filter(flag=flag).values_list("recipient", "reason")) == [
        (w.officer_lx.pk, "raised")
    ]
    assert "funds.tasks.sweep_deadlines" in "".join(worker.lines)
    # Beat kept no schedule file: the in-memory scheduler of the settings, not a shelve; and
    # it held the lock that keeps a second beat standing by (casetracker/beat.py).
    assert "casetracker.beat.LockedScheduler" in "".join(beat.lines)
    assert "beat holds the lock" in "".join(beat.lines)
    assert not list(ROOT.glob("celerybeat-schedule*"))


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_the_mail_queued_with_a_notice(tmp_path):
    w = demo_users()
    User.objects.filter(pk=w.liaison_icbc.pk).update(email="liaison@icbc.example")
    case = report(w.officer_lx, timezone.now())
    stop = ask_stop(w.officer_lx, case, "6222020000000001", timezone.now())
    queued = OutgoingMail.objects.filter(notification__instruction=stop)
    with celery_process(tmp_path, worker_env(), "worker", "worker", "--pool=solo") as (
        worker_process,
        worker,
    ):
        assert worker.wait_ready(WORKER_STARTUP_SECONDS), (
            f"the worker was not ready within {WORKER_STARTUP_SECONDS} s:\n{worker.tail()}"
        )
        # The instruction's notice task was queued after its commit; the worker runs it (the
        # notices and their mail, in its claim's transaction), which kicks the delivery task.
        waited_until = time.monotonic() + FLAG_WITHIN_SECONDS
        while not queued.filter(sent_at__isnull=False).exists() and time.monotonic() < waited_until:
            assert worker_process.poll() is None, f"the worker ended:\n{worker.tail()}"
            time.sleep(0.1)
        assert queued.filter(sent_at__isnull=False).exists(), (
            f"no mail sent {FLAG_WITHIN_SECONDS} s after the worker was ready:\n{worker.tail()}"
        )
    [row] = queued
    assert (row.to, row.attempts, row.last_error, row.gave_up_at) == (
        "liaison@icbc.example",
        1,
        "",
        None,
    )
    # PIPL art. 28: the subject names the account by its last four digits only.
    assert "************0001" in row.subject and "6222020000000001" not in row.subject
    assert row.notification is not None and row.notification.mailed_at == row.sent_at
    assert "funds.tasks.deliver_mail" in "".join(worker.lines)


@pytest.mark.celery
def test_a_beat_that_cannot_start_exits_with_an_error(tmp_path):
    """Beat runs as a process of its own, so a scheduler that fails to start ends it with a
    non-zero status that a supervisor sees, instead of dying unseen inside a worker."""
    env = worker_env()
    with celery_process(
        tmp_path, env, "beat", "beat", "--scheduler", "tests.funds.broken_scheduler:Scheduler"
    ) as (process, output):
        status = process.wait(timeout=WORKER_STARTUP_SECONDS)
    assert status != 0
    assert "the schedule cannot be read" in "".join(output.lines)


# -- (2) the broker down -------------------------------------------------------------------


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def token_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_issue(user=user).secret}")
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
    assert notify_institution_task.app is celery_app

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
            assert (stop.case_id, stop.involved_account_id, stop.kind, stop.status) == (
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
    # The sweep queued the notice's mail; the delivery task sends it.
    assert mailoutbox == []
    with acting_time.acting_at(later):
        assert mail_deliver().sent == 1
    assert len(mailoutbox) == 1
    notice = mailoutbox[0]
    assert notice.to == ["liaison@icbc.example"]
    assert "************0001" in notice.subject and "6222020000000001" not in notice.subject
    stop.refresh_from_db()
    assert stop.institution_notified_at == later

    # A second sweep, later still, has nothing more to send.
    out = StringIO()
    call_command(
        "sweep_deadlines", f"--at={(later + timedelta(minutes=1)).isoformat()}", stdout=out
    )
    assert "institution_notices 0" in out.getvalue(), out.getvalue()
    with acting_time.acting_at(later + timedelta(minutes=1)):
        assert mail_deliver().sent == 0
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
        assert stop.involved_account.stage == "lapsed"
    assert Event.objects.filter(type="stop_lapsed").count() == units
    # Each person told of each flag once, for each reason.
    notes = Notification.objects.all()
    assert Counter(notes.values_list("flag_id", "recipient_id", "reason")).most_common(1)[0][1] == 1
    assert notes.count() == notes_before + expected(units)["notifications"]
    escalated = Counter(
        notes.filter(reason="escalated").values_list("recipient__username", flat=True)
    )
    assert escalated == {"manager_jn": units}
    assert Event.objects.filter(type="flag_escalated").count() == units

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
