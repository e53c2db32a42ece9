"""The pages of R9 and R10: the victims' own accounts (masked) and what each is still owed on
the case file and in its return form; the allocation rounds on the case file (open, object,
withdraw, the shares, objections and returns); the rounds on the manager's desk, confirmed
there by a manager at city level or above."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine
from django.test import Client
from django.urls import reverse

from funds.models import AllocationObjection, AllocationRound, Instruction
from tests.funds.test_pages import (
    VICTIM,
    VICTIM_ACCOUNT,
    VICTIM_ACCOUNT_MASKED,
    PageTestCase,
    field_block,
    form_html,
    messages_of,
    text,
    top_errors,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 6, 1, 9, 0, tzinfo=SHANGHAI)
NOTICE_END = datetime(2026, 7, 1, 9, 0, tzinfo=SHANGHAI)


def section(html: str, id_: str) -> str:
    match = re.search(rf'<section class="card" id="{id_}">(.*?)</section>', html, flags=re.S)
    assert match, f"no section {id_}"
    return match.group(1)


def round_article(html: str, pk: int) -> str:
    match = re.search(rf'<article class="round" id="round-{pk}">(.*?)</article>', html, flags=re.S)
    assert match, f"no round {pk}"
    return match.group(1)


class RoundPageTestCase(PageTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.clock = time_machine.travel(START, tick=False)
        self.traveller = self.clock.start()
        self.addCleanup(self.clock.stop)
        self.case, _account, self.held = self.frozen_account("8000.00")
        self.url = self.case_url(self.case["id"])
        self.victim_ = self.victim(self.case["id"])  # 20000.00 lost, account at CCB
        self.other = self.add_victim(self.case["id"], "5000.00", "李四")

    def open_round(self) -> dict:
        return self.post(
            self.officer_lx,
            f"/api/v1/cases/{self.case['id']}/allocations/",
            {"freeze": self.held["id"]},
            201,
        )


class VictimsOnTheCaseFileTest(RoundPageTestCase):
    def test_the_victims_show_their_masked_account_and_what_they_are_still_owed(self):
        back = self.ask(
            self.case["id"],
            {
                "kind": "return",
                "freeze": self.held["id"],
                "victim": self.victim_["id"],
                "amount": "1500.00",
            },
        )
        assert back["status"] == "awaiting_approval"
        self.add_victim(self.case["id"], "300.00", "王五", with_account=False)
        for user in (self.officer_lx, self.manager_jn, self.auditor_sd):
            html = section(self.get(user, self.url), "victims")
            assert VICTIM_ACCOUNT_MASKED in html and VICTIM_ACCOUNT not in html, user
            assert "¥18,500.00" in html  # 20000 lost less 1500 awaiting return
            assert "无账户信息" in html  # 王五

    def test_the_return_form_offers_each_victim_with_the_masked_account_and_what_is_owed(self):
        html = form_html(
            self.get(self.officer_lx, self.url), f"/cases/{self.case['id']}/instructions/"
        )
        victims = field_block(html, "victim")
        assert f"{VICTIM} · {VICTIM_ACCOUNT_MASKED} · 尚欠 ¥20,000.00" in victims
        assert VICTIM_ACCOUNT not in html

    def test_a_victim_added_on_the_page_keeps_the_account_and_its_holder(self):
        data = {
            "name": "赵六",
            "id_number": "370102199302203456",
            "phone": "13700137000",
            "loss_amount": "900.00",
            "account_institution": "CCB",
            "account_number": "6217 0000 1111 3333",
            "account_holder_name": "赵六",
        }
        response = self.as_user(self.officer_lx).post(f"/cases/{self.case['id']}/victims/", data)
        assert response.status_code == 302
        victim = self.case_victims().get(name="赵六")
        assert (victim.account_number, victim.account_holder_name) == ("6217000011113333", "赵六")
        assert "************3333" in section(self.get(self.officer_lx, self.url), "victims")

    def test_half_an_account_on_the_page_is_shown_beside_its_field(self):
        data = {
            "name": "赵六",
            "id_number": "370102199302203456",
            "phone": "13700137000",
            "loss_amount": "900.00",
            "account_institution": "CCB",
            "account_number": "",
        }
        response = self.as_user(self.officer_lx).post(f"/cases/{self.case['id']}/victims/", data)
        assert response.status_code == 400
        block = field_block(
            form_html(text(response), f"/cases/{self.case['id']}/victims/"), "account_number"
        )
        assert "has-error" in block
        assert not self.case_victims().filter(name="赵六").exists()

    def case_victims(self):
        from funds.models import Victim

        return Victim.objects.filter(case_id=self.case["id"])


class RoundsOnTheCaseFileTest(RoundPageTestCase):
    def test_an_officer_opens_a_round_from_the_case_file(self):
        page = self.get(self.officer_lx, self.url)
        form = form_html(page, f"/cases/{self.case['id']}/allocations/")
        assert 'name="csrfmiddlewaretoken"' in form
        assert f'<option value="{self.held["id"]}">' in field_block(form, "freeze")
        response = self.as_user(self.officer_lx).post(
            f"/cases/{self.case['id']}/allocations/", {"freeze": str(self.held["id"])}
        )
        assert response.status_code == 302
        assert response["Location"] == self.url + "#rounds"
        allocation_round = AllocationRound.objects.get()
        html = self.get(self.officer_lx, self.url)
        assert "轮次已开启并公示" in messages_of(html)
        article = round_article(html, allocation_round.pk)
        assert "公示中" in article
        assert "2026-07-01 09:00" in article  # the notice's end, Asia/Shanghai
        # 8000.00 shared over 20000 : 5000 still owed.
        assert "¥6,400.00" in article and "¥1,600.00" in article
        assert VICTIM_ACCOUNT_MASKED in article and VICTIM_ACCOUNT not in article

    def test_a_refused_round_is_said_at_the_top_of_its_form(self):
        self.add_victim(self.case["id"], "300.00", "王五", with_account=False)
        page = self.get(self.officer_lx, self.url)
        # The officer is told before trying who lacks an account.
        assert "王五" in section(page, "rounds")
        response = self.as_user(self.officer_lx).post(
            f"/cases/{self.case['id']}/allocations/", {"freeze": str(self.held["id"])}
        )
        assert response.status_code == 400
        errors = top_errors(form_html(text(response), f"/cases/{self.case['id']}/allocations/"))
        assert "王五" in errors
        assert not AllocationRound.objects.exists()

    def test_an_objection_is_recorded_from_the_case_file_and_shown(self):
        allocation_round = self.open_round()
        action = f"/allocations/{allocation_round['id']}/objections/"
        form = form_html(self.get(self.officer_lx, self.url), action)
        assert 'name="csrfmiddlewaretoken"' in form
        response = self.as_user(self.officer_lx).post(
            action, {"victim": str(self.other["id"]), "reason": ""}
        )
        assert response.status_code == 400
        assert "has-error" in field_block(form_html(text(response), action), "reason")
        assert not AllocationObjection.objects.exists()
        response = self.as_user(self.officer_lx).post(
            action, {"victim": str(self.other["id"]), "reason": "损失金额应为六千元"}
        )
        assert response.status_code == 302
        assert response["Location"] == self.url + f"#round-{allocation_round['id']}"
        article = round_article(self.get(self.manager_jn, self.url), allocation_round["id"])
        assert "李四" in article and "损失金额应为六千元" in article
        # After the notice the form is gone and the page says what the round waits for.
        self.traveller.move_to(NOTICE_END)
        page = self.get(self.officer_lx, self.url)
        assert action not in page
        assert "公示期已结束" in round_article(page, allocation_round["id"])
        response = self.as_user(self.officer_lx).post(
            action, {"victim": str(self.other["id"]), "reason": "迟到的异议"}
        )
        assert response.status_code == 400
        assert "2026-07-01 09:00" in top_errors(form_html(text(response), action))
        assert AllocationObjection.objects.count() == 1

    def test_a_round_is_withdrawn_from_the_case_file(self):
        allocation_round = self.open_round()
        action = f"/allocations/{allocation_round['id']}/withdraw/"
        response = self.as_user(self.officer_lx).post(action, {"reason": "漏列被害人"})
        assert response.status_code == 302
        article = round_article(self.get(self.officer_lx, self.url), allocation_round["id"])
        assert "已撤回" in article and "漏列被害人" in article
        assert action not in article

    def test_the_case_file_shows_the_returns_a_confirmed_round_issued(self):
        allocation_round = self.open_round()
        self.traveller.move_to(NOTICE_END + timedelta(hours=1))
        confirmed = self.post(
            self.manager_jn, f"/api/v1/allocations/{allocation_round['id']}/confirm/"
        )
        article = round_article(self.get(self.officer_lx, self.url), allocation_round["id"])
        assert "已确认" in article
        for pk in confirmed["returns"]:
            assert f"#{pk}" in article
        assert article.count("待机构处理") == 2
        assert "/withdraw/" not in article and "/objections/" not in article

    def test_other_roles_see_the_rounds_without_the_officers_forms(self):
        allocation_round = self.open_round()
        for user in (self.manager_jn, self.auditor_sd):
            page = self.get(user, self.url)
            assert f'id="round-{allocation_round["id"]}"' in page
            assert f"/allocations/{allocation_round['id']}/objections/" not in page
            assert f"/cases/{self.case['id']}/allocations/" not in page
        self.get(self.officer_sn, self.url, status=404)
        response = self.as_user(self.officer_sn).post(
            f"/allocations/{allocation_round['id']}/withdraw/", {"reason": "越权"}
        )
        assert response.status_code == 404
        response = self.as_user(self.manager_jn).post(
            f"/allocations/{allocation_round['id']}/withdraw/", {"reason": "越权"}
        )
        assert response.status_code == 403
        assert AllocationRound.objects.get().status == "notice"


class RoundsOnTheDeskTest(RoundPageTestCase):
    def desk_row(self, html: str, pk: int) -> str:
        match = re.search(rf'<tr id="desk-round-{pk}">(.*?)</tr>', html, flags=re.S)
        assert match, f"no desk row for round {pk}"
        return match.group(1)

    def test_the_desk_lists_rounds_in_notice_and_waiting_with_their_objections(self):
        allocation_round = self.open_round()
        self.post(
            self.officer_lx,
            f"/api/v1/allocations/{allocation_round['id']}/objections/",
            {"victim": self.other["id"], "reason": "损失金额应为六千元"},
            201,
        )
        html = section(self.get(self.manager_jn, reverse("desk")), "rounds")
        row = self.desk_row(html, allocation_round["id"])
        assert self.case["number"] in row and "¥8,000.00" in row
        assert "2026-07-01 09:00" in row and "损失金额应为六千元" in row
        assert "/confirm/" not in row  # still in notice
        self.traveller.move_to(NOTICE_END)
        html = section(self.get(self.manager_jn, reverse("desk")), "rounds")
        row = self.desk_row(html, allocation_round["id"])
        assert f'action="/desk/allocations/{allocation_round["id"]}/confirm/"' in row
        assert 'name="csrfmiddlewaretoken"' in row
        # A county manager and an auditor see it, without the button.
        for user in (self.manager_lx, self.auditor_sd):
            row = self.desk_row(self.get(user, reverse("desk")), allocation_round["id"])
            assert "/confirm/" not in row, user
        # Out of the subtree, nothing.
        qingdao = self.make_unit("370299", "county", self.qingdao)
        from accounts.models import Role, User

        outsider = User.objects.create_user(
            "manager_qd", password="qd-pass-2026", role=Role.MANAGER, organization=qingdao
        )
        assert f'id="desk-round-{allocation_round["id"]}"' not in self.get(
            outsider, reverse("desk")
        )

    def test_a_city_manager_confirms_a_round_from_the_desk(self):
        allocation_round = self.open_round()
        self.traveller.move_to(NOTICE_END)
        client = Client(enforce_csrf_checks=True)
        client.force_login(self.manager_jn)
        url = f"/desk/allocations/{allocation_round['id']}/confirm/"
        assert client.post(url).status_code == 403  # no CSRF token
        html = text(client.get(reverse("desk")))
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        assert token
        response = client.post(url, {"csrfmiddlewaretoken": token.group(1)})
        assert response.status_code == 302
        assert response["Location"] == reverse("desk") + "#rounds"
        stored = AllocationRound.objects.get()
        assert stored.status == "confirmed" and stored.confirmed_by == self.manager_jn
        returns = Instruction.objects.filter(allocation_share__round=stored)
        assert sorted(r.requested_amount for r in returns) == [1600, 6400]
        assert {r.status for r in returns} == {"pending"}
        html = text(client.get(reverse("desk")))
        assert "已确认" in messages_of(html)
        assert f'id="desk-round-{stored.pk}"' not in html

    def test_a_confirmation_refused_on_the_desk_is_said_and_changes_nothing(self):
        allocation_round = self.open_round()
        url = f"/desk/allocations/{allocation_round['id']}/confirm/"
        # Before the end of the notice.
        response = self.as_user(self.manager_jn).post(url)
        assert response.status_code == 302
        assert "2026-07-01 09:00" in messages_of(self.get(self.manager_jn, reverse("desk")))
        # By a county manager, after it.
        self.traveller.move_to(NOTICE_END)
        self.as_user(self.manager_lx).post(url)
        assert "市级" in messages_of(self.get(self.manager_lx, reverse("desk")))
        assert AllocationRound.objects.get().status == "notice"
        assert not Instruction.objects.filter(allocation_share__isnull=False).exists()
        # An officer has no desk to confirm from.
        assert self.as_user(self.officer_lx).post(url).status_code == 403


class RoundPageQueryCountTest(RoundPageTestCase):
    def count(self, user, url: str) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        self.client.force_login(user)
        with CaptureQueriesContext(connection) as queries:
            response = self.client.get(url)
        assert response.status_code == 200
        return len(queries)

    def grow(self, count: int) -> None:
        """``count`` more rounds in notice, each over a new freeze of the case, each with an
        objection, the first of them ended."""
        for _ in range(count):
            account = self.add_account(
                self.case["id"], number=f"62229{Instruction.objects.count():011d}"
            )
            freeze = self.freeze(self.case["id"], account["id"], "100.00")
            self.approve(freeze["id"])
            self.execute(freeze["id"], "100.00")
            opened = self.post(
                self.officer_lx,
                f"/api/v1/cases/{self.case['id']}/allocations/",
                {"freeze": freeze["id"]},
                201,
            )
            self.post(
                self.officer_lx,
                f"/api/v1/allocations/{opened['id']}/objections/",
                {"victim": self.other["id"], "reason": "异议"},
                201,
            )

    def test_the_case_file_and_the_desk_cost_the_same_for_n_and_3n_rounds(self):
        self.grow(2)
        self.traveller.move_to(NOTICE_END)  # some wait for confirmation
        # Once first, so that what the layout caches (the calendar's coverage) is cached.
        self.count(self.manager_jn, reverse("desk"))
        small = (
            self.count(self.officer_lx, self.url),
            self.count(self.manager_jn, reverse("desk")),
        )
        self.traveller.move_to(START)
        self.grow(4)
        self.traveller.move_to(NOTICE_END)
        assert AllocationRound.objects.count() == 6
        large = (
            self.count(self.officer_lx, self.url),
            self.count(self.manager_jn, reverse("desk")),
        )
        assert small == large
