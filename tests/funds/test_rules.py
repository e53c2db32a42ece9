"""Every business rule of DOMAIN.md and API.md, refused when broken: the answer's status and
message, and nothing changed in the database (no instruction, no event, no amount, no stage)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import time_machine
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import Role, User
from funds.durations import add_months
from funds.models import (
    Case,
    EndReason,
    Event,
    Instruction,
    InstructionKind,
    InstructionStatus,
    InvolvedAccount,
    Transfer,
    Victim,
)
from tests.funds.helpers import FundsTestCase

SHANGHAI = ZoneInfo("Asia/Shanghai")


def moment(text: str) -> datetime:
    """An API time (ISO 8601 with offset) as an aware datetime."""
    return datetime.fromisoformat(text)


class RulesTestCase(FundsTestCase):
    """Shortcuts for asking, answering and checking that a refusal changed nothing."""

    # -- the state a refusal must leave alone --------------------------------------------

    @staticmethod
    def snapshot() -> dict[str, Any]:
        return {
            "cases": list(Case.objects.order_by("pk").values()),
            "victims": list(Victim.objects.order_by("pk").values()),
            "involved_account": list(InvolvedAccount.objects.order_by("pk").values()),
            "transfers": list(Transfer.objects.order_by("pk").values()),
            "instructions": list(Instruction.objects.order_by("pk").values()),
            "instruction_count": Instruction.objects.count(),
            "events": list(Event.objects.order_by("pk").values()),
            "event_count": Event.objects.count(),
        }

    @contextmanager
    def nothing_changes(self) -> Iterator[None]:
        before = self.snapshot()
        yield
        after = self.snapshot()
        assert after["instruction_count"] == before["instruction_count"]
        assert after["event_count"] == before["event_count"]
        for table in before:
            assert after[table] == before[table], f"{table} changed"

    def refused(self, response: Any, status: int, field: str | None = None) -> str:
        """Check the error's shape (API.md, "Conventions") and answer its message."""
        assert response.status_code == status, (response.status_code, response.content.decode())
        body = response.json()
        if status == 400:
            assert field is not None
            assert field in body, body
            assert isinstance(body[field], list), body
            message = body[field][0]
        else:
            assert field is None
            if status == 409:
                assert body["code"] == "invalid_state", body
            message = body["detail"]
        assert isinstance(message, str) and message.strip(), body
        return message

    def refuses(
        self,
        user: User,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        status: int,
        field: str | None = None,
    ) -> str:
        """POST ``body`` to ``path`` as ``user``; check the refusal and that nothing changed."""
        client = self.api(user)
        with self.nothing_changes():
            response = client.post(path, body or {}, format="json")
        return self.refused(response, status, field)

    # -- shortcuts ----------------------------------------------------------------------

    def instructions_path(self, case_id: int) -> str:
        return f"/api/v1/cases/{case_id}/instructions/"

    def stop(self, case_id: int, account_id: int, amount: str = "5000.00", user=None):
        return self.ask(
            case_id,
            {"kind": "stop_payment", "account": account_id, "amount": amount},
            user=user,
        )

    def freeze(self, case_id: int, account_id: int, amount: str = "8000.00", user=None, **extra):
        return self.ask(
            case_id,
            {
                "kind": "freeze",
                "account": account_id,
                "amount": amount,
                **extra,
            },
            user=user,
        )

    def reject(self, instruction_id: int, user=None, status: int = 200) -> dict[str, Any]:
        return self.post(
            user or self.liaison_icbc,
            f"/api/v1/instructions/{instruction_id}/reject/",
            {"reason": "户名与账号不符"},
            status,
        )

    def cancel(self, instruction_id: int, user=None, status: int = 200) -> dict[str, Any]:
        return self.post(
            user or self.officer_lx, f"/api/v1/instructions/{instruction_id}/cancel/", {}, status
        )

    def instruction(self, instruction_id: int) -> dict[str, Any]:
        return self.ok(self.api(self.officer_lx).get(f"/api/v1/instructions/{instruction_id}/"))

    @staticmethod
    def involved_account(account: dict[str, Any]) -> InvolvedAccount:
        return InvolvedAccount.objects.get(pk=account["id"])

    def make_manager(self, username: str, unit_code: str) -> User:
        return User.objects.create_user(
            username,
            password="manager-pass-2026",
            role=Role.MANAGER,
            organization=self.orgs[unit_code],
        )


class StopPaymentRulesTest(RulesTestCase):
    def test_a_stop_payment_needs_no_approval_and_is_due_within_thirty_minutes(self):
        case = self.report()
        account = self.add_account(case["id"])
        stop = self.stop(case["id"], account["id"])
        assert stop["status"] == "pending"
        assert stop["approved_by"] is None
        assert moment(stop["response_due_at"]) - moment(stop["requested_at"]) == timedelta(
            minutes=30
        )
        assert self.involved_account(account).stage == "stop_requested"

    def test_a_stop_payment_cannot_be_sent_for_approval(self):
        case = self.report()
        account = self.add_account(case["id"])
        stop = self.stop(case["id"], account["id"])
        self.refuses(self.manager_lx, f"/api/v1/instructions/{stop['id']}/approve/", status=409)
        assert Instruction.objects.get(pk=stop["id"]).approved_by is None

    def test_it_rejects_a_third_stop_payment(self):
        case = self.report()
        account = self.add_account(case["id"])
        first = self.stop(case["id"], account["id"])
        self.execute(first["id"], "3000.00")
        second = self.stop(case["id"], account["id"])
        self.execute(second["id"], "1000.00")
        involved_account = self.involved_account(account)
        assert involved_account.stopped_amount == Decimal("4000.00")

        message = self.refuses(
            self.officer_lx,
            self.instructions_path(case["id"]),
            {"kind": "stop_payment", "account": account["id"], "amount": "5000.00"},
            status=409,
        )
        assert "R3" in message
        involved_account.refresh_from_db()
        assert involved_account.stage == "stopped"
        assert involved_account.stopped_amount == Decimal("4000.00")
        assert Instruction.objects.filter(involved_account=involved_account).count() == 2

    def test_a_stop_payment_that_lapsed_still_counts_towards_the_limit_of_two(self):
        start = timezone.now()
        with time_machine.travel(start, tick=False) as clock:
            case = self.report()
            account = self.add_account(case["id"])
            for _ in range(2):
                stop = self.stop(case["id"], account["id"])
                self.execute(stop["id"], "3000.00")
            clock.shift(timedelta(hours=49))  # both lapsed (R2)
            message = self.refuses(
                self.officer_lx,
                self.instructions_path(case["id"]),
                {"kind": "stop_payment", "account": account["id"], "amount": "5000.00"},
                status=409,
            )
            assert "R3" in message

    def test_cancelled_and_rejected_stop_payments_do_not_count_towards_the_limit(self):
        case = self.report()
        account = self.add_account(case["id"])
        cancelled = self.stop(case["id"], account["id"])
        self.cancel(cancelled["id"])
        rejected = self.stop(case["id"], account["id"])
        self.reject(rejected["id"])
        first = self.stop(case["id"], account["id"])
        self.execute(first["id"], "1000.00")
        second = self.stop(case["id"], account["id"])
        assert second["status"] == "pending"
        self.execute(second["id"], "1000.00")
        self.refuses(
            self.officer_lx,
            self.instructions_path(case["id"]),
            {"kind": "stop_payment", "account": account["id"], "amount": "5000.00"},
            status=409,
        )
        assert self.involved_account(account).stopped_amount == Decimal("2000.00")

    def test_the_limit_counts_per_account(self):
        case = self.report()
        first_account = self.add_account(case["id"])
        other_account = self.add_account(case["id"], number="6222020000000002")
        for _ in range(2):
            stop = self.stop(case["id"], first_account["id"])
            self.execute(stop["id"], "1000.00")
        stop = self.stop(case["id"], other_account["id"])
        assert stop["status"] == "pending"

    def test_it_rejects_a_second_open_stop_payment_on_the_same_account(self):
        case = self.report()
        account = self.add_account(case["id"])
        open_stop = self.stop(case["id"], account["id"])
        self.refuses(
            self.officer_lx,
            self.instructions_path(case["id"]),
            {"kind": "stop_payment", "account": account["id"], "amount": "1000.00"},
            status=409,
        )
        assert Instruction.objects.get(pk=open_stop["id"]).status == "pending"
        assert self.involved_account(account).stage == "stop_requested"

    def test_it_rejects_a_stop_payment_while_a_freeze_is_in_force(self):
        case, account, _freeze = self.frozen_account("8000.00")
        involved_account = self.involved_account(account)
        assert involved_account.stage == "frozen"
        self.refuses(
            self.officer_lx,
            self.instructions_path(case["id"]),
            {"kind": "stop_payment", "account": account["id"], "amount": "1000.00"},
            status=409,
        )
        involved_account.refresh_from_db()
        assert involved_account.stage == "frozen"
        assert involved_account.frozen_amount == Decimal("8000.00")
        assert involved_account.stopped_amount == Decimal("0.00")


