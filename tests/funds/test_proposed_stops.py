"""Stop-payments proposed for the accounts that received money, sent in one click."""

from __future__ import annotations

from funds.models import Instruction, InvolvedAccount
from tests.funds.statement_files import MULE_1, MULE_2, MULE_3, chain_rows, default_file
from tests.funds.test_imports import ImportTestCase


class ProposedStops(ImportTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.ok(self.upload(default_file(chain_rows())), 201)
        self.url = f"/api/v1/cases/{self.case_id}/proposed-stops/"

    def proposed(self, user=None) -> list[dict]:
        return self.ok(self.api(user or self.officer_lx).get(self.url))

    def ids(self, *numbers: str) -> list[int]:
        return [
            InvolvedAccount.objects.get(case_id=self.case_id, account__number=n).pk for n in numbers
        ]

    def test_it_proposes_every_account_that_received_money_with_the_amount(self):
        proposed = self.proposed()
        assert [(p["number"], p["received"], p["layer"]) for p in proposed] == [
            (MULE_1, "50000.00", 1),
            (MULE_2, "30000.00", 2),
            (MULE_3, "20000.00", 3),
        ]

    def test_sending_the_chosen_ones_creates_pending_stops_and_they_leave_the_list(self):
        body = self.post(self.officer_lx, self.url, {"accounts": self.ids(MULE_1, MULE_2)}, 201)
        assert [r["error"] for r in body["results"]] == ["", ""]
        stops = Instruction.objects.filter(case_id=self.case_id, kind="stop_payment")
        assert sorted(
            (s.involved_account.account.number, str(s.requested_amount), s.status) for s in stops
        ) == [
            (MULE_1, "50000.00", "pending"),
            (MULE_2, "30000.00", "pending"),
        ]
        assert [p["number"] for p in self.proposed()] == [MULE_3]

    def test_an_account_not_proposed_is_refused_and_nothing_is_sent(self):
        self.post(self.officer_lx, self.url, {"accounts": self.ids(MULE_1)}, 201)
        body = self.post(self.officer_lx, self.url, {"accounts": self.ids(MULE_1, MULE_3)}, 400)
        assert list(body) == ["accounts"]
        assert Instruction.objects.filter(case_id=self.case_id).count() == 1

    def test_other_cases_are_marked_only_where_the_officer_may_see_them(self):
        near = self.report(self.officer_lx)
        self.add_account(near["id"], number=MULE_2, institution="ABC")
        far = self.report(self.officer_sn)
        self.add_account(far["id"], number=MULE_2, institution="ABC", user=self.officer_sn)
        mule_2 = next(p for p in self.proposed() if p["number"] == MULE_2)
        assert mule_2["other_cases"] == [near["number"]]
        assert mule_2["other_cases_hidden"] == 1
        as_province = next(p for p in self.proposed(self.manager_sd) if p["number"] == MULE_2)
        assert sorted(as_province["other_cases"]) == sorted([near["number"], far["number"]])

    def test_scope_and_roles(self):
        assert self.api(self.officer_sn).get(self.url).status_code == 404
        assert self.api(self.liaison_icbc).get(self.url).status_code == 403
        response = self.api(self.manager_lx).post(
            self.url, {"accounts": self.ids(MULE_1)}, format="json"
        )
        assert response.status_code == 403
        response = self.api(self.officer_sn).post(
            self.url, {"accounts": self.ids(MULE_1)}, format="json"
        )
        assert response.status_code == 404
