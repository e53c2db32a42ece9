"""The audit trail as evidence (API.md, docs/audit.md): one global chain over case events and
security events, kept by PostgreSQL, checked by ``verify_audit`` and by a periodic task.

Tampering is done as the test runner's superuser, behind the application, the way an
intruder with the owner's role would: with the append-only triggers turned off.
"""

from __future__ import annotations

import io
import threading
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test import override_settings
from django.utils import timezone

from accounts.audit import security_event_record
from accounts.models import SecurityEvent, SecurityEventType, User
from devdata.world import build_demo_world
from funds.models import AuditCheck, Event, EventType
from funds.services.audit import new_event, record_event, record_events
from funds.services.audit_chain import GENESIS, audit_chain_check, audit_chain_verify, link_hash
from funds.services.cases import case_report
from funds.services.mail import mail_deliver


def verify(*args: str) -> tuple[int, str]:
    """Run ``verify_audit``; answer its exit status and what it printed."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_audit", *args, stdout=out, stderr=err)
    except SystemExit as exit:
        return int(exit.code or 0), out.getvalue() + err.getvalue()
    return 0, out.getvalue() + err.getvalue()


def behind_the_application(sql: str, params: list[Any] | None = None) -> None:
    """Run ``sql`` with every trigger of both audit tables off, as the owner could."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE funds_event DISABLE TRIGGER ALL")
        cursor.execute("ALTER TABLE accounts_securityevent DISABLE TRIGGER ALL")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE funds_event ENABLE TRIGGER ALL")
        cursor.execute("ALTER TABLE accounts_securityevent ENABLE TRIGGER ALL")


def officer() -> User:
    return User.objects.select_related("organization").get(username="officer_lx")


def mixed_trail() -> list[Event]:
    """Case events one by one, a sweep's bulk insert, and security events in between."""
    case = case_report(
        actor=officer(),
        title="冒充客服",
        fraud_type="impersonating_customer_service",
        reported_at=timezone.now(),
    )
    security_event_record(SecurityEventType.SIGNED_IN, actor=officer(), user=officer())
    record_event(case=case, type=EventType.CASE_ACCEPTED, actor=officer())
    record_events(
        new_event(case_id=case.pk, type=EventType.STOP_LAPSED, actor=None, n=i) for i in range(5)
    )
    security_event_record(SecurityEventType.SIGN_IN_FAILED, actor=None, username="nobody")
    return list(Event.objects.filter(case=case).order_by("chain_seq"))


@pytest.fixture
def world() -> None:
    build_demo_world()