class FreezeRulesTest(RulesTestCase):
    def freeze_body(self, account_id: int, **changes: Any) -> dict[str, Any]:
        body = {
            "kind": "freeze",
            "account": account_id,
            "amount": "8000.00",
        }
        body.update(changes)
        return {k: v for k, v in body.items() if v is not None}

    def test_it_rejects_a_freeze_before_the_case_is_filed(self):
        case = self.report()
        account = self.add_account(case["id"])
        message = self.refuses(
            self.officer_lx,
            self.instructions_path(case["id"]),
            self.freeze_body(account["id"]),
            status=409,
        )
        assert "R4" in message
        self.post(self.officer_lx, f"/api/v1/cases/{case['id']}/accept/")
        message = self.refuses(
            self.officer_lx,
            self.instructions_path(case["id"]),
            self.freeze_body(account["id"]),
            status=409,
        )
        assert "R4" in message
        assert self.involved_account(account).stage == "identified"

    def test_a_freeze_asked_without_a_number_takes_the_units_next_at_approval(self):
        # R4: the bank acts on a numbered instrument; casetracker issues it on approval.
        case = self.filed_case()
        account = self.add_account(case["id"])
        for number in (None, "", "   "):
            freeze = self.ask(case["id"], self.freeze_body(account["id"], instrument_number=number))
            assert freeze["instrument_number"] == ""
            assert freeze["document_sha256"] is None
            self.cancel(freeze["id"])
        freeze = self.ask(case["id"], self.freeze_body(account["id"]))
        approved = self.approve(freeze["id"])
        year = timezone.localtime().year
        assert approved["instrument_number"] == f"济历公(刑)冻财字〔{year}〕00001号"
        assert approved["issuing_unit"] == "370102"
        assert approved["instrument_source"] == "issued"

    def test_a_freeze_term_is_one_to_six_months(self):
        case = self.filed_case()
        account = self.add_account(case["id"])
        for term in (0, -1, 7, 12):
            self.refuses(
                self.officer_lx,
                self.instructions_path(case["id"]),
                self.freeze_body(account["id"], term_months=term),
                status=400,
                field="term_months",
            )
        for term in (1, 6):
            freeze = self.freeze(case["id"], account["id"], term_months=term)
            assert freeze["term_months"] == term
            self.cancel(freeze["id"])

    def test_a_freeze_term_is_six_months_by_default_and_runs_from_execution(self):
        start = datetime(2026, 3, 31, 9, 30, tzinfo=SHANGHAI)
        with time_machine.travel(start, tick=False) as clock:
            case = self.filed_case()
            account = self.add_account(case["id"])
            freeze = self.freeze(case["id"], account["id"])
            assert freeze["term_months"] == 6
            assert freeze["status"] == "awaiting_approval"
            assert freeze["effective_until"] is None
            self.approve(freeze["id"])
            clock.shift(timedelta(hours=2))
            freeze = self.execute(freeze["id"], "8000.00")
            executed_at = timezone.now()
        assert moment(freeze["effective_until"]) == add_months(executed_at, 6)
        assert moment(freeze["effective_until"]) == datetime(2026, 9, 30, 11, 30, tzinfo=SHANGHAI)

    def test_a_freeze_waits_for_a_county_manager_or_above(self):
        case = self.filed_case(self.officer_station)
        account = self.add_account(case["id"], user=self.officer_station)
        freeze = self.freeze(case["id"], account["id"], user=self.officer_station)
        assert freeze["status"] == "awaiting_approval"
        manager_station = self.make_manager("manager_station", "370102001")
        path = f"/api/v1/instructions/{freeze['id']}/approve/"
        self.refuses(manager_station, path, status=403)
        self.refuses(self.officer_station, path, status=403)
        self.refuses(self.liaison_icbc, path, status=403)
        self.refuses(self.auditor_sd, path, status=403)
        stored = Instruction.objects.get(pk=freeze["id"])
        assert stored.status == "awaiting_approval"
        assert stored.approved_by is None

        approved = self.approve(freeze["id"], self.manager_lx)
        assert approved["status"] == "pending"
        assert approved["approved_by"] == "manager_lx"

    def test_a_manager_outside_the_case_scope_cannot_find_the_freeze(self):
        case = self.filed_case()
        account = self.add_account(case["id"])
        freeze = self.freeze(case["id"], account["id"])
        manager_shinan = self.make_manager("manager_shinan", "370202")
        self.refuses(manager_shinan, f"/api/v1/instructions/{freeze['id']}/approve/", status=404)

    def test_an_approved_freeze_cannot_be_approved_again(self):
        case = self.filed_case()
        account = self.add_account(case["id"])
        freeze = self.freeze(case["id"], account["id"])
        self.approve(freeze["id"], self.manager_lx)
        self.refuses(self.manager_jn, f"/api/v1/instructions/{freeze['id']}/approve/", status=409)
        assert Instruction.objects.get(pk=freeze["id"]).approved_by == self.manager_lx

    def test_it_rejects_a_second_open_freeze_on_the_same_account(self):
        case = self.filed_case()
        account = self.add_account(case["id"])
        self.freeze(case["id"], account["id"])
        self.refuses(
            self.officer_lx,
            self.instructions_path(case["id"]),
            self.freeze_body(account["id"]),
            status=409,
        )

    def test_executing_a_freeze_supersedes_the_stop_payment(self):
        start = timezone.now()
        with time_machine.travel(start, tick=False) as clock:
            case = self.filed_case()
            account = self.add_account(case["id"])
            stop = self.stop(case["id"], account["id"], "8000.00")
            self.execute(stop["id"], "6000.00")
            assert self.involved_account(account).stage == "stopped"
            freeze = self.freeze(case["id"], account["id"], "6000.00")
            self.approve(freeze["id"])
            clock.shift(timedelta(hours=3))
            self.execute(freeze["id"], "6000.00")
            superseded_at = timezone.now()

        stored_stop = Instruction.objects.get(pk=stop["id"])
        assert stored_stop.ended_at == superseded_at
        assert stored_stop.end_reason == EndReason.SUPERSEDED
        assert stored_stop.status == InstructionStatus.EXECUTED
        involved_account = self.involved_account(account)
        assert involved_account.stage == "frozen"
        assert involved_account.stopped_amount == Decimal("6000.00")
        assert involved_account.frozen_amount == Decimal("6000.00")
        shown = self.instruction(stop["id"])
        assert shown["end_reason"] == "superseded"
        executed = Event.objects.get(instruction_id=freeze["id"], type="instruction_executed")
        assert executed.data["superseded_stops"] == [stop["id"]]

    def test_a_freeze_on_funds_frozen_by_another_case_is_queued(self):
        first_case, _account, _freeze = self.frozen_account("8000.00")
        other_case = self.filed_case(self.officer_sn)
        other_account = self.add_account(other_case["id"], user=self.officer_sn)
        assert other_account["other_cases"] == [first_case["number"]]
        queued = self.freeze(other_case["id"], other_account["id"], user=self.officer_sn)
        assert queued["queued"] is True
        assert Instruction.objects.get(pk=queued["id"]).queued is True
        requested = Event.objects.get(instruction_id=queued["id"], type="instruction_requested")
        assert requested.data["queued"] is True

    def test_a_freeze_is_not_queued_behind_a_stop_payment_of_another_case(self):
        first_case = self.filed_case()
        first_account = self.add_account(first_case["id"])
        stop = self.stop(first_case["id"], first_account["id"])
        self.execute(stop["id"], "5000.00")
        other_case = self.filed_case(self.officer_sn)
        other_account = self.add_account(other_case["id"], user=self.officer_sn)
        freeze = self.freeze(other_case["id"], other_account["id"], user=self.officer_sn)
        assert freeze["queued"] is False

    def test_a_freeze_is_not_queued_behind_a_freeze_that_has_expired(self):
        start = timezone.now()
        with time_machine.travel(start, tick=False) as clock:
            self.frozen_account("8000.00")
            clock.shift(timedelta(days=200))  # past the six months (R5)
            other_case = self.filed_case(self.officer_sn)
            other_account = self.add_account(other_case["id"], user=self.officer_sn)
            freeze = self.freeze(other_case["id"], other_account["id"], user=self.officer_sn)
        assert freeze["queued"] is False


