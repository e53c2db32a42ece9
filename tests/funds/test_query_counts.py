"""Every list endpoint costs a fixed number of queries, however many rows it shows (no N+1).

Each test measures a list with N rows and again with 3N rows, and pins the count: the same
constant both times. A change that makes a list cost more queries per row fails here; a
deliberate change of the constant (a new prefetch, say) updates QUERIES below.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from tests.funds.helpers import FundsTestCase

N = 3

# The pinned cost of each list, authentication and pagination included.
QUERIES = {
    # token and user, the user's unit, the count, the page
    "cases": 4,
    # ... the case, the count, the page, the other cases of every account at once
    "accounts": 6,
    # ... the case, the count, the page
    "victims": 5,
    # ... and the victims' own accounts, masked where a transfer names one (PIPL art. 28)
    "transfers": 6,
    # ... the case, the count, the page, the approval steps of the whole page, and the page's
    # banks, issuing units, approvers and victims' banks by one query each where the page has
    # any (funds.selectors.instruction_list: nine tables in one join cost more to plan
    # than to run)
    "case_instructions": 9,
    "events": 5,
    # token and user, the user's unit or institution, the count, the page, its banks,
    # approvers and victims' banks; and for the police the approval steps of the whole page
    # (a bank reads none)
    "instructions_police": 8,
    "instructions_manager": 8,
    "instructions_liaison": 7,
}


class QueryCountTest(FundsTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.serial = 0
        # A second case that shares every account, so that other_cases has rows to show.
        self.other_case = self.report(self.officer_sn)

    # -- building rows ------------------------------------------------------------------

    def next_number(self) -> str:
        self.serial += 1
        return f"62220200{self.serial:08d}"

    def grow_case(self, case_id: int, count: int) -> None:
        """Add ``count`` of everything to a filed case: victims (with their own accounts),
        involved accounts also seen in another case, transfers, an executed stop-payment and
        an approved freeze on each account, and the audit events all that writes."""
        for _ in range(count):
            number = self.next_number()
            victim = self.post(
                self.officer_lx,
                f"/api/v1/cases/{case_id}/victims/",
                {
                    "name": f"被害人{self.serial}",
                    "id_number": "370102199001071234",
                    "phone": "13800138000",
                    "loss_amount": "10000.00",
                    "account_institution": "CCB",
                    "account_number": f"6217{self.serial:012d}",
                },
                201,
            )
            account = self.add_account(case_id, number=number, layer=1 + self.serial % 3)
            self.add_account(self.other_case["id"], number=number, user=self.officer_sn)
            self.post(
                self.officer_lx,
                f"/api/v1/cases/{case_id}/transfers/",
                {
                    "from_account": {
                        "institution": "CCB",
                        "number": f"6217{self.serial:012d}",
                        "holder_name": victim["name"],
                    },
                    "to_account": {"institution": "ICBC", "number": number, "holder_name": "王某"},
                    "amount": "10000.00",
                    "occurred_at": timezone.now().isoformat(),
                    "reference": f"T-{self.serial}",
                },
                201,
            )
            stop = self.ask(
                case_id, {"kind": "stop_payment", "account": account["id"], "amount": "10000.00"}
            )
            self.execute(stop["id"], "8000.00")
            freeze = self.ask(
                case_id,
                {
                    "kind": "freeze",
                    "account": account["id"],
                    "amount": "8000.00",
                    "instrument_number": f"济公冻字〔2026〕{self.serial}号",
                },
            )
            self.approve(freeze["id"])

    def grow_cases(self, count: int) -> None:
        """Add ``count`` filed cases, each with a victim, an account and instructions."""
        for _ in range(count):
            case = self.filed_case()
            self.grow_case(case["id"], 1)

    # -- measuring ----------------------------------------------------------------------

    def measure(self, user: User, path: str) -> tuple[int, dict[str, Any]]:
        client = self.api(user)  # the token exists before counting starts
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        body = self.ok(response)
        return len(queries.captured_queries), body

    def assert_fixed_cost(self, name: str, user: User, path: str, grow) -> None:
        """Measure ``path`` with N rows, grow to 3N rows, measure again: same pinned count."""
        path = f"{path}{'&' if '?' in path else '?'}page_size=200"
        small, body = self.measure(user, path)
        rows_before = body["count"]
        assert len(body["results"]) == rows_before >= N
        grow()
        client = self.api(user)
        with self.assertNumQueries(small):
            response = client.get(path)
        body = self.ok(response)
        rows_after = body["count"]
        assert len(body["results"]) == rows_after >= 2 * rows_before, (rows_before, rows_after)
        assert small == QUERIES[name], f"{name}: {small} queries, pinned {QUERIES[name]}"

    # -- the lists ----------------------------------------------------------------------

    def test_the_case_list_costs_the_same_for_three_times_the_cases(self):
        self.grow_cases(N)
        self.assert_fixed_cost(
            "cases", self.manager_sd, "/api/v1/cases/", lambda: self.grow_cases(2 * N)
        )

    def test_the_account_list_costs_the_same_for_three_times_the_accounts(self):
        case = self.filed_case()
        self.grow_case(case["id"], N)
        self.assert_fixed_cost(
            "accounts",
            self.officer_lx,
            f"/api/v1/cases/{case['id']}/accounts/",
            lambda: self.grow_case(case["id"], 2 * N),
        )

    def test_the_victim_list_costs_the_same_for_three_times_the_victims(self):
        case = self.filed_case()
        self.grow_case(case["id"], N)
        self.assert_fixed_cost(
            "victims",
            self.officer_lx,
            f"/api/v1/cases/{case['id']}/victims/",
            lambda: self.grow_case(case["id"], 2 * N),
        )

    def test_the_transfer_list_costs_the_same_for_three_times_the_transfers(self):
        case = self.filed_case()
        self.grow_case(case["id"], N)
        self.assert_fixed_cost(
            "transfers",
            self.officer_lx,
            f"/api/v1/cases/{case['id']}/transfers/",
            lambda: self.grow_case(case["id"], 2 * N),
        )

    def test_the_case_instruction_list_costs_the_same_for_three_times_the_instructions(self):
        case = self.filed_case()
        self.grow_case(case["id"], N)
        self.assert_fixed_cost(
            "case_instructions",
            self.officer_lx,
            f"/api/v1/cases/{case['id']}/instructions/",
            lambda: self.grow_case(case["id"], 2 * N),
        )

    def test_the_event_list_costs_the_same_for_three_times_the_events(self):
        case = self.filed_case()
        self.grow_case(case["id"], N)
        self.assert_fixed_cost(
            "events",
            self.auditor_sd,
            f"/api/v1/cases/{case['id']}/events/",
            lambda: self.grow_case(case["id"], 2 * N),
        )

    def test_an_officer_s_instruction_list_costs_the_same_for_three_times_the_instructions(self):
        self.grow_cases(N)
        self.assert_fixed_cost(
            "instructions_police",
            self.officer_lx,
            "/api/v1/instructions/",
            lambda: self.grow_cases(2 * N),
        )

    def test_a_manager_s_instruction_list_costs_the_same_for_three_times_the_instructions(self):
        self.grow_cases(N)
        self.assert_fixed_cost(
            "instructions_manager",
            self.manager_sd,
            "/api/v1/instructions/",
            lambda: self.grow_cases(2 * N),
        )

    def test_a_liaison_s_instruction_list_costs_the_same_for_three_times_the_instructions(self):
        self.grow_cases(N)
        self.assert_fixed_cost(
            "instructions_liaison",
            self.liaison_icbc,
            "/api/v1/instructions/",
            lambda: self.grow_cases(2 * N),
        )
