"""R12 across cases: a freeze on money another case holds frozen waits in line, takes
effect when the freezes ahead of it end, and holds what the bank confirms then."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import time_machine
from django.core.management import call_command
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from funds.durations import add_months
from funds.models import Deadline, DeadlineKind, Event, Instruction, InvolvedAccount
from funds.reports.folding import report_totals_rebuild
from tests.funds.helpers import FundsTestCase

NUMBER = "6222020000000001"


def moment(value: str) -> Any:
    return parse_datetime(value)


class FreezeQueueTestCase(FundsTestCase):
    def freeze_body(self, account_id: int, amount: str = "8000.00", **extra: Any) -> dict:
        return {
            "kind": "freeze",
            "account": account_id,
            "amount": amount,
            **extra,
        }

    def second_case_freeze(self, amount: str = "8000.00") -> tuple[dict, dict, dict]:
        """市南's case on the same ICBC card, with a freeze asked and approved."""
        case = self.filed_case(self.officer_sn)
        account = self.add_account(case["id"], NUMBER, user=self.officer_sn)
        freeze = self.ask(case["id"], self.freeze_body(account["id"], amount), self.officer_sn)
        self.approve(freeze["id"], self.manager_sd)
        return case, account, freeze

    def confirm(self, freeze_id: int, amount: str, user=None, status: int = 200) -> dict:
        return self.ok(
            self.api(user or self.liaison_icbc).post(
                f"/api/v1/instructions/{freeze_id}/confirm-hold/",
                {"held_amount": amount, "bank_reference": f"HOLD-{freeze_id}"},
                format="json",
            ),
            status,
        )

    def release_all(self, case: dict, freeze: dict, amount: str) -> dict:
        release = self.ask(
            case["id"],
            {"kind": "release", "freeze": freeze["id"], "amount": amount, "reason": "查明无关"},
        )
        self.approve(release["id"], self.manager_lx)
        return self.execute(release["id"], amount)

    def instruction(self, pk: int, user=None) -> dict:
        return self.ok(self.api(user or self.officer_sn).get(f"/api/v1/instructions/{pk}/"))

    def case_totals(self, case: dict, user=None) -> dict:
        return self.ok(self.api(user or self.officer_sn).get(f"/api/v1/cases/{case['id']}/"))[
            "totals"
        ]

    def province_total(self) -> dict:
        today = timezone.localdate()
        report = self.ok(
            self.api(self.manager_sd).get(
                f"/api/v1/reports/totals/?group_by=unit&from={today - timedelta(days=1)}"
                f"&to={today + timedelta(days=1)}"
            )
        )
        return report["total"]