class RenewalRulesTest(RulesTestCase):
    def renewal_body(self, freeze_id: int, **changes: Any) -> dict[str, Any]:
        body = {
            "kind": "renewal",
            "freeze": freeze_id,
            "term_months": 3,
        }
        body.update(changes)
        return {k: v for k, v in body.items() if v is not None}

    def test_a_renewal_extends_the_expiry_by_its_term_from_the_current_expiry(self):
        start = datetime(2026, 8, 31, 10, 0, tzinfo=SHANGHAI)
        with time_machine.travel(start, tick=False) as clock:
            case, account, freeze = self.frozen_account("8000.00")
            expiry = moment(freeze["effective_until"])
            assert expiry == add_months(start, 6) == datetime(2027, 2, 28, 10, 0, tzinfo=SHANGHAI)
            clock.move_to(datetime(2027, 2, 10, 9, 0, tzinfo=SHANGHAI))
            renewal = self.ask(case["id"], self.renewal_body(freeze["id"]))
            assert renewal["status"] == "awaiting_approval"
            assert renewal["requested_amount"] == "8000.00"
            self.approve(renewal["id"], self.manager_lx)
            renewal = self.execute(renewal["id"], "8000.00")

        extended = add_months(expiry, 3)
        assert extended == datetime(2027, 5, 28, 10, 0, tzinfo=SHANGHAI)
        # From the current expiry, not from the original start nor from the renewal's day.
        assert extended != add_months(start, 9)
        stored = Instruction.objects.get(pk=freeze["id"])
        assert stored.effective_until == extended
        assert moment(renewal["effective_until"]) == extended
        assert moment(self.instruction(freeze["id"])["effective_until"]) == extended
        assert self.involved_account(account).stage == "frozen"

    def test_it_rejects_a_renewal_once_the_freeze_has_expired(self):
        start = timezone.now()
        with time_machine.travel(start, tick=False) as clock:
            case, _account, freeze = self.frozen_account("8000.00")
            clock.move_to(moment(freeze["effective_until"]) + timedelta(seconds=1))
            self.refuses(
                self.officer_lx,
                self.instructions_path(case["id"]),
                self.renewal_body(freeze["id"]),
                status=409,
            )
        stored = Instruction.objects.get(pk=freeze["id"])
        assert stored.effective_until == moment(freeze["effective_until"])

    def test_it_rejects_a_renewal_of_a_freeze_that_found_nothing(self):
        case = self.filed_case()
        account = self.add_account(case["id"])
        freeze = self.freeze(case["id"], account["id"])
        self.approve(freeze["id"])
        self.execute(freeze["id"], "0.00")
        self.refuses(
            self.officer_lx,
            self.instructions_path(case["id"]),
            self.renewal_body(freeze["id"]),
            status=409,
        )

    def test_it_refuses_to_execute_a_renewal_once_the_freeze_has_expired(self):
        start = timezone.now()
        with time_machine.travel(start, tick=False) as clock:
            case, _account, freeze = self.frozen_account("8000.00")
            clock.move_to(moment(freeze["effective_until"]) - timedelta(days=12))
            renewal = self.ask(case["id"], self.renewal_body(freeze["id"]))
            self.approve(renewal["id"])
            clock.move_to(moment(freeze["effective_until"]) + timedelta(minutes=1))
            self.refuses(
                self.liaison_icbc,
                f"/api/v1/instructions/{renewal['id']}/execute/",
                {"executed_amount": "8000.00", "bank_reference": "ICBC-R-1"},
                status=409,
            )
        stored = Instruction.objects.get(pk=renewal["id"])
        assert stored.status == InstructionStatus.PENDING
        assert stored.executed_amount is None

    def test_a_renewal_cannot_cover_more_than_the_freeze_holds(self):
        case, _account, freeze = self.frozen_account("8000.00")
        self.refuses(
            self.officer_lx,
            self.instructions_path(case["id"]),
            self.renewal_body(freeze["id"], amount="8000.01"),
            status=400,
            field="amount",
        )

    def test_a_renewal_has_a_term_of_one_to_six_months(self):
        case, _account, freeze = self.frozen_account("8000.00")
        for term in (0, 7):
            self.refuses(
                self.officer_lx,
                self.instructions_path(case["id"]),
                self.renewal_body(freeze["id"], term_months=term),
                status=400,
                field="term_months",
            )

    def test_only_one_renewal_of_a_freeze_may_be_open(self):
        case, _account, freeze = self.frozen_account("8000.00")
        self.ask(case["id"], self.renewal_body(freeze["id"]))
        self.refuses(
            self.officer_lx,
            self.instructions_path(case["id"]),
            self.renewal_body(freeze["id"]),
            status=409,
        )

    def test_a_renewal_is_approved_by_a_county_manager_or_above(self):
        case = self.filed_case(self.officer_station)
        account = self.add_account(case["id"], user=self.officer_station)
        freeze = self.freeze(case["id"], account["id"], user=self.officer_station)
        self.approve(freeze["id"], self.manager_lx)
        self.execute(freeze["id"], "8000.00")
        renewal = self.ask(case["id"], self.renewal_body(freeze["id"]), user=self.officer_station)
        manager_station = self.make_manager("manager_station", "370102001")
        self.refuses(manager_station, f"/api/v1/instructions/{renewal['id']}/approve/", status=403)
        assert self.approve(renewal["id"], self.manager_lx)["status"] == "pending"