@pytest.mark.django_db
class TestTheChain:
    def test_every_write_is_linked_into_one_global_chain(self, world: None) -> None:
        events = mixed_trail()
        links = sorted(
            [(e.chain_seq, e.prev_hash, e.hash) for e in Event.objects.all()]
            + [(s.chain_seq, s.prev_hash, s.hash) for s in SecurityEvent.objects.all()]
        )
        assert [seq for seq, _p, _h in links] == list(range(1, len(links) + 1))
        assert links[0][1] == GENESIS
        assert all(prev == before[2] for before, (_s, prev, _h) in pairwise(links))
        # The trigger's values come back to Python at insert, bulk inserts too.
        assert all(len(e.hash) == 64 for e in events)
        assert events[-1].hash == Event.objects.get(pk=events[-1].pk).hash
        assert SecurityEvent.objects.filter(type=SecurityEventType.SIGN_IN_FAILED).exists()

    def test_python_recomputes_the_hash_postgresql_made(self, world: None) -> None:
        event = mixed_trail()[0]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT funds_event_chain_content(e) FROM funds_event e WHERE id = %s", [event.pk]
            )
            (content,) = cursor.fetchone()
        assert event.chain_seq is not None
        assert link_hash(event.prev_hash, event.chain_seq, content) == event.hash

    def test_verify_audit_passes_an_intact_chain_and_counts_it(self, world: None) -> None:
        mixed_trail()
        total = Event.objects.count() + SecurityEvent.objects.count()
        status, output = verify()
        assert status == 0
        assert f"{total} events checked" in output
        status, output = verify("--from-seq", "3", "--to-seq", "6")
        assert (status, "4 events checked") == (0, output.split(": ")[1][:16])

    def test_a_changed_event_is_named(self, world: None) -> None:
        events = mixed_trail()
        victim = events[2]
        behind_the_application(
            "UPDATE funds_event SET data = '{\"n\": 99}' WHERE id = %s", [victim.pk]
        )
        status, output = verify()
        assert status == 1
        assert f"funds_event id {victim.pk} (position {victim.chain_seq})" in output
        assert "does not match its hash" in output

    def test_a_changed_security_event_is_named(self, world: None) -> None:
        mixed_trail()
        failed = SecurityEvent.objects.get(type=SecurityEventType.SIGN_IN_FAILED)
        behind_the_application(
            "UPDATE accounts_securityevent SET ip_address = '10.0.0.9' WHERE id = %s", [failed.pk]
        )
        status, output = verify()
        assert status == 1
        assert f"accounts_securityevent id {failed.pk} (position {failed.chain_seq})" in output

    def test_a_deleted_event_is_found_by_the_gap_it_leaves(self, world: None) -> None:
        events = mixed_trail()
        gone, after = events[3], events[4]
        behind_the_application("DELETE FROM funds_event WHERE id = %s", [gone.pk])
        status, output = verify()
        assert status == 1
        assert f"funds_event id {after.pk} (position {after.chain_seq}) follows a gap" in output
        assert f"no event holds position {gone.chain_seq}" in output

    def test_a_deleted_last_event_is_found_by_the_head(self, world: None) -> None:
        mixed_trail()
        last = SecurityEvent.objects.order_by("-chain_seq").first()
        assert last is not None
        behind_the_application("DELETE FROM accounts_securityevent WHERE id = %s", [last.pk])
        status, output = verify()
        assert status == 1
        assert f"its head is at {last.chain_seq}" in output

    def test_an_event_inserted_with_a_forged_hash_is_named(self, world: None) -> None:
        events = mixed_trail()
        signed_in = SecurityEvent.objects.get(type=SecurityEventType.SIGNED_IN)
        case_id, seq = events[0].case_id, signed_in.chain_seq
        # Slipped in at a position already taken by a security event, hash made up.
        with connection.cursor() as cursor:
            cursor.execute("SELECT max(id) + 1000 FROM funds_event")
            (forged_id,) = cursor.fetchone()
        behind_the_application(
            "INSERT INTO funds_event (id, case_id, type, at, data, chain_seq, prev_hash, hash) "
            "VALUES (%s, %s, 'case_closed', now(), '{}', %s, %s, %s)",
            [forged_id, case_id, seq, signed_in.prev_hash, "f" * 64],
        )
        status, output = verify()
        assert status == 1
        assert f"funds_event id {forged_id} (position {seq}) holds a position already" in output

    def test_an_event_inserted_without_the_chain_is_named(self, world: None) -> None:
        events = mixed_trail()
        with connection.cursor() as cursor:
            cursor.execute("SELECT max(id) + 1000 FROM funds_event")
            (forged_id,) = cursor.fetchone()
        behind_the_application(
            "INSERT INTO funds_event (id, case_id, type, at, data, prev_hash, hash) "
            "VALUES (%s, %s, 'case_closed', now(), '{}', '', '')",
            [forged_id, events[0].case_id],
        )
        status, output = verify()
        assert status == 1
        assert f"funds_event id {forged_id} (no position) is not in the chain" in output

    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE funds_event SET type = 'case_closed'",
            "DELETE FROM funds_event",
            "TRUNCATE funds_event CASCADE",
            "UPDATE accounts_securityevent SET ip_address = NULL",
            "DELETE FROM accounts_securityevent",
            "TRUNCATE accounts_securityevent CASCADE",
        ],
    )
    def test_the_database_refuses_to_rewrite_history(self, world: None, statement: str) -> None:
        mixed_trail()
        before = (Event.objects.count(), SecurityEvent.objects.count())
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # else TRUNCATE waits on them
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                cursor.execute(statement)
        assert (Event.objects.count(), SecurityEvent.objects.count()) == before
        assert verify()[0] == 0