class QueuedFreezeTest(FreezeQueueTestCase):
    def test_a_freeze_behind_another_cases_freeze_is_queued_first_in_line(self):
        self.frozen_account("8000.00")
        _case, _account, queued = self.second_case_freeze()
        assert queued["queued"] is True
        assert queued["queue_position"] == 1
        assert queued["effective_from"] is None

    def test_the_banks_answer_registers_a_queued_freeze_without_freezing_anything(self):
        first_case, _account, _freeze = self.frozen_account("8000.00")
        case, account, queued = self.second_case_freeze("6000.00")
        answered = self.execute(queued["id"], "6000.00")
        assert answered["status"] == "executed"
        assert answered["effective_from"] is None and answered["effective_until"] is None
        assert answered["hold_confirmed_at"] is None
        assert answered["queue_position"] == 1
        involved = InvolvedAccount.objects.get(pk=account["id"])
        assert involved.frozen_amount == 0
        assert involved.stage == "freeze_requested"
        totals = self.case_totals(case)
        assert totals["frozen"] == "0.00" and totals["held"] == "0.00"
        assert totals["queued"] == "6000.00"
        # No clock of a freeze in force runs for money not yet held.
        assert not Deadline.objects.filter(
            instruction_id=queued["id"], kind=DeadlineKind.FREEZE_EXPIRY
        ).exists()
        province = self.province_total()
        assert province["frozen"] == {"count": 1, "amount": "8000.00"}
        assert province["held"] == "8000.00"
        assert province["queued"] == {"count": 1, "amount": "6000.00"}
        assert self.case_totals(first_case, self.officer_lx)["queued"] == "0.00"

    def test_a_freeze_behind_a_freeze_still_awaiting_approval_is_queued(self):
        first = self.filed_case()
        account = self.add_account(first["id"], NUMBER)
        ahead = self.ask(first["id"], self.freeze_body(account["id"]))
        assert ahead["queued"] is False
        _case, _account, queued = self.second_case_freeze()
        assert queued["queued"] is True

    def test_a_freeze_queued_behind_one_cancelled_takes_hold_at_its_answer(self):
        first = self.filed_case()
        account = self.add_account(first["id"], NUMBER)
        ahead = self.ask(first["id"], self.freeze_body(account["id"]))
        _case, _account, queued = self.second_case_freeze()
        self.post(self.officer_lx, f"/api/v1/instructions/{ahead['id']}/cancel/")
        answered = self.execute(queued["id"], "7000.00")
        assert answered["effective_from"] == answered["responded_at"]
        assert answered["hold_confirmed_at"] == answered["responded_at"]
        assert answered["queue_position"] is None

    def test_ending_the_freeze_ahead_lets_the_queued_one_take_effect_with_its_term(self):
        start = timezone.now()
        with time_machine.travel(start, tick=False) as clock:
            first_case, _account, freeze = self.frozen_account("8000.00")
            case, account, queued = self.second_case_freeze("6000.00")
            self.execute(queued["id"], "6000.00")
            clock.shift(timedelta(days=10))
            self.release_all(first_case, freeze, "8000.00")
            took_effect = timezone.now()
        shown = self.instruction(queued["id"])
        assert moment(shown["effective_from"]) == took_effect
        assert moment(shown["effective_until"]) == add_months(took_effect, 6)
        assert shown["hold_confirmed_at"] is None
        assert moment(shown["response_due_at"]) == took_effect + timedelta(hours=24)
        event = Event.objects.get(instruction_id=queued["id"], type="freeze_took_effect")
        assert event.actor is None and event.case_id == case["id"]
        assert event.data["registered_amount"] == "6000.00"
        # R5, R6, R8 run from the moment it took effect.
        expiry = Deadline.objects.get(instruction_id=queued["id"], kind=DeadlineKind.FREEZE_EXPIRY)
        assert expiry.due_at == add_months(took_effect, 6)
        # Until the bank confirms, the money is not counted as frozen anywhere.
        assert self.case_totals(case)["frozen"] == "0.00"
        assert InvolvedAccount.objects.get(pk=account["id"]).stage == "freeze_requested"

    def test_the_bank_confirms_what_the_queued_freeze_holds_once_in_force(self):
        first_case, _account, freeze = self.frozen_account("8000.00")
        case, account, queued = self.second_case_freeze("6000.00")
        self.execute(queued["id"], "6000.00")
        self.release_all(first_case, freeze, "8000.00")
        confirmed = self.confirm(queued["id"], "4500.00")
        assert confirmed["executed_amount"] == "4500.00"
        assert confirmed["hold_confirmed_at"] is not None
        assert confirmed["hold_reference"] == f"HOLD-{queued['id']}"
        assert confirmed["bank_reference"] == f"REF-{queued['id']}"
        involved = InvolvedAccount.objects.get(pk=account["id"])
        assert involved.frozen_amount == Decimal("4500.00") and involved.stage == "frozen"
        totals = self.case_totals(case)
        assert totals["frozen"] == "4500.00" and totals["held"] == "4500.00"
        assert totals["queued"] == "0.00"
        event = Event.objects.get(instruction_id=queued["id"], type="freeze_hold_confirmed")
        assert event.data["registered_amount"] == "6000.00"
        assert event.data["held_amount"] == "4500.00"
        province = self.province_total()
        assert province["frozen"] == {"count": 2, "amount": "12500.00"}
        assert province["released"] == {"count": 1, "amount": "8000.00"}
        assert province["held"] == "4500.00"
        assert province["queued"] == {"count": 0, "amount": "0.00"}
        # The same figures once rebuilt from the tables.
        report_totals_rebuild()
        assert self.province_total() == province

    def test_a_confirmed_queued_freeze_can_be_renewed_released_and_returned_from(self):
        first_case, _account, freeze = self.frozen_account("8000.00")
        case, _account2, queued = self.second_case_freeze("6000.00")
        self.execute(queued["id"], "6000.00")
        self.release_all(first_case, freeze, "8000.00")
        body = {"kind": "release", "freeze": queued["id"], "amount": "100.00", "reason": "无关"}
        # Not in force until the bank confirms what it holds.
        self.ask(case["id"], body, self.officer_sn, status=409)
        self.confirm(queued["id"], "4500.00")
        self.ask(case["id"], body, self.officer_sn)

    def test_nothing_left_ends_the_queued_freeze_and_lets_the_next_one_take_effect(self):
        first_case, _account, freeze = self.frozen_account("8000.00")
        _case, _account2, second = self.second_case_freeze("6000.00")
        self.execute(second["id"], "6000.00")
        third_case = self.filed_case(self.officer_station)
        third_account = self.add_account(third_case["id"], NUMBER, user=self.officer_station)
        third = self.ask(
            third_case["id"], self.freeze_body(third_account["id"]), self.officer_station
        )
        assert third["queued"] is True
        self.approve(third["id"], self.manager_lx)
        self.execute(third["id"], "8000.00")
        assert self.instruction(third["id"], self.officer_station)["queue_position"] == 2
        self.release_all(first_case, freeze, "8000.00")
        assert self.instruction(third["id"], self.officer_station)["effective_from"] is None
        assert self.instruction(third["id"], self.officer_station)["queue_position"] == 1
        ended = self.confirm(second["id"], "0.00")
        assert ended["ended_at"] is not None and ended["end_reason"] == "nothing_left"
        assert self.instruction(third["id"], self.officer_station)["effective_from"] is not None

    def test_the_sweep_lets_a_queued_freeze_take_effect_when_the_one_ahead_expires(self):
        start = timezone.now()
        with time_machine.travel(start, tick=False) as clock:
            self.frozen_account("8000.00")
            _case, _account, queued = self.second_case_freeze("6000.00")
            self.execute(queued["id"], "6000.00")
            clock.shift(timedelta(days=200))  # past the first freeze's six months (R5)
            call_command("sweep_deadlines", verbosity=0)
            swept = timezone.now()
        shown = self.instruction(queued["id"])
        assert moment(shown["effective_from"]) == swept
        assert (
            Event.objects.filter(instruction_id=queued["id"], type="freeze_took_effect").count()
            == 1
        )


