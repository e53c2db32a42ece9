"""The whole journey over HTTP, each role doing its part, with totals, stages and audit."""

from datetime import timedelta
from decimal import Decimal

import time_machine
from django.utils import timezone

from funds.models import Event, InvolvedAccount
from tests.funds.helpers import FundsTestCase


class JourneyTest(FundsTestCase):
    def case(self, case_id):
        return self.ok(self.api(self.manager_sd).get(f"/api/v1/cases/{case_id}/"))

    def account(self, case_id):
        return self.ok(self.api(self.officer_lx).get(f"/api/v1/cases/{case_id}/accounts/"))[
            "results"
        ][0]

    def test_from_report_to_return(self):
        start = timezone.now()
        with time_machine.travel(start, tick=False) as clock:
            case = self.report(reported_at=(start - timedelta(minutes=10)).isoformat())
            cid = case["id"]
            assert case["status"] == "reported"
            assert case["number"].startswith("370102-")
            assert case["unit"] == {"code": "370102", "name": "历下区分局"}
            victim_a = self.add_victim(cid, "30000.00", "张三")
            victim_b = self.add_victim(cid, "10000.00", "李四")
            assert victim_a["id_number"] == "370102********1234"
            assert victim_a["phone"] == "138****8000"
            account = self.add_account(cid)
            assert account["stage"] == "identified"
            assert account["other_cases"] == []

            # Stop at once: no approval, pending at the bank, due in 30 minutes (R1).
            stop = self.ask(
                cid, {"kind": "stop_payment", "account": account["id"], "amount": "40000.00"}
            )
            assert stop["status"] == "pending"
            assert stop["institution"] == "ICBC"
            assert self.account(cid)["stage"] == "stop_requested"

            clock.shift(timedelta(minutes=5))
            stop = self.execute(stop["id"], "25000.00")  # the balance found
            assert stop["status"] == "executed"
            assert stop["executed_amount"] == "25000.00"
            assert self.account(cid)["stage"] == "stopped"
            assert self.account(cid)["amounts"]["stopped"] == "25000.00"

            self.post(self.officer_lx, f"/api/v1/cases/{cid}/accept/")
            filed = self.post(
                self.officer_lx,
                f"/api/v1/cases/{cid}/file/",
                {"filing_number": "济公立字〔2026〕88号"},
            )
            assert filed["status"] == "filed"

            freeze = self.ask(
                cid,
                {
                    "kind": "freeze",
                    "account": account["id"],
                    "amount": "25000.00",
                    "instrument_number": "济公冻字〔2026〕12号",
                    "term_months": 6,
                },
            )
            assert freeze["status"] == "awaiting_approval"
            assert self.account(cid)["stage"] == "freeze_requested"
            freeze = self.approve(freeze["id"], self.manager_lx)
            assert freeze["status"] == "pending"
            assert freeze["approved_by"] == "manager_lx"
            freeze = self.execute(freeze["id"], "25000.00")
            assert self.account(cid)["stage"] == "frozen"
            six_months = freeze["effective_until"]

            renewal = self.ask(
                cid,
                {
                    "kind": "renewal",
                    "freeze": freeze["id"],
                    "instrument_number": "济公续冻字〔2026〕3号",
                    "term_months": 6,
                },
            )
            assert renewal["requested_amount"] == "25000.00"
            self.approve(renewal["id"], self.manager_lx)
            renewal = self.execute(renewal["id"], "25000.00")
            freeze = self.ok(self.api(self.officer_lx).get(f"/api/v1/instructions/{freeze['id']}/"))
            assert freeze["effective_until"] > six_months
            assert renewal["effective_until"] == freeze["effective_until"]

            allocation = self.ok(
                self.api(self.officer_lx).get(
                    f"/api/v1/cases/{cid}/allocation/?freeze={freeze['id']}"
                )
            )
            assert allocation["available"] == "25000.00"
            shares = {row["victim"]: row["amount"] for row in allocation["shares"]}
            assert shares == {victim_a["id"]: "18750.00", victim_b["id"]: "6250.00"}

            ret = self.ask(
                cid,
                {
                    "kind": "return",
                    "freeze": freeze["id"],
                    "victim": victim_a["id"],
                    "amount": "18750.00",
                },
            )
            assert ret["status"] == "awaiting_approval"
            # A county manager may not approve a return (R9); the city manager may.
            self.approve(ret["id"], self.manager_lx, status=403)
            ret = self.approve(ret["id"], self.manager_jn)
            ret = self.execute(ret["id"], "18750.00")
            assert ret["status"] == "executed"

            case = self.case(cid)
            assert case["loss_amount"] == "40000.00"
            assert case["totals"] == {
                "stop_requested": "40000.00",
                "stopped": "25000.00",
                "frozen": "25000.00",
                "released": "0.00",
                "returned": "18750.00",
                "held": "6250.00",
                # R12: nothing waits behind another case's freeze.
                "queued": "0.00",
            }
            assert self.account(cid)["stage"] == "frozen"
            assert self.account(cid)["amounts"] == {
                "stopped": "25000.00",
                "frozen": "25000.00",
                "released": "0.00",
                "returned": "18750.00",
            }

        events = self.ok(
            self.api(self.auditor_sd).get(f"/api/v1/cases/{cid}/events/?page_size=200")
        )["results"]
        assert [(e["type"], e["actor"]) for e in events] == [
            ("case_reported", "officer_lx"),
            ("victim_added", "officer_lx"),
            ("victim_added", "officer_lx"),
            ("account_added", "officer_lx"),
            ("instruction_requested", "officer_lx"),
            ("instruction_executed", "liaison_icbc"),
            ("case_accepted", "officer_lx"),
            ("case_filed", "officer_lx"),
            ("instruction_requested", "officer_lx"),
            ("instruction_approved", "manager_lx"),
            ("instruction_executed", "liaison_icbc"),
            ("instruction_requested", "officer_lx"),
            ("instruction_approved", "manager_lx"),
            ("instruction_executed", "liaison_icbc"),
            ("instruction_requested", "officer_lx"),
            ("instruction_approved", "manager_jn"),
            ("instruction_executed", "liaison_icbc"),
        ]
        executed_stop = events[5]["data"]
        assert executed_stop["requested_amount"] == "40000.00"
        assert executed_stop["executed_amount"] == "25000.00"
        assert executed_stop["stage"] == "stopped"
        executed_freeze = events[10]["data"]
        assert executed_freeze["superseded_stops"] == [stop["id"]]
        assert events[16]["data"]["freeze_held"] == "6250.00"
        assert Event.objects.filter(case_id=cid).count() == len(events)
        involved_account = InvolvedAccount.objects.get(pk=account["id"])
        assert involved_account.held_amount == Decimal("6250.00")