class ReleaseAndReturnRulesTest(RulesTestCase):
    def release_body(self, freeze_id: int, amount: str, reason: str | None = "资金与案件无关"):
        body = {"kind": "release", "freeze": freeze_id, "amount": amount, "reason": reason}
        return {k: v for k, v in body.items() if v is not None}

    def return_body(self, freeze_id: int, victim_id: int, amount: str) -> dict[str, Any]:
        return {"kind": "return", "freeze": freeze_id, "victim": victim_id, "amount": amount}

    def test_a_release_needs_a_reason(self):
        case, _account, freeze = self.frozen_account("8000.00")
        for reason in (None, "", "  "):
            self.refuses(
                self.officer_lx,
                self.instructions_path(case["id"]),
                self.release_body(freeze["id"], "1000.00", reason),
                status=400,
                field="reason",
            )

    def test_a_release_cannot_exceed_what_the_freeze_holds(self):
        case = self.filed_case()
        account = self.add_account(case["id"])
        freeze = self.freeze(case["id"], account["id"], "8000.00")
        self.approve(freeze["id"])
        freeze = self.execute(freeze["id"], "5000.00")  # the balance found
        message = self.refuses(
            self.officer_lx,
            self.instructions_path(case["id"]),
            self.release_body(freeze["id"], "5000.01"),
            status=400,
            field="amount",
        )
        assert "5000.00" in message
        involved_account = self.involved_account(account)
        assert involved_account.frozen_amount == Decimal("5000.00")
        assert involved_account.released_amount == Decimal("0.00")
        release = self.ask(case["id"], self.release_body(freeze["id"], "5000.00"))
        assert release["status"] == "awaiting_approval"

    def test_it_rejects_a_release_once_the_freeze_has_expired(self):
        start = timezone.now()
        with time_machine.travel(start, tick=False) as clock:
            case, _account, freeze = self.frozen_account("8000.00")
            clock.move_to(moment(freeze["effective_until"]) + timedelta(hours=1))
            self.refuses(
                self.officer_lx,
                self.instructions_path(case["id"]),
                self.release_body(freeze["id"], "1000.00"),
                status=409,
            )

    def test_it_refuses_to_execute_a_release_once_the_freeze_has_expired(self):
        start = timezone.now()
        with time_machine.travel(start, tick=False) as clock:
            case, account, freeze = self.frozen_account("8000.00")
            release = self.ask(case["id"], self.release_body(freeze["id"], "1000.00"))
            self.approve(release["id"])
            clock.move_to(moment(freeze["effective_until"]) + timedelta(hours=1))
            self.refuses(
                self.liaison_icbc,
                f"/api/v1/instructions/{release['id']}/execute/",
                {"executed_amount": "1000.00", "bank_reference": "ICBC-REL-1"},
                status=409,
            )
        involved_account = self.involved_account(account)
        assert involved_account.released_amount == Decimal("0.00")
        assert Instruction.objects.get(pk=freeze["id"]).released_amount == Decimal("0.00")

    def test_a_return_cannot_exceed_what_is_held_less_open_releases_and_returns(self):
        case, account, freeze = self.frozen_account("8000.00")
        victim_a = self.add_victim(case["id"], "6000.00", "张三")
        victim_b = self.add_victim(case["id"], "4000.00", "李四")
        self.ask(case["id"], self.return_body(freeze["id"], victim_a["id"], "5000.00"))
        release = self.ask(case["id"], self.release_body(freeze["id"], "2000.00"))
        message = self.refuses(
            self.officer_lx,
            self.instructions_path(case["id"]),
            self.return_body(freeze["id"], victim_b["id"], "1000.01"),
            status=400,
            field="amount",
        )
        assert "1000.00" in message
        self.refuses(
            self.officer_lx,
            self.instructions_path(case["id"]),
            self.release_body(freeze["id"], "1000.01"),
            status=400,
            field="amount",
        )
        involved_account = self.involved_account(account)
        assert (
            involved_account.frozen_amount,
            involved_account.released_amount,
            involved_account.returned_amount,
        ) == (
            Decimal("8000.00"),
            Decimal("0.00"),
            Decimal("0.00"),
        )
        # Exactly what is left may be asked for; a cancelled ask frees its amount again.
        self.ask(case["id"], self.return_body(freeze["id"], victim_b["id"], "1000.00"))
        self.refuses(
            self.officer_lx,
            self.instructions_path(case["id"]),
            self.return_body(freeze["id"], victim_b["id"], "0.01"),
            status=400,
            field="amount",
        )
        self.cancel(release["id"])
        self.ask(case["id"], self.return_body(freeze["id"], victim_b["id"], "2000.00"))

    def test_a_return_cannot_exceed_what_is_left_after_executed_returns(self):
        case, account, freeze = self.frozen_account("8000.00")
        victim = self.add_victim(case["id"], "10000.00")
        ret = self.ask(case["id"], self.return_body(freeze["id"], victim["id"], "6000.00"))
        self.approve(ret["id"], self.manager_jn)
        self.execute(ret["id"], "6000.00")
        self.refuses(
            self.officer_lx,
            self.instructions_path(case["id"]),
            self.return_body(freeze["id"], victim["id"], "2000.01"),
            status=400,
            field="amount",
        )
        involved_account = self.involved_account(account)
        assert involved_account.returned_amount == Decimal("6000.00")
        assert involved_account.held_amount == Decimal("2000.00")

    def test_a_return_victim_must_belong_to_the_case(self):
        case, _account, freeze = self.frozen_account("8000.00")
        other_case = self.report()
        stranger = self.add_victim(other_case["id"], "5000.00", "王五")
        for victim_id in (stranger["id"], 999999):
            self.refuses(
                self.officer_lx,
                self.instructions_path(case["id"]),
                self.return_body(freeze["id"], victim_id, "1000.00"),
                status=400,
                field="victim",
            )

    def test_a_follow_up_names_a_freeze_of_the_same_case(self):
        case, _account, _freeze = self.frozen_account("8000.00")
        _other_case, _other_account, other_freeze = self.frozen_account("3000.00")
        self.refuses(
            self.officer_lx,
            self.instructions_path(case["id"]),
            self.release_body(other_freeze["id"], "1000.00"),
            status=400,
            field="freeze",
        )

    def test_a_return_is_approved_at_city_level_or_above_but_not_by_a_county_manager(self):
        case, _account, freeze = self.frozen_account("8000.00")
        victim = self.add_victim(case["id"], "10000.00")
        ret = self.ask(case["id"], self.return_body(freeze["id"], victim["id"], "1000.00"))
        path = f"/api/v1/instructions/{ret['id']}/approve/"
        self.refuses(self.manager_lx, path, status=403)
        stored = Instruction.objects.get(pk=ret["id"])
        assert stored.status == InstructionStatus.AWAITING_APPROVAL
        assert stored.approved_by is None
        assert self.approve(ret["id"], self.manager_jn)["approved_by"] == "manager_jn"

    def test_a_province_manager_may_approve_a_return(self):
        case, _account, freeze = self.frozen_account("8000.00")
        victim = self.add_victim(case["id"], "10000.00")
        ret = self.ask(case["id"], self.return_body(freeze["id"], victim["id"], "1000.00"))
        assert self.approve(ret["id"], self.manager_sd)["status"] == "pending"

    def test_a_release_is_approved_by_a_county_manager(self):
        case, _account, freeze = self.frozen_account("8000.00")
        release = self.ask(case["id"], self.release_body(freeze["id"], "1000.00"))
        assert release["status"] == "awaiting_approval"
        assert self.approve(release["id"], self.manager_lx)["status"] == "pending"