@pytest.mark.django_db
class TestTheAlarm:
    @override_settings(ADMINS=[("Admin", "security@example.org")])
    def test_the_periodic_check_raises_the_alarm_on_a_broken_chain(self, world: None) -> None:
        from casetracker.health import readiness_checks

        events = mixed_trail()
        first = audit_chain_check()
        assert first.ok and first.head_seq == first.checked
        assert readiness_checks()["audit_chain"]()["ok"] is True

        behind_the_application("DELETE FROM funds_event WHERE id = %s", [events[1].pk])
        from funds.tasks import verify_audit_chain_task

        assert verify_audit_chain_task() is False
        check = AuditCheck.objects.latest()
        assert not check.ok and "follows a gap" in check.problem
        ready = readiness_checks()["audit_chain"]()
        assert ready["ok"] is False and ready["problem"] == check.problem

        mail_deliver()
        assert [m.to for m in mail.outbox] == [["security@example.org"]]
        assert check.problem in mail.outbox[0].body
        # Broken again an hour later: the alarm stays, the mail is not sent again.
        verify_audit_chain_task()
        mail_deliver()
        assert len(mail.outbox) == 1

    def test_administrators_see_a_red_banner_while_the_chain_is_broken(
        self, world: None, client: Any
    ) -> None:
        events = mixed_trail()
        behind_the_application("DELETE FROM funds_event WHERE id = %s", [events[1].pk])
        audit_chain_check()
        admin = User.objects.get(username="admin")
        client.force_login(admin)
        page = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert 'id="audit-chain-banner"' in page and "no longer verifies" in page
        client.force_login(officer())
        page = client.get("/", HTTP_ACCEPT_LANGUAGE="en", follow=True).content.decode()
        assert 'id="audit-chain-banner"' not in page

    def test_verify_audit_record_keeps_the_outcome_and_refuses_a_bad_range(
        self, world: None
    ) -> None:
        mixed_trail()
        assert verify("--record")[0] == 0
        assert AuditCheck.objects.latest().ok
        with pytest.raises(CommandError):
            call_command("verify_audit", "--from-seq", "5", "--to-seq", "2")
        with pytest.raises(CommandError):
            call_command("verify_audit", "--record", "--from-seq", "2")

    def test_a_check_that_stopped_running_fails_readiness(self, world: None) -> None:
        from casetracker.health import readiness_checks

        mixed_trail()
        check = audit_chain_check()
        AuditCheck.objects.filter(pk=check.pk).update(at=timezone.now() - timedelta(days=1))
        assert readiness_checks()["audit_chain"]()["ok"] is False


@pytest.mark.django_db(transaction=True)
def test_six_concurrent_transactions_make_one_unbroken_chain() -> None:
    build_demo_world()
    case_id = case_report(
        actor=officer(),
        title="并发",
        fraud_type="impersonating_customer_service",
        reported_at=timezone.now(),
    ).pk
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            connection.ensure_connection()
            barrier.wait(timeout=30)
            with transaction.atomic():
                for n in range(5):
                    if i % 2:
                        Event.objects.create(
                            case_id=case_id,
                            type=EventType.CASE_ACCEPTED,
                            at=timezone.now(),
                            data={"thread": i, "n": n},
                        )
                    else:
                        security_event_record(
                            SecurityEventType.SIGN_IN_FAILED, actor=None, username=f"t{i}-{n}"
                        )
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    total = Event.objects.count() + SecurityEvent.objects.count()
    seqs = sorted(
        [
            *Event.objects.values_list("chain_seq", flat=True),
            *SecurityEvent.objects.values_list("chain_seq", flat=True),
        ]
    )
    assert seqs == list(range(1, total + 1))
    report = audit_chain_verify()
    assert report.ok, report.problem
    assert report.checked == total


@pytest.mark.django_db
def test_the_admin_shows_events_with_their_links_and_changes_nothing(
    world: None, client: Any
) -> None:
    event = mixed_trail()[0]
    security = SecurityEvent.objects.get(type=SecurityEventType.SIGNED_IN)
    client.force_login(User.objects.get(username="admin"))
    for model, row in (("funds/event", event), ("accounts/securityevent", security)):
        page = client.get(f"/admin/{model}/{row.pk}/change/")
        assert page.status_code == 200
        assert row.hash in page.content.decode() and row.prev_hash in page.content.decode()
        assert client.get(f"/admin/{model}/add/").status_code == 403
        assert client.post(f"/admin/{model}/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/funds/event/").status_code == 200
    assert client.get("/admin/funds/auditcheck/").status_code == 200


def test_beat_verifies_the_chain_every_audit_verify_seconds() -> None:
    from django.conf import settings

    from casetracker.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["verify-audit-chain"]
    assert entry == {
        "task": "funds.tasks.verify_audit_chain",
        "schedule": settings.AUDIT_VERIFY_SECONDS,
    }
    app.loader.import_default_modules()
    assert "funds.tasks.verify_audit_chain" in app.tasks
