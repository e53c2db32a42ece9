"""Accounts in two or more cases of a subtree: GET /accounts/shared/ and /desk/shared-accounts/."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from funds.models import InvolvedAccount
from tests.funds.helpers import FundsTestCase


class SharedAccountsTest(FundsTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.lx1 = self.filed_case(self.officer_lx)
        self.lx2 = self.filed_case(self.officer_lx)
        self.sn = self.filed_case(self.officer_sn)
        # One card in both 历下 cases and in 市南's; another in 历下 and 市南 only; a third
        # in one case alone.
        self.add_account(self.lx1["id"], "6222020000000001")
        self.add_account(self.lx2["id"], "6222 0200 0000 0001")
        self.add_account(self.sn["id"], "6222-0200-0000-0001", user=self.officer_sn)
        self.add_account(self.lx1["id"], "6222020000000002")
        self.add_account(self.sn["id"], "6222020000000002", user=self.officer_sn)
        self.add_account(self.lx2["id"], "6222020000000003")
        InvolvedAccount.objects.filter(
            case_id=self.lx1["id"], account__number="6222020000000001"
        ).update(frozen_amount="5000.00", released_amount="1000.00")

    def shared(self, user, status: int = 200) -> dict:
        response = self.api(user).get("/api/v1/accounts/shared/")
        assert response.status_code == status, response.content
        return response.json()

    def test_the_province_sees_every_shared_account_newest_first(self) -> None:
        body = self.shared(self.manager_sd)

        assert body["count"] == 2
        numbers = [a["number"] for a in body["results"]]
        # 6222...0002 was last involved (in 市南's case) after 0001's last involvement.
        assert numbers == ["6222020000000002", "6222020000000001"]
        first_card = body["results"][1]
        assert first_card["case_count"] == 3
        assert first_card["held"] == "4000.00"
        assert {c["number"] for c in first_card["cases"]} == {
            self.lx1["number"],
            self.lx2["number"],
            self.sn["number"],
        }

    def test_a_county_manager_sees_only_its_own_cases(self) -> None:
        body = self.shared(self.manager_lx)

        assert [a["number"] for a in body["results"]] == ["6222020000000001"]
        (card,) = body["results"]
        assert card["case_count"] == 2
        assert {c["number"] for c in card["cases"]} == {self.lx1["number"], self.lx2["number"]}
        assert self.sn["number"] not in str(body)

    def test_an_auditor_may_read_it_and_an_officer_or_liaison_may_not(self) -> None:
        assert self.shared(self.auditor_sd)["count"] == 2
        self.shared(self.officer_lx, status=403)
        self.shared(self.liaison_icbc, status=403)

    def test_the_page_lists_them_with_links_to_the_cases_in_fixed_queries(self) -> None:
        self.client.force_login(self.manager_sd)
        with CaptureQueriesContext(connection) as few:
            response = self.client.get("/desk/shared-accounts/", HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 200
        page = response.content.decode()
        assert f'href="/cases/{self.sn["id"]}/"' in page
        assert "6222020000000003" not in page
        # More shared accounts cost no more queries.
        for i in range(5):
            number = f"62220200000001{i:02d}"
            self.add_account(self.lx1["id"], number)
            self.add_account(self.lx2["id"], number)
        with CaptureQueriesContext(connection) as more:
            response = self.client.get("/desk/shared-accounts/", HTTP_ACCEPT_LANGUAGE="en")
        assert response.content.decode().count("62220200000001") == 5
        assert len(more) == len(few)

    def test_the_desk_links_to_it_and_an_officer_gets_403(self) -> None:
        self.client.force_login(self.manager_lx)
        desk = self.client.get("/desk/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert 'href="/desk/shared-accounts/"' in desk
        self.client.force_login(self.officer_lx)
        assert self.client.get("/desk/shared-accounts/").status_code == 403
