"""R10: allocation rounds. An officer opens a round over a freeze: shares of what each victim
is still owed, stored and published for the public notice; objections during the notice;
withdrawal and a corrected round; confirmation by a manager at city level or above after
it, with one approved return per share sent to the bank; what is left stays frozen for the
next round."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import IntegrityError, transaction

from accounts.models import Role, User
from funds.models import (
    AllocationObjection,
    AllocationRound,
    AllocationShare,
    Event,
    Instruction,
    InstructionStatus,
    RoundStatus,
    Victim,
)
from tests.funds.helpers import FundsTestCase

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Monday morning; the 30 days of notice end on Wednesday 1 July 2026, and the three
# working days after that (R11) are Thursday 2, Friday 3 and Monday 6 July.
START = datetime(2026, 6, 1, 9, 0, tzinfo=SHANGHAI)
NOTICE_END = datetime(2026, 7, 1, 9, 0, tzinfo=SHANGHAI)
AFTER_NOTICE = datetime(2026, 7, 1, 10, 0, tzinfo=SHANGHAI)
RETURN_DUE = datetime(2026, 7, 7, 0, 0, tzinfo=SHANGHAI)


def d(text: str) -> Decimal:
    return Decimal(text)


class RoundTestCase(FundsTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.clock = time_machine.travel(START, tick=False)
        self.traveller = self.clock.start()
        self.addCleanup(self.clock.stop)

    def at(self, moment: datetime) -> None:
        self.traveller.move_to(moment)

    def open_round(self, case_id: int, freeze_id: int, user=None, status: int = 201) -> dict:
        return self.ok(
            self.api(user or self.officer_lx).post(
                f"/api/v1/cases/{case_id}/allocations/", {"freeze": freeze_id}, format="json"
            ),
            status,
        )

    def object_to(self, round_id: int, victim_id: int, reason: str = "份额计算有误", **kw):
        return self.ok(
            self.api(kw.get("user") or self.officer_lx).post(
                f"/api/v1/allocations/{round_id}/objections/",
                {"victim": victim_id, "reason": reason},
                format="json",
            ),
            kw.get("status", 201),
        )

    def confirm(self, round_id: int, user=None, status: int = 200) -> dict:
        return self.ok(
            self.api(user or self.manager_jn).post(f"/api/v1/allocations/{round_id}/confirm/"),
            status,
        )

    def withdraw(self, round_id: int, reason: str = "漏列被害人", user=None, status: int = 200):
        return self.ok(
            self.api(user or self.officer_lx).post(
                f"/api/v1/allocations/{round_id}/withdraw/", {"reason": reason}, format="json"
            ),
            status,
        )

    def round(self, round_id: int, user=None) -> dict:
        return self.ok(self.api(user or self.officer_lx).get(f"/api/v1/allocations/{round_id}/"))

    def return_to(self, case_id: int, freeze_id: int, victim_id: int, amount: str, status=201):
        return self.ask(
            case_id,
            {"kind": "return", "freeze": freeze_id, "victim": victim_id, "amount": amount},
            status=status,
        )

    def paid_return(self, case_id: int, freeze_id: int, victim_id: int, amount: str) -> None:
        back = self.return_to(case_id, freeze_id, victim_id, amount)
        self.approve(back["id"], self.manager_jn)
        self.execute(back["id"], amount)

    def shares(self, body: dict) -> dict[int, tuple[str, str, str]]:
        return {
            s["victim"]: (s["loss_amount"], s["already_returned"], s["amount"])
            for s in body["shares"]
        }

    @contextmanager
    def nothing_changes(self) -> Iterator[None]:
        def state() -> list[Any]:
            return [
                list(AllocationRound.objects.order_by("pk").values()),
                list(AllocationShare.objects.order_by("pk").values()),
                list(AllocationObjection.objects.order_by("pk").values()),
                list(Instruction.objects.order_by("pk").values()),
                list(Victim.objects.order_by("pk").values()),
                Event.objects.count(),
            ]

        before = state()
        yield
        assert state() == before

    def refused(self, response: Any, status: int, *words: str) -> None:
        assert response.status_code == status, (response.status_code, response.content)
        body = response.json()
        if status == 409:
            assert body["code"] == "invalid_state"
        for word in words:
            assert word in str(body), body

    def three_victims(self, case_id: int) -> tuple[dict, dict, dict]:
        return (
            self.add_victim(case_id, "30000.00", "张三"),
            self.add_victim(case_id, "10000.00", "李四"),
            self.add_victim(case_id, "10000.00", "王五"),
        )


class OpeningTest(RoundTestCase):
    def test_shares_over_what_each_victim_is_still_owed_add_up_to_the_available_amount(self):
        case, _account, freeze = self.frozen_account("10000.00")
        a, b, c = self.three_victims(case["id"])
        body = self.open_round(case["id"], freeze["id"])
        assert body["status"] == "notice"
        assert body["freeze"] == freeze["id"]
        assert body["available"] == "10000.00"
        assert datetime.fromisoformat(body["notice_until"]) == NOTICE_END
        # 30000 : 10000 : 10000 of 10000.00 is 6000 : 2000 : 2000.
        assert self.shares(body) == {
            a["id"]: ("30000.00", "0.00", "6000.00"),
            b["id"]: ("10000.00", "0.00", "2000.00"),
            c["id"]: ("10000.00", "0.00", "2000.00"),
        }
        stored = AllocationRound.objects.get(pk=body["id"])
        assert stored.status == RoundStatus.NOTICE
        assert stored.opened_by == self.officer_lx and stored.opened_at == START
        assert stored.notice_until == NOTICE_END
        assert sum(s.amount for s in stored.shares.all()) == stored.available == d("10000.00")
        assert self.round(body["id"]) == body

    def test_the_shares_are_exact_to_the_fen(self):
        case, _account, freeze = self.frozen_account("100.00")
        victims = [self.add_victim(case["id"], "500.00", name) for name in ("甲", "乙", "丙")]
        body = self.open_round(case["id"], freeze["id"])
        assert [s["amount"] for s in body["shares"]] == ["33.34", "33.33", "33.33"]
        assert [s["victim"] for s in body["shares"]] == [v["id"] for v in victims]
        assert sum(d(s["amount"]) for s in body["shares"]) == d(body["available"])

    def test_a_victim_already_partly_paid_gets_less(self):
        case, _account, freeze = self.frozen_account("12000.00")
        a = self.add_victim(case["id"], "10000.00", "张三")
        b = self.add_victim(case["id"], "10000.00", "李四")
        self.paid_return(case["id"], freeze["id"], a["id"], "4000.00")  # executed
        self.return_to(case["id"], freeze["id"], b["id"], "1000.00")  # asked, still open
        body = self.open_round(case["id"], freeze["id"])
        # 12000 - 4000 paid - 1000 asked = 7000 available, over owed 6000 : 9000.
        assert body["available"] == "7000.00"
        assert self.shares(body) == {
            a["id"]: ("10000.00", "4000.00", "2800.00"),
            b["id"]: ("10000.00", "1000.00", "4200.00"),
        }

    def test_victims_owed_nothing_take_no_part(self):
        case, _account, freeze = self.frozen_account("9000.00")
        paid = self.add_victim(case["id"], "1000.00", "张三")
        owed = self.add_victim(case["id"], "5000.00", "李四")
        self.paid_return(case["id"], freeze["id"], paid["id"], "1000.00")
        body = self.open_round(case["id"], freeze["id"])
        assert [s["victim"] for s in body["shares"]] == [owed["id"]]

    def test_no_share_exceeds_what_its_victim_is_owed_and_the_rest_stays_frozen(self):
        case, _account, freeze = self.frozen_account("10000.00")
        a = self.add_victim(case["id"], "1500.00", "张三")
        b = self.add_victim(case["id"], "500.00", "李四")
        body = self.open_round(case["id"], freeze["id"])
        assert body["available"] == "2000.00"
        assert body["freeze_available"] == "10000.00"
        assert self.shares(body) == {
            a["id"]: ("1500.00", "0.00", "1500.00"),
            b["id"]: ("500.00", "0.00", "500.00"),
        }

    def test_a_round_is_refused_while_a_victim_still_owed_has_no_account(self):
        case, _account, freeze = self.frozen_account("10000.00")
        self.add_victim(case["id"], "3000.00", "张三")
        self.add_victim(case["id"], "2000.00", "李四", with_account=False)
        with self.nothing_changes():
            response = self.api(self.officer_lx).post(
                f"/api/v1/cases/{case['id']}/allocations/", {"freeze": freeze["id"]}, format="json"
            )
        self.refused(response, 409, "李四")
        assert "张三" not in response.json()["detail"]

    def test_only_one_round_is_in_notice_per_freeze(self):
        case, _account, freeze = self.frozen_account("10000.00")
        self.three_victims(case["id"])
        self.open_round(case["id"], freeze["id"])
        with self.nothing_changes():
            response = self.api(self.officer_lx).post(
                f"/api/v1/cases/{case['id']}/allocations/", {"freeze": freeze["id"]}, format="json"
            )
        self.refused(response, 409)
        first = AllocationRound.objects.get()
        with pytest.raises(IntegrityError), transaction.atomic():
            AllocationRound.objects.create(
                case_id=case["id"],
                freeze_id=freeze["id"],
                freeze_available=d("1.00"),
                available=d("1.00"),
                opened_by=self.officer_lx,
                opened_at=first.opened_at,
                notice_until=first.notice_until,
            )

    def test_a_round_needs_a_freeze_of_the_case_in_force_and_something_to_share(self):
        case, _account, freeze = self.frozen_account("10000.00")
        _other, _other_account, other_freeze = self.frozen_account("5000.00")
        for body in ({}, {"freeze": "x"}, {"freeze": other_freeze["id"]}, {"freeze": 999999}):
            with self.nothing_changes():
                response = self.api(self.officer_lx).post(
                    f"/api/v1/cases/{case['id']}/allocations/", body, format="json"
                )
            self.refused(response, 400, "freeze")
        # No victim owed anything: nothing to share.
        with self.nothing_changes():
            response = self.api(self.officer_lx).post(
                f"/api/v1/cases/{case['id']}/allocations/", {"freeze": freeze["id"]}, format="json"
            )
        self.refused(response, 409, "10000.00")
        # A freeze that has expired (R5) is not shared.
        self.add_victim(case["id"])
        self.at(datetime.fromisoformat(freeze["effective_until"]) + timedelta(minutes=1))
        response = self.api(self.officer_lx).post(
            f"/api/v1/cases/{case['id']}/allocations/", {"freeze": freeze["id"]}, format="json"
        )
        self.refused(response, 409)

    def test_only_an_officer_in_scope_opens_a_round(self):
        case, _account, freeze = self.frozen_account("10000.00")
        self.add_victim(case["id"])
        path = f"/api/v1/cases/{case['id']}/allocations/"
        for user, status in (
            (self.manager_jn, 403),
            (self.auditor_sd, 403),
            (self.liaison_icbc, 403),
            (self.officer_sn, 404),
        ):
            with self.nothing_changes():
                response = self.api(user).post(path, {"freeze": freeze["id"]}, format="json")
            assert response.status_code == status, (user, response.content)
        assert self.api().post(path, {"freeze": freeze["id"]}, format="json").status_code == 401

    def test_the_opening_is_in_the_audit_trail(self):
        case, _account, freeze = self.frozen_account("10000.00")
        a, b, c = self.three_victims(case["id"])
        body = self.open_round(case["id"], freeze["id"])
        event = Event.objects.get(case_id=case["id"], type="round_opened")
        assert event.actor == self.officer_lx
        assert event.instruction is None
        assert event.data == {
            "round": body["id"],
            "freeze": freeze["id"],
            "freeze_available": "10000.00",
            "available": "10000.00",
            "notice_until": NOTICE_END.isoformat(),
            "shares": [
                {"victim": a["id"], "owed": "30000.00", "amount": "6000.00"},
                {"victim": b["id"], "owed": "10000.00", "amount": "2000.00"},
                {"victim": c["id"], "owed": "10000.00", "amount": "2000.00"},
            ],
        }


class ReservationTest(RoundTestCase):
    """While a round is in notice, its shares are taken: no return, release or other round
    may count that money again, and its confirmation finds it still there."""

    def test_a_round_in_notice_reserves_its_amount_in_the_freeze(self):
        case, _account, freeze = self.frozen_account("10000.00")
        a = self.add_victim(case["id"], "6000.00", "张三")
        self.open_round(case["id"], freeze["id"])  # 6000.00 of 10000.00
        proposal = self.ok(
            self.api(self.officer_lx).get(
                f"/api/v1/cases/{case['id']}/allocation/?freeze={freeze['id']}"
            )
        )
        assert proposal["freeze_available"] == "4000.00"
        # A release may take what the round left, not more.
        self.ask(
            case["id"],
            {"kind": "release", "freeze": freeze["id"], "amount": "4000.01", "reason": "无关"},
            status=400,
        )
        self.ask(
            case["id"],
            {"kind": "release", "freeze": freeze["id"], "amount": "4000.00", "reason": "无关"},
        )
        victim = self.ok(self.api(self.officer_lx).get(f"/api/v1/cases/{case['id']}/victims/"))
        assert victim["results"][0]["id"] == a["id"]
        assert victim["results"][0]["owed_amount"] == "0.00"

    def test_a_round_in_notice_reserves_each_share_against_what_its_victim_is_owed(self):
        case, _account, freeze = self.frozen_account("1000.00")
        second_freeze = self.ask(
            case["id"],
            {
                "kind": "freeze",
                "account": self.add_account(case["id"], "6222020000000077")["id"],
                "amount": "5000.00",
            },
        )
        self.approve(second_freeze["id"])
        self.execute(second_freeze["id"], "5000.00")
        victim = self.add_victim(case["id"], "3000.00", "张三")
        self.open_round(case["id"], freeze["id"])  # reserves 1000.00 for 张三
        # From the other freeze, 张三 may be returned what is left of the loss, no more.
        response = self.api(self.officer_lx).post(
            f"/api/v1/cases/{case['id']}/instructions/",
            {
                "kind": "return",
                "freeze": second_freeze["id"],
                "victim": victim["id"],
                "amount": "2000.01",
            },
            format="json",
        )
        self.refused(response, 409, "2000.00")
        self.return_to(case["id"], second_freeze["id"], victim["id"], "2000.00")
        # A round over the other freeze now finds 张三 owed nothing.
        response = self.api(self.officer_lx).post(
            f"/api/v1/cases/{case['id']}/allocations/",
            {"freeze": second_freeze["id"]},
            format="json",
        )
        self.refused(response, 409)

    def test_the_confirmation_turns_the_reservation_into_returns_without_counting_twice(self):
        case, _account, freeze = self.frozen_account("10000.00")
        self.add_victim(case["id"], "6000.00", "张三")
        body = self.open_round(case["id"], freeze["id"])
        self.at(AFTER_NOTICE)
        self.confirm(body["id"])
        proposal = self.ok(
            self.api(self.officer_lx).get(
                f"/api/v1/cases/{case['id']}/allocation/?freeze={freeze['id']}"
            )
        )
        # 10000.00 held less the 6000.00 now asked by the round's return: 4000.00, once.
        assert proposal["freeze_available"] == "4000.00"
        assert [s["owed"] for s in proposal["shares"]] == ["0.00"]


class ObjectionTest(RoundTestCase):
    def test_objections_are_recorded_during_the_notice_and_shown_with_the_round(self):
        case, _account, freeze = self.frozen_account("10000.00")
        a, b, _c = self.three_victims(case["id"])
        body = self.open_round(case["id"], freeze["id"])
        self.at(NOTICE_END - timedelta(minutes=1))
        objection = self.object_to(body["id"], b["id"], "我的损失应为15000元")
        assert objection["victim"] == b["id"]
        assert objection["reason"] == "我的损失应为15000元"
        assert objection["recorded_by"] == "officer_lx"
        assert self.round(body["id"], self.manager_jn)["objections"] == [objection]
        stored = AllocationObjection.objects.get()
        assert stored.round_id == body["id"] and stored.recorded_by == self.officer_lx
        event = Event.objects.get(case_id=case["id"], type="round_objection")
        assert event.actor == self.officer_lx
        assert event.data == {
            "round": body["id"],
            "objection": objection["id"],
            "victim": b["id"],
            "reason": "我的损失应为15000元",
        }
        assert a  # the round stays in notice after an objection
        assert self.round(body["id"])["status"] == "notice"

    def test_an_objection_after_the_notice_is_a_conflict(self):
        case, _account, freeze = self.frozen_account("10000.00")
        a, _b, _c = self.three_victims(case["id"])
        body = self.open_round(case["id"], freeze["id"])
        self.at(NOTICE_END)
        with self.nothing_changes():
            response = self.api(self.officer_lx).post(
                f"/api/v1/allocations/{body['id']}/objections/",
                {"victim": a["id"], "reason": "迟到的异议"},
                format="json",
            )
        self.refused(response, 409, "2026-07-01 09:00")

    def test_an_objection_needs_a_reason_and_a_victim_of_the_case(self):
        case, _account, freeze = self.frozen_account("10000.00")
        a, _b, _c = self.three_victims(case["id"])
        other = self.report()
        stranger = self.add_victim(other["id"], name="赵六")
        body = self.open_round(case["id"], freeze["id"])
        path = f"/api/v1/allocations/{body['id']}/objections/"
        for sent, field in (
            ({"victim": a["id"], "reason": "  "}, "reason"),
            ({"victim": a["id"]}, "reason"),
            ({"victim": stranger["id"], "reason": "异议"}, "victim"),
            ({"reason": "异议"}, "victim"),
        ):
            with self.nothing_changes():
                response = self.api(self.officer_lx).post(path, sent, format="json")
            self.refused(response, 400, field)

    def test_only_an_officer_in_scope_records_an_objection(self):
        case, _account, freeze = self.frozen_account("10000.00")
        a, _b, _c = self.three_victims(case["id"])
        body = self.open_round(case["id"], freeze["id"])
        for user, status in (
            (self.manager_jn, 403),
            (self.liaison_icbc, 403),
            (self.officer_sn, 404),
        ):
            response = self.api(user).post(
                f"/api/v1/allocations/{body['id']}/objections/",
                {"victim": a["id"], "reason": "异议"},
                format="json",
            )
            assert response.status_code == status, user
        assert not AllocationObjection.objects.exists()


class WithdrawalTest(RoundTestCase):
    def test_a_withdrawn_round_frees_its_reservation_and_a_corrected_one_can_be_opened(self):
        case, _account, freeze = self.frozen_account("10000.00")
        a = self.add_victim(case["id"], "30000.00", "张三")
        first = self.open_round(case["id"], freeze["id"])
        self.object_to(first["id"], a["id"], "漏列被害人李四")
        withdrawn = self.withdraw(first["id"], "漏列被害人李四")
        assert withdrawn["status"] == "withdrawn"
        assert withdrawn["withdrawn_by"] == "officer_lx"
        assert withdrawn["withdraw_reason"] == "漏列被害人李四"
        b = self.add_victim(case["id"], "10000.00", "李四")
        corrected = self.open_round(case["id"], freeze["id"])
        assert corrected["available"] == "10000.00"
        assert self.shares(corrected) == {
            a["id"]: ("30000.00", "0.00", "7500.00"),
            b["id"]: ("10000.00", "0.00", "2500.00"),
        }
        event = Event.objects.get(case_id=case["id"], type="round_withdrawn")
        assert event.actor == self.officer_lx
        assert event.data == {
            "round": first["id"],
            "before": "notice",
            "after": "withdrawn",
            "reason": "漏列被害人李四",
            "available": "10000.00",
        }
        # A withdrawn round takes no objection, no confirmation and no second withdrawal.
        self.at(AFTER_NOTICE)
        with self.nothing_changes():
            self.refused(
                self.api(self.officer_lx).post(
                    f"/api/v1/allocations/{first['id']}/objections/",
                    {"victim": a["id"], "reason": "异议"},
                    format="json",
                ),
                409,
            )
            self.refused(
                self.api(self.manager_jn).post(f"/api/v1/allocations/{first['id']}/confirm/"),
                409,
            )
            self.refused(
                self.api(self.officer_lx).post(
                    f"/api/v1/allocations/{first['id']}/withdraw/",
                    {"reason": "再撤"},
                    format="json",
                ),
                409,
            )

    def test_withdrawing_needs_a_reason_and_an_officer_in_scope(self):
        case, _account, freeze = self.frozen_account("10000.00")
        self.add_victim(case["id"])
        body = self.open_round(case["id"], freeze["id"])
        path = f"/api/v1/allocations/{body['id']}/withdraw/"
        with self.nothing_changes():
            self.refused(self.api(self.officer_lx).post(path, {"reason": " "}, format="json"), 400)
            self.refused(self.api(self.officer_lx).post(path, {}, format="json"), 400)
            for user, status in ((self.manager_jn, 403), (self.officer_sn, 404)):
                response = self.api(user).post(path, {"reason": "撤回"}, format="json")
                assert response.status_code == status, user

    def test_a_confirmed_round_cannot_be_withdrawn(self):
        case, _account, freeze = self.frozen_account("10000.00")
        self.add_victim(case["id"])
        body = self.open_round(case["id"], freeze["id"])
        self.at(AFTER_NOTICE)
        self.confirm(body["id"])
        with self.nothing_changes():
            self.refused(
                self.api(self.officer_lx).post(
                    f"/api/v1/allocations/{body['id']}/withdraw/", {"reason": "撤回"}, format="json"
                ),
                409,
            )


class ConfirmationTest(RoundTestCase):
    def test_a_round_cannot_be_confirmed_before_its_notice_ends(self):
        case, _account, freeze = self.frozen_account("10000.00")
        self.three_victims(case["id"])
        body = self.open_round(case["id"], freeze["id"])
        self.at(NOTICE_END - timedelta(seconds=1))
        with self.nothing_changes():
            response = self.api(self.manager_jn).post(f"/api/v1/allocations/{body['id']}/confirm/")
        self.refused(response, 409, "2026-07-01 09:00")

    def test_a_county_manager_may_not_confirm_a_round(self):
        case, _account, freeze = self.frozen_account("10000.00")
        self.three_victims(case["id"])
        body = self.open_round(case["id"], freeze["id"])
        path = f"/api/v1/allocations/{body['id']}/confirm/"
        for moment in (START, AFTER_NOTICE):  # whatever the notice
            self.at(moment)
            with self.nothing_changes():
                self.refused(self.api(self.manager_lx).post(path), 403)
        for user in (self.officer_lx, self.auditor_sd, self.liaison_icbc):
            with self.nothing_changes():
                self.refused(self.api(user).post(path), 403)

    def test_a_round_out_of_scope_is_not_found(self):
        manager_qd = User.objects.create_user(
            "manager_qd", password="qingdao-pass-2026", role=Role.MANAGER, organization=self.qingdao
        )
        case, _account, freeze = self.frozen_account("10000.00")
        self.three_victims(case["id"])
        body = self.open_round(case["id"], freeze["id"])
        self.at(AFTER_NOTICE)
        with self.nothing_changes():
            self.refused(
                self.api(manager_qd).post(f"/api/v1/allocations/{body['id']}/confirm/"), 404
            )
        for user in (manager_qd, self.officer_sn):
            assert self.api(user).get(f"/api/v1/allocations/{body['id']}/").status_code == 404
            assert self.ok(self.api(user).get("/api/v1/allocations/"))["count"] == 0
            assert self.api(user).get(f"/api/v1/cases/{case['id']}/allocations/").status_code == 404
        assert (
            self.api(self.liaison_icbc).get(f"/api/v1/allocations/{body['id']}/").status_code == 403
        )
        for path in ("/api/v1/allocations/abc/", "/api/v1/allocations/999999/"):
            assert self.api(self.manager_jn).get(path).status_code == 404

    def test_after_the_notice_a_city_manager_confirms_and_the_returns_go_to_the_bank(self):
        case, account, freeze = self.frozen_account("10000.00")
        a, b, c = self.three_victims(case["id"])
        body = self.open_round(case["id"], freeze["id"])
        self.object_to(body["id"], c["id"], "要求重新核算")
        self.at(AFTER_NOTICE)
        confirmed = self.confirm(body["id"])
        assert confirmed["status"] == "confirmed"
        assert confirmed["confirmed_by"] == "manager_jn"
        assert datetime.fromisoformat(confirmed["confirmed_at"]) == AFTER_NOTICE
        returns = Instruction.objects.filter(pk__in=confirmed["returns"]).order_by("victim_id")
        assert len(confirmed["returns"]) == 3
        assert [(r.victim_id, r.requested_amount) for r in returns] == [
            (a["id"], d("6000.00")),
            (b["id"], d("2000.00")),
            (c["id"], d("2000.00")),
        ]
        for back, share in zip(returns, confirmed["shares"], strict=True):
            assert back.kind == "return"
            assert back.status == InstructionStatus.PENDING
            assert back.freeze_id == freeze["id"]
            assert back.involved_account_id == account["id"]
            assert back.institution == self.icbc
            assert back.requested_by == self.officer_lx  # who opened the round
            assert back.approved_by == self.manager_jn
            assert back.approved_at == AFTER_NOTICE
            assert back.response_due_at == RETURN_DUE  # R11: three working days
            assert not back.deadline_provisional
            assert share["return_instruction"] == back.pk
        # The bank sees them as any approved return, with the victims' accounts to pay.
        inbox = self.ok(self.api(self.liaison_icbc).get("/api/v1/instructions/?kind=return"))
        assert sorted(row["id"] for row in inbox["results"]) == sorted(confirmed["returns"])
        assert {row["payee_account"]["number"] for row in inbox["results"]} == {"6217009900001234"}
        # Paying them pays the victims their shares.
        for back in returns:
            self.execute(back.pk, f"{back.requested_amount:.2f}")
        assert [
            v.returned_amount for v in Victim.objects.filter(case_id=case["id"]).order_by("pk")
        ] == [d("6000.00"), d("2000.00"), d("2000.00")]
        assert Instruction.objects.get(pk=freeze["id"]).held_amount == d("0.00")

    def test_the_confirmation_is_in_the_audit_trail(self):
        case, _account, freeze = self.frozen_account("10000.00")
        a, b, c = self.three_victims(case["id"])
        body = self.open_round(case["id"], freeze["id"])
        self.object_to(body["id"], c["id"], "要求重新核算")
        self.at(AFTER_NOTICE)
        before = Event.objects.count()
        confirmed = self.confirm(body["id"])
        events = list(Event.objects.order_by("pk")[before:])
        returns = confirmed["returns"]
        assert [(e.type, e.actor.username, e.instruction_id) for e in events] == [
            ("instruction_requested", "officer_lx", returns[0]),
            ("instruction_approved", "manager_jn", returns[0]),
            ("instruction_requested", "officer_lx", returns[1]),
            ("instruction_approved", "manager_jn", returns[1]),
            ("instruction_requested", "officer_lx", returns[2]),
            ("instruction_approved", "manager_jn", returns[2]),
            ("round_confirmed", "manager_jn", None),
        ]
        assert events[0].data["round"] == body["id"]
        assert events[0].data["victim"] == a["id"]
        assert events[0].data["requested_amount"] == "6000.00"
        assert events[1].data["response_due_at"] == RETURN_DUE.isoformat()
        assert events[-1].data == {
            "round": body["id"],
            "before": "notice",
            "after": "confirmed",
            "available": "10000.00",
            "returns": returns,
            "objections": 1,
        }
        assert b

    def test_a_province_manager_may_confirm_and_a_second_confirmation_changes_nothing(self):
        case, _account, freeze = self.frozen_account("10000.00")
        self.three_victims(case["id"])
        body = self.open_round(case["id"], freeze["id"])
        self.at(AFTER_NOTICE)
        assert self.confirm(body["id"], self.manager_sd)["confirmed_by"] == "manager_sd"
        with self.nothing_changes():
            self.refused(
                self.api(self.manager_jn).post(f"/api/v1/allocations/{body['id']}/confirm/"), 409
            )

    def test_a_share_rounded_to_zero_gets_no_return(self):
        case, _account, freeze = self.frozen_account("0.01")
        self.add_victim(case["id"], "500.00", "张三")
        self.add_victim(case["id"], "500.00", "李四")
        body = self.open_round(case["id"], freeze["id"])
        assert [s["amount"] for s in body["shares"]] == ["0.01", "0.00"]
        self.at(AFTER_NOTICE)
        confirmed = self.confirm(body["id"])
        assert len(confirmed["returns"]) == 1
        assert [s["return_instruction"] is None for s in confirmed["shares"]] == [False, True]

    def test_a_round_over_a_freeze_that_expired_meanwhile_cannot_be_confirmed(self):
        case, _account, freeze = self.frozen_account("10000.00")
        self.three_victims(case["id"])
        self.at(datetime.fromisoformat(freeze["effective_until"]) - timedelta(days=10))
        body = self.open_round(case["id"], freeze["id"])
        self.at(datetime.fromisoformat(body["notice_until"]))
        with self.nothing_changes():
            response = self.api(self.manager_jn).post(f"/api/v1/allocations/{body['id']}/confirm/")
        self.refused(response, 409)

    def test_confirmation_rechecks_what_each_victim_is_owed(self):
        # Rows changed behind the services' back (a correction in the database): the
        # confirmation re-checks under its locks and refuses, naming the victim and the limit.
        case, _account, freeze = self.frozen_account("10000.00")
        a, _b, _c = self.three_victims(case["id"])
        body = self.open_round(case["id"], freeze["id"])
        Victim.objects.filter(pk=a["id"]).update(loss_amount=d("5000.00"))
        self.at(AFTER_NOTICE)
        with self.nothing_changes():
            response = self.api(self.manager_jn).post(f"/api/v1/allocations/{body['id']}/confirm/")
        self.refused(response, 409, "张三", "0.00")


class NextRoundTest(RoundTestCase):
    def test_money_left_over_stays_frozen_and_the_next_round_serves_a_victim_found_later(self):
        case, _account, freeze = self.frozen_account("10000.00")
        a = self.add_victim(case["id"], "4000.00", "张三")
        b = self.add_victim(case["id"], "2000.00", "李四")
        first = self.open_round(case["id"], freeze["id"])
        assert first["available"] == "6000.00"
        self.at(AFTER_NOTICE)
        for back in self.confirm(first["id"])["returns"]:
            amount = Instruction.objects.get(pk=back).requested_amount
            self.execute(back, f"{amount:.2f}")
        held = Instruction.objects.get(pk=freeze["id"])
        assert held.held_amount == d("4000.00") and held.ended_at is None
        # A victim found later is served by the next round, over what is left.
        c = self.add_victim(case["id"], "8000.00", "王五")
        second = self.open_round(case["id"], freeze["id"])
        assert second["available"] == "4000.00"
        assert self.shares(second) == {c["id"]: ("8000.00", "0.00", "4000.00")}
        cases_rounds = self.ok(
            self.api(self.officer_lx).get(f"/api/v1/cases/{case['id']}/allocations/")
        )
        assert [(r["id"], r["status"]) for r in cases_rounds["results"]] == [
            (second["id"], "notice"),
            (first["id"], "confirmed"),
        ]
        assert a and b


class ListTest(RoundTestCase):
    def test_rounds_are_listed_in_scope_and_filtered_by_status(self):
        case, _account, freeze = self.frozen_account("10000.00")
        self.add_victim(case["id"])
        body = self.open_round(case["id"], freeze["id"])
        for user in (self.officer_lx, self.manager_jn, self.manager_sd, self.auditor_sd):
            listed = self.ok(self.api(user).get("/api/v1/allocations/?status=notice"))
            assert [r["id"] for r in listed["results"]] == [body["id"]], user
        assert (
            self.ok(self.api(self.manager_jn).get("/api/v1/allocations/?status=confirmed"))["count"]
            == 0
        )
        assert (
            self.ok(self.api(self.manager_jn).get(f"/api/v1/allocations/?case={case['id']}"))[
                "count"
            ]
            == 1
        )
        assert self.api(self.liaison_icbc).get("/api/v1/allocations/").status_code == 403
