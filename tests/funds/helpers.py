"""Shortcuts that drive the API the way a user would, for tests that need a case in a stage."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from tests.base import CaseTrackerTestCase


class FundsTestCase(CaseTrackerTestCase):
    def ok(self, response: Any, status: int = 200) -> dict[str, Any]:
        assert response.status_code == status, (response.status_code, response.content.decode())
        return response.json()

    def report(self, user=None, **fields: Any) -> dict[str, Any]:
        body = {
            "title": "冒充客服退款诈骗",
            "fraud_type": "impersonating_customer_service",
            "reported_at": timezone.now().isoformat(),
            **fields,
        }
        return self.ok(
            self.api(user or self.officer_lx).post("/api/v1/cases/", body, format="json"), 201
        )

    def post(
        self, user, path: str, body: dict[str, Any] | None = None, status: int = 200
    ) -> dict[str, Any]:
        return self.ok(self.api(user).post(path, body or {}, format="json"), status)

    def filed_case(self, user=None) -> dict[str, Any]:
        user = user or self.officer_lx
        case = self.report(user)
        self.post(user, f"/api/v1/cases/{case['id']}/accept/")
        return self.post(
            user, f"/api/v1/cases/{case['id']}/file/", {"filing_number": "济公立字〔2026〕101号"}
        )

    def add_account(
        self,
        case_id: int,
        number: str = "6222020000000001",
        institution: str = "ICBC",
        user=None,
        layer: int = 1,
    ) -> dict[str, Any]:
        return self.post(
            user or self.officer_lx,
            f"/api/v1/cases/{case_id}/accounts/",
            {"institution": institution, "number": number, "holder_name": "王某", "layer": layer},
            201,
        )

    def add_victim(
        self,
        case_id: int,
        loss: str = "10000.00",
        name: str = "张三",
        user=None,
        account: dict[str, str] | None = None,
        with_account: bool = True,
    ) -> dict[str, Any]:
        """A victim with their own account at CCB (returns are paid to it, R9), unless
        ``with_account`` is False."""
        body: dict[str, Any] = {
            "name": name,
            "id_number": "370102199001071234",
            "phone": "13800138000",
            "loss_amount": loss,
        }
        if with_account:
            body["account"] = account or {
                "institution": "CCB",
                "number": "6217009900001234",
                "holder_name": name,
            }
        return self.post(user or self.officer_lx, f"/api/v1/cases/{case_id}/victims/", body, 201)

    def ask(
        self, case_id: int, body: dict[str, Any], user=None, status: int = 201
    ) -> dict[str, Any]:
        return self.ok(
            self.api(user or self.officer_lx).post(
                f"/api/v1/cases/{case_id}/instructions/", body, format="json"
            ),
            status,
        )

    def execute(
        self, instruction_id: int, amount: str, user=None, status: int = 200
    ) -> dict[str, Any]:
        return self.ok(
            self.api(user or self.liaison_icbc).post(
                f"/api/v1/instructions/{instruction_id}/execute/",
                {"executed_amount": amount, "bank_reference": f"REF-{instruction_id}"},
                format="json",
            ),
            status,
        )

    def approve(self, instruction_id: int, user=None, status: int = 200) -> dict[str, Any]:
        return self.ok(
            self.api(user or self.manager_lx).post(
                f"/api/v1/instructions/{instruction_id}/approve/"
            ),
            status,
        )

    def frozen_account(
        self, amount: str = "8000.00", number: str = "6222020000000001"
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """A filed case with an ICBC account frozen for ``amount``: (case, account, freeze)."""
        case = self.filed_case()
        account = self.add_account(case["id"], number=number)
        freeze = self.ask(
            case["id"],
            {
                "kind": "freeze",
                "account": account["id"],
                "amount": amount,
            },
        )
        self.approve(freeze["id"])
        freeze = self.execute(freeze["id"], amount)
        return case, account, freeze
