"""R9: a victim's own account, and returns that cannot overpay.

A victim records their own account (masked to the last four digits in every answer); a
return needs it and may not exceed what the victim is still owed: the loss less what was
returned or is awaiting return, over every freeze of the case. The request, the approval
and the execution each check it, and the database refuses a victim paid beyond the loss.
(Concurrent returns to one victim: tests/funds/test_concurrency.py.)"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from funds.models import Event, Instruction, InstructionStatus, Victim
from tests.funds.test_rules import RulesTestCase


class VictimAccountTest(RulesTestCase):
    def victims_path(self, case_id: int) -> str:
        return f"/api/v1/cases/{case_id}/victims/"

    def body(self, **fields: Any) -> dict[str, Any]:
        return {
            "name": "张三",
            "id_number": "370102199001071234",
            "phone": "13800138000",
            "loss_amount": "8000.00",
            **fields,
        }

    def test_a_victim_records_their_own_account_normalised_and_answers_it_masked(self):
        case = self.report()
        typed = {
            "institution": "CCB",
            "number": "６２１７ ０００0-1111\u200b2222",
            "holder_name": "张三",
        }
        victim = self.post(
            self.officer_lx, self.victims_path(case["id"]), self.body(account=typed), 201
        )
        assert victim["account"] == {
            "institution": "CCB",
            "number": "************2222",
            "holder_name": "张三",
        }
        stored = Victim.objects.get(pk=victim["id"])
        assert stored.account_institution == self.ccb
        assert stored.account_number == "6217000011112222"
        assert stored.account_holder_name == "张三"
        assert "6217000011112222" not in str(victim)
        listed = self.ok(self.api(self.auditor_sd).get(self.victims_path(case["id"])))
        assert listed["results"][0]["account"]["number"] == "************2222"
        # The audit trail keeps the account masked too.
        event = Event.objects.get(case_id=case["id"], type="victim_added")
        assert event.data["account_institution"] == "CCB"
        assert event.data["account_number"] == "************2222"

    def test_the_first_shape_of_the_account_is_still_taken_and_answered_masked(self):
        case = self.report()
        victim = self.post(
            self.officer_lx,
            self.victims_path(case["id"]),
            self.body(account_institution="CCB", account_number="6217000011112222"),
            201,
        )
        assert victim["account_institution"] == "CCB"
        assert victim["account_number"] == "************2222"
        assert victim["account"] == {
            "institution": "CCB",
            "number": "************2222",
            "holder_name": "",
        }

    def test_a_victim_without_an_account_answers_none(self):
        case = self.report()
        for extra in ({}, {"account": None}):
            victim = self.post(
                self.officer_lx, self.victims_path(case["id"]), self.body(**extra), 201
            )
            assert victim["account"] is None
            assert victim["account_number"] == ""
            assert victim["owed_amount"] == "8000.00"

    def test_an_unknown_institution_is_refused_beside_the_account(self):
        case = self.report()
        message = self.refuses(
            self.officer_lx,
            self.victims_path(case["id"]),
            self.body(account={"institution": "NOPE", "number": "6217", "holder_name": "张三"}),
            status=400,
            field="account",
        )
        assert "NOPE" in message
        self.refuses(
            self.officer_lx,
            self.victims_path(case["id"]),
            self.body(account_institution="NOPE", account_number="6217000011112222"),
            status=400,
            field="account_institution",
        )

    def test_an_account_needs_its_institution_number_and_holder(self):
        case = self.report()
        # DRF's nested field errors: {"account": {"holder_name": ["..."]}}.
        for account, missing in (
            ({"institution": "CCB", "number": "6217000011112222"}, "holder_name"),
            ({"institution": "CCB", "holder_name": "张三"}, "number"),
            ({"number": "6217000011112222", "holder_name": "张三"}, "institution"),
        ):
            with self.nothing_changes():
                response = self.api(self.officer_lx).post(
                    self.victims_path(case["id"]), self.body(account=account), format="json"
                )
            assert response.status_code == 400, response.content
            assert list(response.json()["account"]) == [missing]
        for account in (
            {"institution": "CCB", "number": " \u200b- ", "holder_name": "张三"},
            "6217",
        ):
            with self.nothing_changes():
                response = self.api(self.officer_lx).post(
                    self.victims_path(case["id"]), self.body(account=account), format="json"
                )
            assert response.status_code == 400, response.content
            assert "account" in response.json()
        # Half an account in the first shape: a number without its institution.
        self.refuses(
            self.officer_lx,
            self.victims_path(case["id"]),
            self.body(account_number="6217000011112222"),
            status=400,
            field="account_institution",
        )

    def test_the_account_is_given_once(self):
        case = self.report()
        self.refuses(
            self.officer_lx,
            self.victims_path(case["id"]),
            self.body(
                account={"institution": "CCB", "number": "6217000011112222", "holder_name": "张三"},
                account_number="6217000011112222",
            ),
            status=400,
            field="account",
        )


class ReturnLimitTest(RulesTestCase):
    def return_body(self, freeze_id: int, victim_id: int, amount: str) -> dict[str, Any]:
        return {"kind": "return", "freeze": freeze_id, "victim": victim_id, "amount": amount}

    def test_a_return_for_a_victim_without_an_account_is_refused(self):
        case, _account, freeze = self.frozen_account("8000.00")
        victim = self.add_victim(case["id"], "5000.00", "张三", with_account=False)
        message = self.refuses(
            self.officer_lx,
            self.instructions_path(case["id"]),
            self.return_body(freeze["id"], victim["id"], "1000.00"),
            status=409,
        )
        assert "张三" in message

    def test_a_return_above_what_the_victim_is_owed_is_refused_naming_the_limit(self):
        case, _account, freeze = self.frozen_account("8000.00")
        victim = self.add_victim(case["id"], "5000.00", "张三")
        message = self.refuses(
            self.officer_lx,
            self.instructions_path(case["id"]),
            self.return_body(freeze["id"], victim["id"], "5000.01"),
            status=409,
        )
        assert "5000.00" in message
        self.ask(case["id"], self.return_body(freeze["id"], victim["id"], "5000.00"))

    def test_what_is_owed_deducts_returns_paid_and_asked_over_every_freeze(self):
        case, _account, freeze = self.frozen_account("8000.00")
        other_account = self.add_account(case["id"], "6222020000000099")
        other = self.freeze(case["id"], other_account["id"], "3000.00")
        self.approve(other["id"])
        other = self.execute(other["id"], "3000.00")
        victim = self.add_victim(case["id"], "5000.00", "张三")
        paid = self.ask(case["id"], self.return_body(freeze["id"], victim["id"], "2000.00"))
        self.approve(paid["id"], self.manager_jn)
        self.execute(paid["id"], "2000.00")
        self.ask(case["id"], self.return_body(other["id"], victim["id"], "1500.00"))
        # 5000 lost - 2000 returned - 1500 awaiting return = 1500 owed, from either freeze.
        for freeze_id in (freeze["id"], other["id"]):
            message = self.refuses(
                self.officer_lx,
                self.instructions_path(case["id"]),
                self.return_body(freeze_id, victim["id"], "1500.01"),
                status=409,
            )
            assert "1500.00" in message
        listed = self.ok(self.api(self.officer_lx).get(f"/api/v1/cases/{case['id']}/victims/"))
        assert listed["results"][0]["owed_amount"] == "1500.00"
        self.ask(case["id"], self.return_body(other["id"], victim["id"], "1500.00"))

    def test_a_cancelled_or_rejected_return_frees_what_it_asked_for(self):
        case, _account, freeze = self.frozen_account("8000.00")
        victim = self.add_victim(case["id"], "3000.00", "张三")
        cancelled = self.ask(case["id"], self.return_body(freeze["id"], victim["id"], "3000.00"))
        self.cancel(cancelled["id"])
        rejected = self.ask(case["id"], self.return_body(freeze["id"], victim["id"], "3000.00"))
        self.approve(rejected["id"], self.manager_jn)
        self.post(
            self.liaison_icbc,
            f"/api/v1/instructions/{rejected['id']}/reject/",
            {"reason": "户名不符"},
        )
        assert self.ask(case["id"], self.return_body(freeze["id"], victim["id"], "3000.00"))

    def test_a_victim_paid_less_than_asked_is_still_owed_the_difference(self):
        case, _account, freeze = self.frozen_account("8000.00")
        victim = self.add_victim(case["id"], "3000.00", "张三")
        back = self.ask(case["id"], self.return_body(freeze["id"], victim["id"], "3000.00"))
        self.approve(back["id"], self.manager_jn)
        self.execute(back["id"], "1000.00")
        self.ask(case["id"], self.return_body(freeze["id"], victim["id"], "2000.00"))

    def test_the_approval_rechecks_the_account_and_what_is_owed(self):
        case, _account, freeze = self.frozen_account("8000.00")
        victim = self.add_victim(case["id"], "5000.00", "张三")
        back = self.ask(case["id"], self.return_body(freeze["id"], victim["id"], "3000.00"))
        path = f"/api/v1/instructions/{back['id']}/approve/"
        # Rows changed behind the services' back (data from before R9 was enforced): the
        # approval refuses to send the bank a return it cannot pay, or one that overpays.
        Victim.objects.filter(pk=victim["id"]).update(account_number="")
        self.refuses(self.manager_jn, path, status=409)
        Victim.objects.filter(pk=victim["id"]).update(
            account_number="6217009900001234", loss_amount=Decimal("2999.99")
        )
        message = self.refuses(self.manager_jn, path, status=409)
        assert "2999.99" in message
        Victim.objects.filter(pk=victim["id"]).update(loss_amount=Decimal("3000.00"))
        assert self.approve(back["id"], self.manager_jn)["status"] == "pending"

    def test_the_execution_never_pays_a_victim_beyond_the_loss(self):
        case, account, freeze = self.frozen_account("8000.00")
        victim = self.add_victim(case["id"], "5000.00", "张三")
        back = self.ask(case["id"], self.return_body(freeze["id"], victim["id"], "3000.00"))
        self.approve(back["id"], self.manager_jn)
        Victim.objects.filter(pk=victim["id"]).update(returned_amount=Decimal("2000.01"))
        message = self.refuses(
            self.liaison_icbc,
            f"/api/v1/instructions/{back['id']}/execute/",
            {"executed_amount": "3000.00", "bank_reference": "ICBC-R-1"},
            status=409,
        )
        assert "2999.99" in message
        assert Instruction.objects.get(pk=back["id"]).status == InstructionStatus.PENDING
        assert self.involved_account(account).returned_amount == Decimal("0.00")
        # Less, within the loss, is paid.
        self.execute(back["id"], "2999.99")
        assert Victim.objects.get(pk=victim["id"]).returned_amount == Decimal("5000.00")

    def test_the_database_refuses_a_victim_paid_beyond_the_loss(self):
        case = self.report()
        victim = self.add_victim(case["id"], "5000.00")
        with pytest.raises(IntegrityError), transaction.atomic():
            Victim.objects.filter(pk=victim["id"]).update(returned_amount=Decimal("5000.01"))
        Victim.objects.filter(pk=victim["id"]).update(returned_amount=Decimal("5000.00"))