class ExecutionRulesTest(RulesTestCase):
    def execute_path(self, instruction_id: int) -> str:
        return f"/api/v1/instructions/{instruction_id}/execute/"

    def test_a_liaison_cannot_execute_more_than_was_requested(self):
        case = self.report()
        account = self.add_account(case["id"])
        stop = self.stop(case["id"], account["id"], "5000.00")
        message = self.refuses(
            self.liaison_icbc,
            self.execute_path(stop["id"]),
            {"executed_amount": "5000.01", "bank_reference": "ICBC-1"},
            status=400,
            field="executed_amount",
        )
        assert "5000.00" in message
        stored = Instruction.objects.get(pk=stop["id"])
        assert stored.status == InstructionStatus.PENDING
        assert stored.executed_amount is None
        involved_account = self.involved_account(account)
        assert involved_account.stage == "stop_requested"
        assert involved_account.stopped_amount == Decimal("0.00")

    def test_a_liaison_may_execute_exactly_what_was_requested(self):
        case = self.report()
        account = self.add_account(case["id"])
        stop = self.stop(case["id"], account["id"], "5000.00")
        assert self.execute(stop["id"], "5000.00")["executed_amount"] == "5000.00"

    def test_an_executed_amount_cannot_be_negative(self):
        case = self.report()
        account = self.add_account(case["id"])
        stop = self.stop(case["id"], account["id"])
        self.refuses(
            self.liaison_icbc,
            self.execute_path(stop["id"]),
            {"executed_amount": "-0.01", "bank_reference": "ICBC-1"},
            status=400,
            field="executed_amount",
        )

    def test_an_execution_needs_the_bank_reference(self):
        case = self.report()
        account = self.add_account(case["id"])
        stop = self.stop(case["id"], account["id"])
        for body in (
            {"executed_amount": "100.00"},
            {"executed_amount": "100.00", "bank_reference": ""},
            {"executed_amount": "100.00", "bank_reference": "   "},
        ):
            self.refuses(
                self.liaison_icbc,
                self.execute_path(stop["id"]),
                body,
                status=400,
                field="bank_reference",
            )

    def test_a_stop_payment_that_found_nothing_leaves_the_account_stop_failed(self):
        case = self.report()
        account = self.add_account(case["id"])
        stop = self.stop(case["id"], account["id"])
        stop = self.execute(stop["id"], "0.00")
        assert stop["status"] == "executed"
        assert stop["executed_amount"] == "0.00"
        involved_account = self.involved_account(account)
        assert involved_account.stage == "stop_failed"
        assert involved_account.stopped_amount == Decimal("0.00")

    def test_a_freeze_that_found_nothing_leaves_the_account_freeze_failed(self):
        case = self.filed_case()
        account = self.add_account(case["id"])
        freeze = self.freeze(case["id"], account["id"])
        self.approve(freeze["id"])
        freeze = self.execute(freeze["id"], "0.00")
        assert freeze["executed_amount"] == "0.00"
        involved_account = self.involved_account(account)
        assert involved_account.stage == "freeze_failed"
        assert involved_account.frozen_amount == Decimal("0.00")

    def test_an_executed_instruction_cannot_be_executed_or_rejected_again(self):
        case = self.report()
        account = self.add_account(case["id"])
        stop = self.stop(case["id"], account["id"], "5000.00")
        self.execute(stop["id"], "3000.00")
        for body in (
            {"executed_amount": "3000.00", "bank_reference": "REF-again"},
            {"executed_amount": "1000.00", "bank_reference": "REF-other"},
        ):
            self.refuses(self.liaison_icbc, self.execute_path(stop["id"]), body, status=409)
        self.refuses(
            self.liaison_icbc,
            f"/api/v1/instructions/{stop['id']}/reject/",
            {"reason": "户名不符"},
            status=409,
        )
        stored = Instruction.objects.get(pk=stop["id"])
        assert stored.executed_amount == Decimal("3000.00")
        assert stored.bank_reference == f"REF-{stop['id']}"
        involved_account = self.involved_account(account)
        assert involved_account.stopped_amount == Decimal("3000.00")
        assert involved_account.stage == "stopped"
        assert Event.objects.filter(instruction_id=stop["id"]).count() == 2

    def test_a_rejected_instruction_cannot_be_executed_or_rejected_again(self):
        case = self.report()
        account = self.add_account(case["id"])
        stop = self.stop(case["id"], account["id"])
        self.reject(stop["id"])
        self.refuses(
            self.liaison_icbc,
            self.execute_path(stop["id"]),
            {"executed_amount": "100.00", "bank_reference": "REF-late"},
            status=409,
        )
        self.refuses(
            self.liaison_icbc,
            f"/api/v1/instructions/{stop['id']}/reject/",
            {"reason": "再次拒绝"},
            status=409,
        )
        stored = Instruction.objects.get(pk=stop["id"])
        assert stored.status == InstructionStatus.REJECTED
        assert stored.reject_reason == "户名与账号不符"
        assert self.involved_account(account).stage == "stop_failed"

    def test_an_executed_freeze_cannot_be_executed_twice_into_a_double_freeze(self):
        _case, account, freeze = self.frozen_account("8000.00")
        self.refuses(
            self.liaison_icbc,
            self.execute_path(freeze["id"]),
            {"executed_amount": "8000.00", "bank_reference": "REF-twice"},
            status=409,
        )
        assert self.involved_account(account).frozen_amount == Decimal("8000.00")

    def test_a_rejection_needs_a_reason(self):
        case = self.report()
        account = self.add_account(case["id"])
        stop = self.stop(case["id"], account["id"])
        for body in ({}, {"reason": ""}, {"reason": "  "}):
            self.refuses(
                self.liaison_icbc,
                f"/api/v1/instructions/{stop['id']}/reject/",
                body,
                status=400,
                field="reason",
            )

    def test_an_instruction_awaiting_approval_cannot_be_executed_or_rejected(self):
        # Not approved means not sent: the bank cannot even find it (404, as out of scope).
        case = self.filed_case()
        account = self.add_account(case["id"])
        freeze = self.freeze(case["id"], account["id"])
        self.refuses(
            self.liaison_icbc,
            self.execute_path(freeze["id"]),
            {"executed_amount": "8000.00", "bank_reference": "REF-early"},
            status=404,
        )
        self.refuses(
            self.liaison_icbc,
            f"/api/v1/instructions/{freeze['id']}/reject/",
            {"reason": "未审批"},
            status=404,
        )
        stored = Instruction.objects.get(pk=freeze["id"])
        assert stored.status == InstructionStatus.AWAITING_APPROVAL
        assert self.involved_account(account).stage == "freeze_requested"

    def test_a_liaison_of_another_institution_cannot_find_the_instruction(self):
        case = self.report()
        account = self.add_account(case["id"])
        stop = self.stop(case["id"], account["id"])
        self.refuses(
            self.liaison_ccb,
            self.execute_path(stop["id"]),
            {"executed_amount": "100.00", "bank_reference": "CCB-1"},
            status=404,
        )

    def test_police_roles_cannot_execute(self):
        case = self.report()
        account = self.add_account(case["id"])
        stop = self.stop(case["id"], account["id"])
        for user in (self.officer_lx, self.manager_sd):
            self.refuses(
                user,
                self.execute_path(stop["id"]),
                {"executed_amount": "100.00", "bank_reference": "X-1"},
                status=403,
            )