class ConfirmHoldRefusalsTest(FreezeQueueTestCase):
    def setUp(self) -> None:
        first_case, _account, freeze = self.frozen_account("8000.00")
        self.case, _account, self.queued = self.second_case_freeze("6000.00")
        self.execute(self.queued["id"], "6000.00")
        self.first_case, self.first_freeze = first_case, freeze

    def test_a_freeze_still_in_line_cannot_be_confirmed(self):
        self.confirm(self.queued["id"], "6000.00", status=409)

    def test_a_freeze_that_took_hold_at_its_answer_cannot_be_confirmed_again(self):
        self.confirm(self.first_freeze["id"], "8000.00", status=409)

    def test_another_banks_liaison_gets_404_and_police_403(self):
        self.release_all(self.first_case, self.first_freeze, "8000.00")
        self.confirm(self.queued["id"], "6000.00", user=self.liaison_ccb, status=404)
        self.confirm(self.queued["id"], "6000.00", user=self.officer_sn, status=403)

    def test_more_than_was_asked_is_refused_and_changes_nothing(self):
        self.release_all(self.first_case, self.first_freeze, "8000.00")
        answer = self.confirm(self.queued["id"], "6000.01", status=400)
        assert "held_amount" in answer
        stored = Instruction.objects.get(pk=self.queued["id"])
        assert stored.hold_confirmed_at is None and stored.executed_amount == Decimal("6000.00")

    def test_confirming_twice_is_a_conflict(self):
        self.release_all(self.first_case, self.first_freeze, "8000.00")
        self.confirm(self.queued["id"], "5000.00")
        self.confirm(self.queued["id"], "5000.00", status=409)
        assert (
            Event.objects.filter(
                instruction_id=self.queued["id"], type="freeze_hold_confirmed"
            ).count()
            == 1
        )

    def test_a_renewal_of_a_freeze_in_line_is_refused(self):
        body = {
            "kind": "renewal",
            "freeze": self.queued["id"],
        }
        self.ask(self.case["id"], body, self.officer_sn, status=409)


