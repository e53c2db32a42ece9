"""The outbox: every notice is in the page whatever mail does, and mail is sent by its own
task, retried with backoff after a failure, given up after MAIL_MAX_ATTEMPTS, never twice."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from smtplib import SMTPException
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.db import transaction
from django.test import override_settings

from accounts.models import Role, User
from devdata.world import build_demo_world
from funds.models import Notification, OutgoingMail
from funds.services.mail import (
    OUTCOME_UNKNOWN,
    Mail,
    claim_lease,
    mail_deliver,
    mail_queue,
)
from funds.services.notifications import institution_notify
from tests.funds.helpers import FundsTestCase
from tests.funds.test_concurrency import run_at_once

T = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
SEND = "django.core.mail.backends.locmem.EmailBackend.send_messages"


def queue(*addresses: str) -> list[OutgoingMail]:
    with transaction.atomic():
        mail_queue(Mail(to=a, subject=f"To {a}", body="Body") for a in addresses)
    return list(OutgoingMail.objects.filter(to__in=addresses).order_by("id"))


@override_settings(MAIL_RETRY_BACKOFF=timedelta(minutes=1), MAIL_MAX_ATTEMPTS=3)
class OutboxTest(FundsTestCase):
    def test_a_failed_send_is_retried_after_its_backoff_and_then_sent_once(self):
        with time_machine.travel(T, tick=False) as clock:
            [row] = queue("lixiaoming@gat.sd")
            with mock.patch(SEND, side_effect=SMTPException("421 try again later")):
                result = mail_deliver()
            assert (result.sent, result.failed) == (0, 1)
            row.refresh_from_db()
            assert (row.attempts, row.sent_at, row.claimed_at, row.gave_up_at) == (
                1,
                None,
                None,
                None,
            )
            assert row.last_error == "SMTPException: 421 try again later"
            assert row.next_attempt_at == T + timedelta(minutes=1)
            # Before the next attempt is due, a run sends nothing.
            clock.shift(timedelta(seconds=59))
            assert mail_deliver().sent == 0
            assert mail.outbox == []
            clock.shift(timedelta(seconds=1))
            assert mail_deliver().sent == 1
            assert [m.to for m in mail.outbox] == [["lixiaoming@gat.sd"]]
            row.refresh_from_db()
            assert (row.attempts, row.sent_at, row.last_error) == (2, T + timedelta(minutes=1), "")
            # Sent is sent: later runs send nothing more.
            clock.shift(timedelta(hours=1))
            assert mail_deliver().sent == 0
        assert len(mail.outbox) == 1

    def test_the_backoff_doubles_and_the_mail_is_given_up_after_the_last_attempt(self):
        with (
            time_machine.travel(T, tick=False) as clock,
            mock.patch(SEND, side_effect=SMTPException("550 mailbox unavailable")),
        ):
            [row] = queue("nobody@gat.sd")
            due = []
            for _attempt in range(3):
                mail_deliver()
                row.refresh_from_db()
                due.append(row.next_attempt_at - T)
                clock.move_to(row.next_attempt_at)
            assert due == [timedelta(minutes=1), timedelta(minutes=3), timedelta(minutes=3)]
            assert (row.attempts, row.gave_up_at) == (3, T + timedelta(minutes=3))
            clock.shift(timedelta(days=1))
            assert mail_deliver().sent == 0
        row.refresh_from_db()
        assert row.attempts == 3 and row.sent_at is None

    def test_readiness_counts_mail_given_up_until_it_is_retried(self):
        [row] = queue("nobody@gat.sd")
        assert self.client.get("/healthz/ready").json()["checks"]["mail"]["given_up"] == 0
        OutgoingMail.objects.filter(pk=row.pk).update(gave_up_at=row.created_at, attempts=3)
        response = self.client.get("/healthz/ready")
        assert response.status_code == 503
        check = response.json()["checks"]["mail"]
        assert (check["ok"], check["given_up"], check["unsent"]) == (False, 1, 0)
        # The administrator retries it from the admin's list of outgoing mail.
        self.client.force_login(self.admin)
        response = self.client.post(
            "/admin/funds/outgoingmail/",
            {"action": "retry_now", "_selected_action": [row.pk]},
        )
        assert response.status_code == 302
        row.refresh_from_db()
        assert (row.gave_up_at, row.attempts) == (None, 0)
        assert mail_deliver().sent == 1
        assert self.client.get("/healthz/ready").json()["checks"]["mail"]["given_up"] == 0

    def test_the_admin_lists_the_outbox_read_only(self):
        [row] = queue("lixiaoming@gat.sd")
        self.client.force_login(self.admin)
        assert "lixiaoming@gat.sd" in self.client.get("/admin/funds/outgoingmail/").content.decode()
        page = self.client.get(f"/admin/funds/outgoingmail/{row.pk}/change/")
        assert page.status_code == 200
        assert 'name="subject"' not in page.content.decode()
        assert self.client.get("/admin/funds/outgoingmail/add/").status_code == 403
        response = self.client.post(f"/admin/funds/outgoingmail/{row.pk}/delete/", {"post": "yes"})
        assert response.status_code == 403
        assert OutgoingMail.objects.filter(pk=row.pk).exists()

    def test_a_claim_left_without_an_outcome_is_given_up_not_sent_again(self):
        with time_machine.travel(T, tick=False) as clock:
            [lost, _fresh] = queue("lost@gat.sd", "fresh@gat.sd")
            # A worker claimed the first and died mid-send: the server may have taken it.
            OutgoingMail.objects.filter(pk=lost.pk).update(claimed_at=T)
            clock.shift(claim_lease())
            result = mail_deliver()
            assert (result.sent, result.outcome_unknown) == (1, 0)  # the lease is not over
            assert [m.to for m in mail.outbox] == [["fresh@gat.sd"]]
            clock.shift(timedelta(seconds=1))
            result = mail_deliver()
            assert (result.sent, result.outcome_unknown) == (0, 1)
        lost.refresh_from_db()
        assert (lost.sent_at, lost.gave_up_at, lost.last_error) == (
            None,
            T + claim_lease() + timedelta(seconds=1),
            OUTCOME_UNKNOWN,
        )
        assert len(mail.outbox) == 1

    def test_a_liaison_without_an_address_still_gets_the_notice_of_a_new_instruction(self):
        quiet = User.objects.create_user(
            "liaison_icbc_quiet", role=Role.LIAISON, organization=self.icbc, email=""
        )
        self.liaison_icbc.email = "icbc@example.test"
        self.liaison_icbc.save(update_fields=["email"])
        case = self.report()
        account = self.add_account(case["id"])
        stop = self.ask(
            case["id"], {"kind": "stop_payment", "account": account["id"], "amount": "5000.00"}
        )
        assert institution_notify(instruction_id=stop["id"]) is True
        assert institution_notify(instruction_id=stop["id"]) is False
        notes = Notification.objects.filter(instruction_id=stop["id"]).order_by("recipient_id")
        liaisons = User.objects.filter(role=Role.LIAISON, organization=self.icbc, is_active=True)
        assert sorted(n.recipient_id for n in notes) == sorted(u.pk for u in liaisons)
        assert quiet.pk in [n.recipient_id for n in notes]
        assert {n.reason for n in notes} == {"new_instruction"}
        assert {n.url for n in notes} == {"/inbox/"}
        assert all("6222020000000001" in n.headline for n in notes)
        # Mail only where there is an address; the page has them all.
        assert list(OutgoingMail.objects.values_list("to", flat=True)) == ["icbc@example.test"]
        assert mail_deliver().sent == 1
        assert [m.to for m in mail.outbox] == [["icbc@example.test"]]
        assert Notification.objects.get(
            instruction_id=stop["id"], recipient=self.liaison_icbc
        ).mailed_at
        assert (
            Notification.objects.get(instruction_id=stop["id"], recipient=quiet).mailed_at is None
        )
        listed = self.ok(self.api(quiet).get("/api/v1/notifications/"))
        [row] = listed["results"]
        assert (row["reason"], row["instruction"], row["flag"], row["report"], row["url"]) == (
            "new_instruction",
            stop["id"],
            None,
            None,
            "/inbox/",
        )
        assert row["case_number"] == case["number"]


# -- two runs at once ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_run_never_sends_what_another_run_has_claimed(mailoutbox):
    build_demo_world()
    queue("a@gat.sd", "b@gat.sd", "c@gat.sd")
    first_sending = threading.Event()
    second_done = threading.Event()
    real_send = mail.backends.locmem.EmailBackend.send_messages

    def send(backend, messages):
        if threading.current_thread().name == "first" and not first_sending.is_set():
            first_sending.set()
            assert second_done.wait(timeout=60)
        return real_send(backend, messages)

    results = {}

    def run(name: str) -> None:
        try:
            results[name] = mail_deliver()
        finally:
            from django.db import connection

            connection.close()

    with mock.patch(SEND, send):
        first = threading.Thread(target=run, args=("first",), name="first")
        first.start()
        assert first_sending.wait(timeout=60)
        # The first run has claimed all three (committed) and is stuck on the first send.
        second = threading.Thread(target=run, args=("second",), name="second")
        second.start()
        second.join(timeout=60)
        second_done.set()
        first.join(timeout=60)
    assert not first.is_alive() and not second.is_alive()
    assert (results["first"].sent, results["second"].sent) == (3, 0)
    assert sorted(m.to[0] for m in mailoutbox) == ["a@gat.sd", "b@gat.sd", "c@gat.sd"]


@pytest.mark.parametrize("attempt", [1, 2], ids=lambda n: f"race-{n}")
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_send_each_mail_exactly_once(attempt, mailoutbox):
    build_demo_world()
    addresses = [f"officer{n}@gat.sd" for n in range(60)]
    queue(*addresses)
    results = run_at_once(lambda: mail_deliver(batch=7), lambda: mail_deliver(batch=7))
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sum(r.sent for r in results) == 60
    assert sorted(m.to[0] for m in mailoutbox) == sorted(addresses)
    assert OutgoingMail.objects.filter(sent_at__isnull=False, attempts=1).count() == 60
    # And again: nothing is left to send.
    assert mail_deliver().sent == 0
    assert len(mailoutbox) == 60