class CancelRulesTest(RulesTestCase):
    def test_an_officer_may_cancel_an_instruction_awaiting_approval_or_pending(self):
        case = self.filed_case()
        account = self.add_account(case["id"])
        stop = self.stop(case["id"], account["id"])
        assert self.cancel(stop["id"])["status"] == "cancelled"
        freeze = self.freeze(case["id"], account["id"])
        assert self.cancel(freeze["id"])["status"] == "cancelled"
        involved_account = self.involved_account(account)
        assert involved_account.stage == "identified"

    def test_it_refuses_to_cancel_an_answered_or_cancelled_instruction(self):
        case = self.report()
        account = self.add_account(case["id"])
        executed = self.stop(case["id"], account["id"])
        self.execute(executed["id"], "1000.00")
        rejected = self.stop(case["id"], account["id"])
        self.reject(rejected["id"])
        cancelled = self.stop(case["id"], account["id"])
        self.cancel(cancelled["id"])
        for instruction in (executed, rejected, cancelled):
            self.refuses(
                self.officer_lx, f"/api/v1/instructions/{instruction['id']}/cancel/", status=409
            )
        assert Instruction.objects.get(pk=executed["id"]).status == InstructionStatus.EXECUTED
        assert Instruction.objects.get(pk=rejected["id"]).status == InstructionStatus.REJECTED
        assert Instruction.objects.get(pk=cancelled["id"]).status == InstructionStatus.CANCELLED
        involved_account = self.involved_account(account)
        assert involved_account.stage == "stopped"
        assert involved_account.stopped_amount == Decimal("1000.00")

    def test_only_an_officer_may_cancel(self):
        case = self.report()
        account = self.add_account(case["id"])
        stop = self.stop(case["id"], account["id"])
        for user in (self.manager_lx, self.liaison_icbc):
            self.refuses(user, f"/api/v1/instructions/{stop['id']}/cancel/", status=403)