class QueuePagesTest(FreezeQueueTestCase):
    def setUp(self) -> None:
        self.first_case, _account, self.first_freeze = self.frozen_account("8000.00")
        self.case, _account2, self.queued = self.second_case_freeze("6000.00")
        self.execute(self.queued["id"], "6000.00")

    def page(self, user, url: str, **data: Any) -> str:
        self.client.force_login(user)
        response = self.client.get(url, data)
        assert response.status_code == 200
        return response.content.decode()

    def test_the_inbox_asks_the_bank_to_confirm_a_queued_freeze_once_it_takes_effect(self):
        row = f'id="instruction-{self.queued["id"]}"'
        assert row not in self.page(self.liaison_icbc, "/inbox/").split("<tbody", 2)[1]
        self.release_all(self.first_case, self.first_freeze, "8000.00")
        inbox = self.page(self.liaison_icbc, "/inbox/")
        assert row in inbox and f"/inbox/{self.queued['id']}/confirm-hold/" in inbox
        self.client.force_login(self.liaison_icbc)
        response = self.client.post(
            f"/inbox/{self.queued['id']}/confirm-hold/",
            {
                f"c{self.queued['id']}-held_amount": "5000.00",
                f"c{self.queued['id']}-bank_reference": "ICBC-H-1",
            },
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 200
        stored = Instruction.objects.get(pk=self.queued["id"])
        assert stored.executed_amount == Decimal("5000.00") and stored.hold_reference == "ICBC-H-1"

    def test_the_desk_shows_what_is_held_now_whatever_the_period(self):
        self.release_all(self.first_case, self.first_freeze, "3000.00")
        # Held now: 8000 - 3000 by the first freeze; the second still in line, 6000 queued.
        for period in ({}, {"from": "2020-01-01", "to": "2020-01-31"}):
            html = self.page(self.manager_sd, "/desk/", **period)
            tiles = dict(
                re.findall(r"<div><span>([^<]+)</span><strong>([^<]+)</strong></div>", html)
            )
            assert tiles["当前在冻"] == "¥5,000.00", tiles
            assert tiles["当前轮候冻结"] == "¥6,000.00", tiles
        independent = sum(
            (
                f.executed_amount - f.released_amount - f.returned_amount
                for f in Instruction.objects.filter(
                    kind="freeze", hold_confirmed_at__isnull=False, ended_at__isnull=True
                )
            ),
            Decimal(0),
        )
        assert independent == Decimal("5000.00")

    def test_the_case_file_shows_the_freeze_in_line_and_what_it_waits_for(self):
        html = self.page(self.officer_sn, f"/cases/{self.case['id']}/")
        assert "排在其他案件的 1 个冻结之后" in html and "已由银行轮候登记" in html
        assert "轮候冻结（R12）" in html and "¥6,000.00" in html
        self.release_all(self.first_case, self.first_freeze, "8000.00")
        html = self.page(self.officer_sn, f"/cases/{self.case['id']}/")
        assert "等待银行确认在冻金额" in html


class QueueNoticeTest(FreezeQueueTestCase):
    def test_the_officer_and_the_banks_liaisons_are_mailed_once_when_the_queue_moves(self):
        from django.core import mail

        from funds.models import Notification
        from funds.services.mail import mail_deliver
        from funds.services.notifications import catch_up_queue_effects, queue_effect_notify

        self.officer_sn.email = "sn@example.test"
        self.officer_sn.save(update_fields=["email"])
        self.liaison_icbc.email = "icbc@example.test"
        self.liaison_icbc.save(update_fields=["email"])
        start = timezone.now()
        with time_machine.travel(start, tick=False) as clock:
            first_case, _account, freeze = self.frozen_account("8000.00")
            _case, _account2, queued = self.second_case_freeze("6000.00")
            self.execute(queued["id"], "6000.00")
            mail_deliver()
            mail.outbox.clear()
            self.release_all(first_case, freeze, "8000.00")
            # The broker never took the notice (no worker here): the sweep's catch-up tells
            # it once it is a minute old, and only once.
            assert catch_up_queue_effects() == 0
            clock.shift(timedelta(minutes=2))
            assert catch_up_queue_effects() == 1
            assert catch_up_queue_effects() == 0
            assert mail_deliver().sent == 2
            assert mail_deliver().sent == 0
        assert queue_effect_notify(instruction_id=queued["id"]) is False
        notes = Notification.objects.filter(instruction_id=queued["id"], reason="freeze_in_force")
        assert sorted(n.recipient.username for n in notes) == sorted(
            [self.officer_sn.username, self.liaison_icbc.username]
        )
        assert all(n.mailed_at is not None for n in notes)
        notices = {m.to[0]: m for m in mail.outbox if "轮候冻结已生效" in m.subject}
        assert sorted(notices) == ["icbc@example.test", "sn@example.test"]
        assert len(mail.outbox) == 2
        assert f"/cases/{queued['case']['id']}/" in notices["sn@example.test"].body
        assert "/inbox/" in notices["icbc@example.test"].body

    def test_a_freeze_that_takes_hold_at_its_answer_sends_no_queue_notice(self):
        from funds.services.notifications import catch_up_queue_effects

        self.frozen_account("8000.00")
        assert Instruction.objects.get(kind="freeze").effect_notified_at is not None
        assert catch_up_queue_effects(older_than=timedelta(0)) == 0
