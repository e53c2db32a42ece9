"""GET /cases/{id}/graph/: the fund flow's nodes and edges, their sums, scope, query count."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from funds.models import BankAccount, Case, Transfer
from tests.funds.helpers import FundsTestCase

VICTIM_CARD = "6217009900001234"


class GraphTestCase(FundsTestCase):
    """A filed case of 历下 and the shortcuts that give it transfers."""

    def setUp(self) -> None:
        super().setUp()
        self.case = self.filed_case()
        self.serial = 0

    def transfer(
        self,
        source: tuple[str, str],
        target: tuple[str, str],
        amount: str,
        reference: str | None = None,
    ) -> None:
        self.serial += 1
        self.post(
            self.officer_lx,
            f"/api/v1/cases/{self.case['id']}/transfers/",
            {
                "from_account": {
                    "institution": source[0],
                    "number": source[1],
                    "holder_name": "甲",
                },
                "to_account": {"institution": target[0], "number": target[1], "holder_name": "乙"},
                "amount": amount,
                "occurred_at": (timezone.now() + timedelta(minutes=self.serial)).isoformat(),
                "reference": reference or f"T{self.serial:05d}",
            },
            201,
        )

    def graph(self, user=None, case_id: int | None = None, status: int = 200) -> dict[str, Any]:
        response = self.api(user or self.officer_lx).get(
            f"/api/v1/cases/{case_id or self.case['id']}/graph/"
        )
        assert response.status_code == status, response.content
        return response.json() if status == 200 else {}

    @staticmethod
    def edges_by_number(graph: dict[str, Any]) -> dict[tuple[str, str], tuple[str, int]]:
        numbers = {n["id"]: n["number"] for n in graph["nodes"]}
        return {
            (numbers[e["from"]], numbers[e["to"]]): (e["amount"], e["count"])
            for e in graph["edges"]
        }


class GraphTest(GraphTestCase):
    def test_it_draws_a_victim_a_fan_out_and_sums_each_pair(self) -> None:
        victim = self.add_victim(self.case["id"])
        first = self.add_account(self.case["id"], "6222020000000001")
        self.add_account(self.case["id"], "6222020000000002")
        self.transfer(("CCB", VICTIM_CARD), ("ICBC", "6222020000000001"), "3000.00")
        self.transfer(("CCB", VICTIM_CARD), ("ICBC", "6222020000000001"), "2000.50")
        self.transfer(("CCB", VICTIM_CARD), ("ICBC", "6222020000000002"), "1000.00")

        graph = self.graph()

        by_id = {n["id"]: n for n in graph["nodes"]}
        victim_node = by_id[f"v{victim['id']}"]
        assert victim_node["kind"] == "victim"
        assert victim_node["layer"] == 0
        assert victim_node["stage"] is None
        assert victim_node["number"] == "************1234"  # masked
        assert VICTIM_CARD not in str(graph)
        account_node = next(n for n in graph["nodes"] if n["involved_account"] == first["id"])
        assert account_node["kind"] == "account"
        assert account_node["layer"] == 1
        assert account_node["stage"] == "identified"
        assert account_node["institution"] == "ICBC"
        assert account_node["holder_name"] == "王某"
        assert all(isinstance(n["id"], str) for n in graph["nodes"])
        assert len(graph["nodes"]) == 3
        assert self.edges_by_number(graph) == {
            ("************1234", "6222020000000001"): ("5000.50", 2),
            ("************1234", "6222020000000002"): ("1000.00", 1),
        }
        assert {e["from"] for e in graph["edges"]} == {victim_node["id"]}

    def test_it_follows_a_chain_and_a_cycle(self) -> None:
        self.add_account(self.case["id"], "6222020000000001", layer=1)
        self.add_account(self.case["id"], "6222020000000002", layer=2)
        self.transfer(("ICBC", "6222020000000001"), ("ICBC", "6222020000000002"), "900.00")
        # The money goes on to an account not typed in, and part of it comes back: that
        # account joins the case with a derived layer (funds.services.layers).
        self.transfer(("ICBC", "6222020000000002"), ("ABC", "6228480000000003"), "800.00")
        self.transfer(("ABC", "6228480000000003"), ("ICBC", "6222020000000001"), "100.00")
        self.transfer(("ABC", "6228480000000003"), ("ICBC", "6222020000000001"), "50.00")
        # An account that only paid in, which no victim's money reaches: not involved.
        self.transfer(("CCB", "6217000000000009"), ("ICBC", "6222020000000001"), "30.00")

        graph = self.graph()

        derived = next(n for n in graph["nodes"] if n["number"] == "6228480000000003")
        assert (derived["kind"], derived["involved"], derived["layer"]) == ("account", True, 3)
        assert derived["holder_name"] == "乙"  # as the transfer it received recorded it
        unlisted = next(n for n in graph["nodes"] if n["number"] == "6217000000000009")
        assert unlisted["kind"] == "account"
        assert unlisted["involved"] is False
        assert unlisted["layer"] is None
        assert unlisted["stage"] == "identified"
        assert unlisted["holder_name"] == "甲"  # as the transfer it paid recorded it
        assert self.edges_by_number(graph) == {
            ("6222020000000001", "6222020000000002"): ("900.00", 1),
            ("6222020000000002", "6228480000000003"): ("800.00", 1),
            ("6228480000000003", "6222020000000001"): ("150.00", 2),
            ("6217000000000009", "6222020000000001"): ("30.00", 1),
        }

    def test_an_account_of_another_case_counts_in_other_cases(self) -> None:
        other = self.filed_case(self.officer_sn)
        self.add_account(self.case["id"], "6222020000000001")
        self.add_account(other["id"], "6222-0200-0000-0001", user=self.officer_sn)

        (node,) = self.graph()["nodes"]

        assert node["other_cases"] == 1
        assert node["amounts"]["held"] == "0.00"

    def test_another_units_officer_and_a_liaison_get_404(self) -> None:
        self.graph(self.officer_sn, status=404)
        self.graph(self.liaison_icbc, status=404)
        self.graph(self.officer_lx, case_id=999999, status=404)
        assert self.graph(self.manager_sd)["nodes"] == []

    def grow(self, transfers: int) -> None:
        """``transfers`` movements along chains of new accounts, written in bulk."""
        case = Case.objects.get(pk=self.case["id"])
        accounts = BankAccount.objects.bulk_create(
            BankAccount(institution=self.icbc, number=f"99{self.serial:04d}{i:06d}")
            for i in range(transfers + 1)
        )
        self.serial += 1
        Transfer.objects.bulk_create(
            Transfer(
                case=case,
                from_account=accounts[i],
                to_account=accounts[i + 1],
                from_holder_name="甲",
                to_holder_name="乙",
                amount="10.00",
                occurred_at=timezone.now(),
                reference=f"B{i}",
                created_by=self.officer_lx,
            )
            for i in range(transfers)
        )

    def count_queries(self) -> int:
        client = self.api(self.officer_lx)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/api/v1/cases/{self.case['id']}/graph/")
        assert response.status_code == 200
        return len(queries)

    def test_its_queries_do_not_grow_with_the_transfers(self) -> None:
        self.add_victim(self.case["id"])
        self.add_account(self.case["id"], "6222020000000001")
        self.grow(10)
        small = self.count_queries()
        self.grow(90)
        large = self.count_queries()

        assert len(self.graph()["edges"]) == 100
        # token and user, the user's unit, the case, then the graph's four: involved
        # accounts, victims, the accounts seen only in transfers, the edges.
        assert small == large == 7


class FlowPanelTest(GraphTestCase):
    """The case file's graph and the side panel of a clicked node (funds/views/flow.py)."""

    def panel(self, user, node: str, status: int = 200) -> str:
        self.client.force_login(user)
        response = self.client.get(
            f"/cases/{self.case['id']}/flow/{node}/", HTTP_ACCEPT_LANGUAGE="en"
        )
        assert response.status_code == status
        return response.content.decode()

    def test_the_case_file_holds_the_graph_and_its_labels_without_inline_script(self) -> None:
        self.client.force_login(self.officer_lx)
        page = self.client.get(
            f"/cases/{self.case['id']}/", HTTP_ACCEPT_LANGUAGE="en"
        ).content.decode()
        assert f'data-graph-url="/api/v1/cases/{self.case["id"]}/graph/"' in page
        assert '<script id="flow-labels" type="application/json">' in page
        assert "vendor/echarts-6.1.0/echarts.min.js" in page
        assert "js/graph.js" in page

    def test_a_node_shows_its_transfers_and_requests_and_masks_the_victims_card(self) -> None:
        victim = self.add_victim(self.case["id"])
        account = self.add_account(self.case["id"], "6222020000000001")
        self.transfer(("CCB", VICTIM_CARD), ("ICBC", "6222020000000001"), "3000.00")
        self.transfer(("ICBC", "6222020000000001"), ("ABC", "6228480000000003"), "2500.00")
        self.post(
            self.officer_lx,
            f"/api/v1/cases/{self.case['id']}/instructions/",
            {"kind": "stop_payment", "account": account["id"], "amount": "500.00"},
            201,
        )
        node = next(n for n in self.graph()["nodes"] if n["involved_account"] == account["id"])

        html = self.panel(self.officer_lx, node["id"])

        assert "3,000.00" in html and "2,500.00" in html
        assert "6228480000000003" in html
        assert "************1234" in html and VICTIM_CARD not in html
        assert "Stop-payment" in html
        victim_html = self.panel(self.manager_jn, f"v{victim['id']}")
        assert VICTIM_CARD not in victim_html and "3,000.00" in victim_html
        # Asked for as an account node, the victim's card stays masked too.
        card = BankAccount.objects.get(number=VICTIM_CARD)
        assert VICTIM_CARD not in self.panel(self.officer_lx, f"a{card.pk}")

    def test_a_node_outside_the_case_or_scope_is_404(self) -> None:
        self.add_account(self.case["id"], "6222020000000001")
        (node,) = self.graph()["nodes"]
        self.panel(self.officer_sn, node["id"], status=404)
        other = self.filed_case(self.officer_lx)
        self.add_account(other["id"], "6222020000000077")
        stranger = BankAccount.objects.get(number="6222020000000077")
        self.panel(self.officer_lx, f"a{stranger.pk}", status=404)
        self.panel(self.officer_lx, "v999999", status=404)
        self.panel(self.officer_lx, "x1", status=404)
        self.client.force_login(self.liaison_icbc)
        assert self.client.get(f"/cases/{self.case['id']}/flow/{node['id']}/").status_code == 403