class CaseTransitionRulesTest(RulesTestCase):
    def case_path(self, case_id: int, action: str) -> str:
        return f"/api/v1/cases/{case_id}/{action}/"

    def test_a_case_cannot_be_accepted_twice(self):
        case = self.report()
        self.post(self.officer_lx, self.case_path(case["id"], "accept"))
        self.refuses(self.officer_lx, self.case_path(case["id"], "accept"), status=409)
        stored = Case.objects.get(pk=case["id"])
        assert stored.status == "accepted"

    def test_a_case_cannot_be_filed_before_it_is_accepted(self):
        case = self.report()
        self.refuses(
            self.officer_lx,
            self.case_path(case["id"], "file"),
            {"filing_number": "济公立字〔2026〕1号"},
            status=409,
        )
        stored = Case.objects.get(pk=case["id"])
        assert stored.status == "reported"
        assert stored.filing_number == ""
        assert stored.filed_at is None

    def test_a_filed_case_cannot_be_accepted_or_filed_again(self):
        case = self.filed_case()
        self.refuses(self.officer_lx, self.case_path(case["id"], "accept"), status=409)
        self.refuses(
            self.officer_lx,
            self.case_path(case["id"], "file"),
            {"filing_number": "济公立字〔2026〕2号"},
            status=409,
        )
        assert Case.objects.get(pk=case["id"]).filing_number == "济公立字〔2026〕101号"

    def test_filing_needs_a_filing_number(self):
        case = self.report()
        self.post(self.officer_lx, self.case_path(case["id"], "accept"))
        for body in ({}, {"filing_number": ""}, {"filing_number": "  "}):
            self.refuses(
                self.officer_lx,
                self.case_path(case["id"], "file"),
                body,
                status=400,
                field="filing_number",
            )

    def test_nothing_can_be_done_on_a_closed_case(self):
        case, account, freeze = self.frozen_account("8000.00")
        cid = case["id"]
        self.post(self.manager_lx, self.case_path(cid, "close"))
        refusals = [
            (self.officer_lx, self.case_path(cid, "accept"), {}),
            (self.officer_lx, self.case_path(cid, "file"), {"filing_number": "X-1"}),
            (self.manager_lx, self.case_path(cid, "close"), {}),
            (
                self.officer_lx,
                f"/api/v1/cases/{cid}/victims/",
                {
                    "name": "赵六",
                    "id_number": "370102199001071234",
                    "phone": "13800138000",
                    "loss_amount": "100.00",
                },
            ),
            (
                self.officer_lx,
                f"/api/v1/cases/{cid}/accounts/",
                {
                    "institution": "CCB",
                    "number": "6217000000000009",
                    "holder_name": "钱七",
                    "layer": 2,
                },
            ),
            (
                self.officer_lx,
                f"/api/v1/cases/{cid}/transfers/",
                {
                    "from_account": {
                        "institution": "ICBC",
                        "number": "6222020000000001",
                        "holder_name": "王某",
                    },
                    "to_account": {
                        "institution": "CCB",
                        "number": "6217000000000009",
                        "holder_name": "钱七",
                    },
                    "amount": "100.00",
                    "occurred_at": timezone.now().isoformat(),
                    "reference": "T-1",
                },
            ),
            (
                self.officer_lx,
                self.instructions_path(cid),
                {"kind": "stop_payment", "account": account["id"], "amount": "100.00"},
            ),
            (
                self.officer_lx,
                self.instructions_path(cid),
                {
                    "kind": "freeze",
                    "account": account["id"],
                    "amount": "100.00",
                },
            ),
            (
                self.officer_lx,
                self.instructions_path(cid),
                {
                    "kind": "renewal",
                    "freeze": freeze["id"],
                    "term_months": 6,
                },
            ),
        ]
        for user, path, body in refusals:
            with self.subTest(path=path, body=body):
                self.refuses(user, path, body, status=409)
        stored = Case.objects.get(pk=cid)
        assert stored.status == "closed"
        involved_account = self.involved_account(account)
        assert involved_account.stage == "frozen"
        assert involved_account.frozen_amount == Decimal("8000.00")

    def test_releases_and_returns_may_still_be_asked_for_on_a_closed_case(self):
        case, _account, freeze = self.frozen_account("8000.00")
        victim = self.add_victim(case["id"], "10000.00")
        self.post(self.manager_lx, self.case_path(case["id"], "close"))
        release = self.ask(
            case["id"],
            {"kind": "release", "freeze": freeze["id"], "amount": "1000.00", "reason": "无关"},
        )
        ret = self.ask(
            case["id"],
            {"kind": "return", "freeze": freeze["id"], "victim": victim["id"], "amount": "7000.00"},
        )
        assert release["status"] == ret["status"] == "awaiting_approval"

    def test_a_freeze_cannot_be_approved_once_the_case_is_closed(self):
        case = self.filed_case()
        account = self.add_account(case["id"])
        freeze = self.freeze(case["id"], account["id"])
        self.post(self.manager_lx, self.case_path(case["id"], "close"))
        self.refuses(self.manager_lx, f"/api/v1/instructions/{freeze['id']}/approve/", status=409)
        assert Instruction.objects.get(pk=freeze["id"]).status == "awaiting_approval"

    def test_a_renewal_cannot_be_approved_once_the_case_is_closed(self):
        # A renewal cannot be asked for on a closed case; one asked for before the case was
        # closed cannot be pushed through afterwards either.
        case, _account, freeze = self.frozen_account("8000.00")
        renewal = self.ask(
            case["id"],
            {
                "kind": "renewal",
                "freeze": freeze["id"],
                "term_months": 6,
            },
        )
        self.post(self.manager_lx, self.case_path(case["id"], "close"))
        self.refuses(self.manager_lx, f"/api/v1/instructions/{renewal['id']}/approve/", status=409)
        stored = Instruction.objects.get(pk=renewal["id"])
        assert stored.status == "awaiting_approval"
        assert stored.approved_by is None

    def test_only_a_manager_may_close_a_case(self):
        case = self.report()
        self.refuses(self.officer_lx, self.case_path(case["id"], "close"), status=403)
        assert Case.objects.get(pk=case["id"]).status == "reported"


class OtherCasesTest(RulesTestCase):
    def test_an_account_lists_the_other_cases_it_appears_in(self):
        first = self.report()
        second = self.report(self.officer_sn)
        third = self.report()
        first_account = self.add_account(first["id"])
        assert first_account["other_cases"] == []
        second_account = self.add_account(second["id"], user=self.officer_sn)
        assert second_account["other_cases"] == [first["number"]]
        third_account = self.add_account(third["id"])
        assert third_account["other_cases"] == sorted([first["number"], second["number"]])

        listed = self.ok(self.api(self.officer_lx).get(f"/api/v1/cases/{first['id']}/accounts/"))
        assert listed["results"][0]["other_cases"] == sorted([second["number"], third["number"]])

    def test_the_same_number_at_another_institution_is_another_account(self):
        first = self.report()
        second = self.report()
        self.add_account(first["id"], number="6222020000000001", institution="ICBC")
        other = self.add_account(second["id"], number="6222020000000001", institution="CCB")
        assert other["other_cases"] == []
        different = self.add_account(second["id"], number="6222020000000002")
        assert different["other_cases"] == []

    def test_an_account_cannot_be_added_twice_to_a_case(self):
        case = self.report()
        self.add_account(case["id"])
        self.refuses(
            self.officer_lx,
            f"/api/v1/cases/{case['id']}/accounts/",
            {
                "institution": "ICBC",
                "number": "6222020000000001",
                "holder_name": "王某",
                "layer": 2,
            },
            status=400,
            field="number",
        )


class DatabaseInvariantTest(RulesTestCase):
    """The database holds the invariants even when Python is bypassed."""

    def assert_refused_by_the_database(self, change) -> None:
        with self.nothing_changes(), self.assertRaises(IntegrityError), transaction.atomic():
            change()

    def test_the_database_refuses_an_executed_amount_above_the_requested_amount(self):
        case = self.report()
        account = self.add_account(case["id"])
        stop = self.stop(case["id"], account["id"], "5000.00")
        self.execute(stop["id"], "5000.00")
        self.assert_refused_by_the_database(
            lambda: Instruction.objects.filter(pk=stop["id"]).update(
                executed_amount=Decimal("5000.01")
            )
        )
        assert Instruction.objects.get(pk=stop["id"]).executed_amount == Decimal("5000.00")

    def test_the_database_refuses_released_and_returned_above_frozen(self):
        _case, account, _freeze = self.frozen_account("8000.00")
        involved_account = self.involved_account(account)
        for changes in (
            {"released_amount": Decimal("8000.01")},
            {"returned_amount": Decimal("8000.01")},
            {"released_amount": Decimal("4000.00"), "returned_amount": Decimal("4000.01")},
        ):
            with self.subTest(changes=changes):
                self.assert_refused_by_the_database(
                    lambda changes=changes: InvolvedAccount.objects.filter(
                        pk=involved_account.pk
                    ).update(**changes)
                )
        # Up to the frozen amount is fine.
        InvolvedAccount.objects.filter(pk=involved_account.pk).update(
            released_amount=Decimal("4000.00"), returned_amount=Decimal("4000.00")
        )

    def test_the_database_refuses_a_save_that_breaks_the_account_amounts(self):
        _case, account, _freeze = self.frozen_account("8000.00")
        involved_account = self.involved_account(account)
        involved_account.released_amount = Decimal("9000.00")
        self.assert_refused_by_the_database(involved_account.save)
        involved_account.refresh_from_db()
        assert involved_account.released_amount == Decimal("0.00")
        assert involved_account.frozen_amount == Decimal("8000.00")

    def test_the_database_refuses_negative_amounts(self):
        case, account, freeze = self.frozen_account("8000.00")
        victim = self.add_victim(case["id"])
        involved_rows = InvolvedAccount.objects.filter(pk=account["id"])
        freeze_rows = Instruction.objects.filter(pk=freeze["id"])
        changes = [
            lambda: involved_rows.update(stopped_amount=Decimal("-0.01")),
            lambda: involved_rows.update(frozen_amount=Decimal("-0.01")),
            lambda: involved_rows.update(released_amount=Decimal("-0.01")),
            lambda: involved_rows.update(returned_amount=Decimal("-0.01")),
            lambda: freeze_rows.update(requested_amount=Decimal("-1.00")),
            lambda: freeze_rows.update(requested_amount=Decimal("0.00")),
            lambda: freeze_rows.update(executed_amount=Decimal("-0.01")),
            lambda: freeze_rows.update(released_amount=Decimal("-0.01")),
            lambda: freeze_rows.update(returned_amount=Decimal("-0.01")),
            lambda: Victim.objects.filter(pk=victim["id"]).update(loss_amount=Decimal("0.00")),
            lambda: Victim.objects.filter(pk=victim["id"]).update(returned_amount=Decimal("-0.01")),
        ]
        for index, change in enumerate(changes):
            with self.subTest(change=index):
                self.assert_refused_by_the_database(change)

    def test_the_database_refuses_a_freeze_emptied_beyond_what_it_froze(self):
        _case, _account, freeze = self.frozen_account("8000.00")
        rows = Instruction.objects.filter(pk=freeze["id"])
        self.assert_refused_by_the_database(
            lambda: rows.update(
                released_amount=Decimal("5000.00"), returned_amount=Decimal("3000.01")
            )
        )

    def test_the_database_refuses_two_open_stop_payments_on_one_account(self):
        case = self.report()
        account = self.add_account(case["id"])
        stop = self.stop(case["id"], account["id"])
        stored = Instruction.objects.get(pk=stop["id"])
        self.assert_refused_by_the_database(
            lambda: Instruction.objects.create(
                case_id=case["id"],
                involved_account_id=account["id"],
                institution=self.icbc,
                kind=InstructionKind.STOP_PAYMENT,
                status=InstructionStatus.PENDING,
                requested_amount=Decimal("100.00"),
                requested_by=self.officer_lx,
                requested_at=stored.requested_at,
            )
        )

    def test_the_database_refuses_two_open_freezes_on_one_account(self):
        case = self.filed_case()
        account = self.add_account(case["id"])
        self.freeze(case["id"], account["id"])
        self.assert_refused_by_the_database(
            lambda: Instruction.objects.create(
                case_id=case["id"],
                involved_account_id=account["id"],
                institution=self.icbc,
                kind=InstructionKind.FREEZE,
                status=InstructionStatus.AWAITING_APPROVAL,
                requested_amount=Decimal("100.00"),
                requested_by=self.officer_lx,
                requested_at=timezone.now(),
                term_months=6,
            )
        )

    def test_the_database_refuses_an_instruction_that_breaks_its_shape(self):
        case, account, freeze = self.frozen_account("8000.00")
        base = {
            "case_id": case["id"],
            "involved_account_id": account["id"],
            "institution": self.icbc,
            "requested_amount": Decimal("100.00"),
            "requested_by": self.officer_lx,
            "requested_at": timezone.now(),
        }
        broken = [
            # Executed without an amount or an answer time.
            {"kind": "stop_payment", "status": "executed"},
            # Rejected without a reason.
            {"kind": "stop_payment", "status": "rejected", "responded_at": timezone.now()},
            # A return that names no victim.
            {"kind": "return", "status": "awaiting_approval", "freeze_id": freeze["id"]},
            # A release that names no freeze.
            {"kind": "release", "status": "awaiting_approval", "reason": "无关"},
            # An approved freeze without an instrument number (R4).
            {
                "kind": "freeze",
                "status": "cancelled",
                "term_months": 6,
                "approved_at": timezone.now(),
                "approved_by": self.manager_lx,
            },
            # A stop-payment sent without one.
            {"kind": "stop_payment", "status": "cancelled"},
            # A number that names no issuing unit.
            {
                "kind": "stop_payment",
                "status": "cancelled",
                "instrument_number": "X-1",
                "instrument_source": "issued",
            },
            # A freeze without a term.
            {"kind": "freeze", "status": "cancelled"},
            # A stop-payment that names a freeze.
            {"kind": "stop_payment", "status": "cancelled", "freeze_id": freeze["id"]},
        ]
        for fields in broken:
            with self.subTest(fields=fields):
                self.assert_refused_by_the_database(
                    lambda fields=fields: Instruction.objects.create(**base, **fields)
                )


class AuditTrailTest(RulesTestCase):
    """Nobody can edit or delete the audit trail, not even with raw SQL."""

    def some_event(self) -> Event:
        case = self.report()
        return Event.objects.get(case_id=case["id"], type="case_reported")

    def test_an_audit_event_cannot_be_changed_through_the_model(self):
        event = self.some_event()
        event.type = "forged"
        event.data = {"number": "forged"}
        with self.nothing_changes(), self.assertRaises(PermissionError):
            event.save()
        event.refresh_from_db()
        assert event.type == "case_reported"

    def test_an_audit_event_cannot_be_deleted_through_the_model(self):
        event = self.some_event()
        with self.nothing_changes(), self.assertRaises(PermissionError):
            event.delete()
        assert Event.objects.filter(pk=event.pk).exists()

    def test_the_database_refuses_to_update_an_audit_event(self):
        event = self.some_event()
        with (
            self.nothing_changes(),
            self.assertRaises(DatabaseError) as raised,
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("UPDATE funds_event SET type = %s WHERE id = %s", ["forged", event.pk])
        assert "append-only" in str(raised.exception)
        event.refresh_from_db()
        assert event.type == "case_reported"

    def test_the_database_refuses_to_delete_an_audit_event(self):
        event = self.some_event()
        with (
            self.nothing_changes(),
            self.assertRaises(DatabaseError) as raised,
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("DELETE FROM funds_event WHERE id = %s", [event.pk])
        assert "append-only" in str(raised.exception)
        assert Event.objects.filter(pk=event.pk).exists()

    def test_the_database_refuses_bulk_updates_and_deletes_of_audit_events(self):
        event = self.some_event()
        with self.nothing_changes():
            with self.assertRaises(DatabaseError), transaction.atomic():
                Event.objects.filter(pk=event.pk).update(type="forged")
            with self.assertRaises(DatabaseError), transaction.atomic():
                Event.objects.filter(pk=event.pk).delete()
        event.refresh_from_db()
        assert event.type == "case_reported"
