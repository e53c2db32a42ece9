"""Approvals with opinions (docs/documents.md, "Approvals"): approve with an opinion, decline
(驳回) with a reason, send back (退回) for correction and resubmit, through the API; the steps
on the instruction and in the approval form (呈请…报告书), which is a PDF."""

from __future__ import annotations

import re
from typing import Any

from django.urls import reverse

from funds.models import (
    Deadline,
    DeadlineKind,
    Document,
    Event,
    EventType,
    Instruction,
    Notification,
    OutgoingMail,
)
from tests.funds.helpers import FundsTestCase
from tests.funds.test_documents import keep_pictures, pdf_fonts, pdf_text


class ApprovalTestCase(FundsTestCase):
    def setUp(self) -> None:
        self.case = self.filed_case()
        self.account = self.add_account(self.case["id"])
        self.freeze = self.ask(
            self.case["id"],
            {"kind": "freeze", "account": self.account["id"], "amount": "6000.00"},
        )

    def act(
        self, action: str, body: dict[str, Any] | None = None, user=None, status: int = 200
    ) -> dict[str, Any]:
        return self.ok(
            self.api(user or self.manager_lx).post(
                f"/api/v1/instructions/{self.freeze['id']}/{action}/", body or {}, format="json"
            ),
            status,
        )

    def events(self, *types: str) -> list[Event]:
        return list(
            Event.objects.filter(instruction=self.freeze["id"], type__in=types).order_by("id")
        )


class ApproveWithAnOpinionTest(ApprovalTestCase):
    def test_the_opinion_is_kept_on_the_instruction_in_the_trail_and_in_the_steps(self):
        approved = self.act("approve", {"opinion": "同意冻结。"})
        assert approved["status"] == "pending"
        assert approved["approval_opinion"] == "同意冻结。"
        (event,) = self.events(EventType.INSTRUCTION_APPROVED)
        assert event.data["opinion"] == "同意冻结。"
        assert event.data["unit"] == "370102" and event.data["unit_name"] == "历下区分局"
        assert [(s["action"], s["actor"], s["text"]) for s in approved["approval_steps"]] == [
            ("requested", "officer_lx", ""),
            ("approved", "manager_lx", "同意冻结。"),
        ]
        assert approved["approval_steps"][1]["unit"] == "历下区分局"

    def test_an_approval_without_a_body_still_works_as_the_contract_says(self):
        approved = self.approve(self.freeze["id"])
        assert approved["status"] == "pending" and approved["approval_opinion"] == ""

    def test_an_opinion_longer_than_a_form_holds_is_refused_and_changes_nothing(self):
        answer = self.act("approve", {"opinion": "同" * 2001}, status=400)
        assert "opinion" in answer
        assert Instruction.objects.get(pk=self.freeze["id"]).status == "awaiting_approval"


class DeclineTest(ApprovalTestCase):
    def test_a_declined_request_never_goes_out(self):
        declined = self.act("decline", {"reason": "证据不足，暂不冻结。"})
        assert declined["status"] == "declined"
        assert declined["decline_reason"] == "证据不足，暂不冻结。"
        assert declined["declined_at"] is not None
        assert declined["instrument_number"] == ""  # never numbered
        instruction = Instruction.objects.get(pk=self.freeze["id"])
        assert instruction.declined_by == self.manager_lx and instruction.approved_at is None
        # The approval clock is met; the bank has nothing to see or answer.
        clock = Deadline.objects.get(instruction=instruction, kind=DeadlineKind.APPROVAL)
        assert clock.met_at is not None
        assert not Deadline.objects.filter(
            instruction=instruction, kind=DeadlineKind.BANK_RESPONSE
        ).exists()
        listed = self.ok(self.api(self.liaison_icbc).get("/api/v1/instructions/"))
        assert self.freeze["id"] not in [row["id"] for row in listed["results"]]
        self.ok(
            self.api(self.officer_lx).get(f"/api/v1/instructions/{self.freeze['id']}/document/"),
            409,
        )
        assert not Document.objects.exists()
        (event,) = self.events(EventType.INSTRUCTION_DECLINED)
        assert event.actor == self.manager_lx
        assert event.data["reason"] == "证据不足，暂不冻结。"
        assert (event.data["before"], event.data["after"]) == ("awaiting_approval", "declined")
        assert [s["action"] for s in declined["approval_steps"]] == ["requested", "declined"]
        # The account is free for a new freeze.
        again = self.ask(
            self.case["id"],
            {"kind": "freeze", "account": self.account["id"], "amount": "6000.00"},
        )
        assert again["status"] == "awaiting_approval"

    def test_a_decline_needs_a_reason(self):
        for body in ({}, {"reason": ""}, {"reason": "   "}):
            with self.subTest(body=body):
                answer = self.act("decline", body, status=400)
                assert "reason" in answer
        assert Instruction.objects.get(pk=self.freeze["id"]).status == "awaiting_approval"
        assert not self.events(EventType.INSTRUCTION_DECLINED)

    def test_a_declined_request_cannot_be_approved_declined_or_sent_back_again(self):
        self.act("decline", {"reason": "不符合冻结条件。"})
        for action, body in [
            ("approve", {}),
            ("decline", {"reason": "再次驳回"}),
            ("send-back", {"reason": "补正"}),
        ]:
            with self.subTest(action=action):
                self.act(action, body, status=409)
        assert len(self.events(EventType.INSTRUCTION_DECLINED)) == 1

    def test_a_declined_request_gives_its_entered_number_up(self):
        self.act("send-back", {"reason": "请填写外部文书编号。"})
        self.post(
            self.officer_lx,
            f"/api/v1/instructions/{self.freeze['id']}/resubmit/",
            {"instrument_number": "济公冻字〔2026〕7号"},
        )
        self.act("decline", {"reason": "重复申请。"})
        again = self.ask(
            self.case["id"],
            {
                "kind": "freeze",
                "account": self.account["id"],
                "amount": "6000.00",
                "instrument_number": "济公冻字〔2026〕7号",
            },
        )
        assert again["instrument_number"] == "济公冻字〔2026〕7号"


class WhoMayDecideTest(ApprovalTestCase):
    def test_only_a_manager_who_could_approve_may_decline_or_send_back(self):
        for action in ("decline", "send-back"):
            with self.subTest(action=action):
                body = {"reason": "理由"}
                self.act(action, body, user=self.officer_lx, status=403)
                self.act(action, body, user=self.liaison_icbc, status=403)
                self.act(action, body, user=self.auditor_sd, status=403)
        # 市南's bureau is outside a Jinan manager's scope: not found, as for reading it.
        qingdao = self.filed_case(self.officer_sn)
        account = self.add_account(qingdao["id"], user=self.officer_sn)
        freeze = self.ask(
            qingdao["id"],
            {"kind": "freeze", "account": account["id"], "amount": "10.00"},
            user=self.officer_sn,
        )
        self.ok(
            self.api(self.manager_jn).post(
                f"/api/v1/instructions/{freeze['id']}/decline/", {"reason": "x"}, format="json"
            ),
            404,
        )
        assert Instruction.objects.get(pk=self.freeze["id"]).status == "awaiting_approval"
        assert Instruction.objects.get(pk=freeze["id"]).status == "awaiting_approval"

    def test_a_return_is_declined_only_at_city_level(self):
        case, _account, freeze = self.frozen_account(number="6222020000000099")
        victim = self.add_victim(case["id"], "8000.00")
        back = self.ask(
            case["id"],
            {"kind": "return", "freeze": freeze["id"], "victim": victim["id"], "amount": "100.00"},
        )
        path = f"/api/v1/instructions/{back['id']}/decline/"
        self.ok(self.api(self.manager_lx).post(path, {"reason": "x"}, format="json"), 403)
        declined = self.ok(
            self.api(self.manager_jn).post(path, {"reason": "被害人身份待核实。"}, format="json")
        )
        assert declined["status"] == "declined"


class SendBackTest(ApprovalTestCase):
    def send_back(self) -> dict[str, Any]:
        return self.act("send-back", {"reason": "金额与流水不符，请核实。"})

    def resubmit(self, body: dict[str, Any], user=None, status: int = 200) -> dict[str, Any]:
        return self.ok(
            self.api(user or self.officer_lx).post(
                f"/api/v1/instructions/{self.freeze['id']}/resubmit/", body, format="json"
            ),
            status,
        )

    def test_the_officer_corrects_and_resubmits_and_the_manager_then_approves(self):
        sent = self.send_back()
        assert sent["status"] == "awaiting_approval" and sent["sent_back"] is True
        # While the officer corrects, nobody approves it.
        refused = self.act("approve", {"opinion": "同意"}, status=409)
        assert refused["code"] == "invalid_state"
        self.act("send-back", {"reason": "again"}, status=409)
        resubmitted = self.resubmit(
            {"amount": "5500.00", "term_months": 3, "note": "已按流水核实金额。"}
        )
        assert resubmitted["sent_back"] is False
        assert resubmitted["requested_amount"] == "5500.00" and resubmitted["term_months"] == 3
        (event,) = self.events(EventType.INSTRUCTION_RESUBMITTED)
        assert event.actor == self.officer_lx
        assert event.data["changes"] == {
            "requested_amount": ["6000.00", "5500.00"],
            "term_months": [6, 3],
        }
        assert event.data["note"] == "已按流水核实金额。"
        approved = self.act("approve", {"opinion": "同意"})
        assert approved["status"] == "pending"
        steps = approved["approval_steps"]
        assert [(s["action"], s["actor"]) for s in steps] == [
            ("requested", "officer_lx"),
            ("sent_back", "manager_lx"),
            ("resubmitted", "officer_lx"),
            ("approved", "manager_lx"),
        ]
        assert steps[1]["text"] == "金额与流水不符，请核实。"
        assert steps[2]["text"] == "已按流水核实金额。"
        assert steps[2]["changes"]["requested_amount"] == ["6000.00", "5500.00"]
        # The approval clock ran on through the correction: the law's time does not stop.
        clock = Deadline.objects.get(instruction=self.freeze["id"], kind=DeadlineKind.APPROVAL)
        assert clock.met_at is not None

    def test_only_a_request_sent_back_is_resubmitted_and_only_by_its_units_officer(self):
        self.resubmit({"note": "x"}, status=409)
        self.send_back()
        self.resubmit({"note": "x"}, user=self.officer_sn, status=404)
        self.resubmit({"note": "x"}, user=self.manager_lx, status=403)
        self.resubmit({"note": "x"}, user=self.liaison_icbc, status=403)
        assert Instruction.objects.get(pk=self.freeze["id"]).sent_back_at is not None
        assert not self.events(EventType.INSTRUCTION_RESUBMITTED)

    def test_a_correction_obeys_the_rules_of_the_request_and_a_refused_one_changes_nothing(self):
        self.send_back()
        for body, field in [
            ({"term_months": 7}, "term_months"),
            ({"amount": "0"}, "amount"),
            ({"amount": "abc"}, "amount"),
            ({"instrument_number": "x" * 65}, "instrument_number"),
        ]:
            with self.subTest(body=body):
                answer = self.resubmit(body, status=400)
                assert field in answer, answer
        instruction = Instruction.objects.get(pk=self.freeze["id"])
        assert instruction.sent_back_at is not None
        assert (instruction.requested_amount, instruction.term_months) == (6000, 6)
        assert not self.events(EventType.INSTRUCTION_RESUBMITTED)

    def test_a_corrected_return_still_fits_what_the_victim_is_owed(self):
        case, _account, freeze = self.frozen_account(number="6222020000000099")
        victim = self.add_victim(case["id"], "3000.00")
        back = self.ask(
            case["id"],
            {"kind": "return", "freeze": freeze["id"], "victim": victim["id"], "amount": "2000.00"},
        )
        self.post(
            self.manager_jn, f"/api/v1/instructions/{back['id']}/send-back/", {"reason": "核实"}
        )
        path = f"/api/v1/instructions/{back['id']}/resubmit/"
        refused = self.ok(
            self.api(self.officer_lx).post(path, {"amount": "3000.01"}, format="json"), 409
        )
        assert "3000.00" in refused["detail"]
        corrected = self.post(self.officer_lx, path, {"amount": "3000.00"})
        assert corrected["requested_amount"] == "3000.00"

    def test_a_request_withdrawn_while_sent_back_waits_for_nobody(self):
        self.send_back()
        cancelled = self.post(self.officer_lx, f"/api/v1/instructions/{self.freeze['id']}/cancel/")
        assert cancelled["status"] == "cancelled" and cancelled["sent_back"] is False


class ApprovalStepsVisibilityTest(ApprovalTestCase):
    def test_a_bank_never_reads_the_approval(self):
        self.act("approve", {"opinion": "同意，内部意见。"})
        path = f"/api/v1/instructions/{self.freeze['id']}/"
        mine = self.ok(self.api(self.liaison_icbc).get(path))
        assert mine["approval_steps"] == []
        listed = self.ok(self.api(self.liaison_icbc).get("/api/v1/instructions/"))
        assert all(row["approval_steps"] == [] for row in listed["results"])
        for liaison in (self.liaison_icbc, self.liaison_ccb):
            self.ok(self.api(liaison).get(path + "approval-form/"), 403)

    def test_a_police_list_reads_every_rows_steps_in_one_query(self):
        for number in ("6222020000000002", "6222020000000003", "6222020000000004"):
            account = self.add_account(self.case["id"], number=number)
            self.ask(self.case["id"], {"kind": "freeze", "account": account["id"], "amount": "1"})
        client = self.api(self.manager_lx)
        client.get("/api/v1/instructions/")  # warm the token and the session

        def queries() -> int:
            from django.db import connection
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as captured:
                answer = self.ok(client.get("/api/v1/instructions/"))
            assert all(len(row["approval_steps"]) == 1 for row in answer["results"])
            return len(captured)

        few = queries()
        for number in ("6222020000000005", "6222020000000006"):
            account = self.add_account(self.case["id"], number=number)
            self.ask(self.case["id"], {"kind": "freeze", "account": account["id"], "amount": "1"})
        assert queries() == few


class ApprovalFormTest(ApprovalTestCase):
    def test_the_approval_form_is_a_pdf_with_every_step_of_the_approval(self):
        self.act("send-back", {"reason": "请补充流水依据。"})
        self.post(
            self.officer_lx,
            f"/api/v1/instructions/{self.freeze['id']}/resubmit/",
            {"amount": "1234.56", "note": "已补充银行流水。"},
        )
        approved = self.act("approve", {"opinion": "同意冻结，期限六个月。"})
        response = self.api(self.officer_lx).get(
            f"/api/v1/instructions/{self.freeze['id']}/approval-form/"
        )
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        pdf = response.content
        assert pdf.startswith(b"%PDF")
        text = pdf_text(pdf)
        for word in [
            "呈请冻结财产报告书",
            "济南市公安局历下区分局",
            self.case["number"],
            "6222020000000001",
            "1,234.56",
            "壹仟贰佰叁拾肆元伍角陆分",
            "请补充流水依据。",
            "已补充银行流水。",
            "同意冻结，期限六个月。",
            approved["instrument_number"],
            "退回补正",
            "审批同意",
        ]:
            assert word in text.replace(" ", ""), word
        assert all(font["emb"] == "yes" for font in pdf_fonts(pdf))
        assert keep_pictures(pdf, "approval-form-freeze")
        # The same approval renders the same bytes.
        again = self.api(self.manager_lx).get(
            f"/api/v1/instructions/{self.freeze['id']}/approval-form/"
        )
        assert again.content == pdf

    def test_a_declined_requests_form_says_so(self):
        self.act("decline", {"reason": "不符合冻结条件。"})
        pdf = self.api(self.manager_jn).get(
            f"/api/v1/instructions/{self.freeze['id']}/approval-form/"
        )
        text = pdf_text(pdf.content).replace(" ", "")
        assert "已驳回" in text and "不符合冻结条件。" in text


HTMX = {"HTTP_HX_REQUEST": "true"}


class ApprovalPagesTest(ApprovalTestCase):
    """The same flows through the desk and the case file, as a manager and an officer use them."""

    def page(self, user, path: str, data: dict[str, Any] | None = None, **extra: Any) -> Any:
        client = self.client_class()
        client.force_login(user)
        if data is None:
            return client.get(path, **extra)
        return client.post(path, data, **extra)

    def row(self, html: str) -> str:
        match = re.search(rf'<tr id="approval-{self.freeze["id"]}".*?</tr>', html, flags=re.S)
        assert match, "no approval row"
        return match.group(0)

    def test_the_desk_offers_an_opinion_a_decline_and_a_send_back(self):
        html = self.page(self.manager_lx, reverse("desk")).content.decode()
        row = self.row(html)
        pk = self.freeze["id"]
        assert f'action="/desk/{pk}/approve/"' in row and 'name="opinion"' in row
        assert "同意。" in row  # the opinion offered, to be changed at will
        assert f'formaction="/desk/{pk}/decline/"' in row and "驳回" in row
        assert f'formaction="/desk/{pk}/send-back/"' in row and "退回补正" in row
        assert f'href="/instructions/{pk}/approval-form/"' in row

    def test_approving_with_an_opinion_in_place(self):
        response = self.page(
            self.manager_lx,
            f"/desk/{self.freeze['id']}/approve/",
            {"opinion": "同意冻结。"},
            **HTMX,
        )
        assert response.status_code == 200
        assert response.content.decode().lstrip().startswith("<tr")
        instruction = Instruction.objects.get(pk=self.freeze["id"])
        assert (instruction.status, instruction.approval_opinion) == ("pending", "同意冻结。")

    def test_declining_without_a_reason_says_so_in_the_row_and_changes_nothing(self):
        response = self.page(
            self.manager_lx, f"/desk/{self.freeze['id']}/decline/", {"reason": " "}, **HTMX
        )
        html = response.content.decode()
        assert 'role="alert"' in html and "请说明驳回的理由。" in html
        assert Instruction.objects.get(pk=self.freeze["id"]).status == "awaiting_approval"

    def test_declining_from_the_desk_shows_the_reason_on_the_case_file(self):
        response = self.page(
            self.manager_lx, f"/desk/{self.freeze['id']}/decline/", {"reason": "证据不足。"}
        )
        assert response.status_code == 302 and response["Location"] == reverse("desk")
        assert Instruction.objects.get(pk=self.freeze["id"]).status == "declined"
        html = self.page(self.officer_lx, reverse("case-detail", args=[self.case["id"]]))
        html = html.content.decode()
        assert "已驳回" in html and "证据不足。" in html and "刘晓" in html

    def test_send_back_correct_and_resubmit_through_the_pages(self):
        pk = self.freeze["id"]
        self.page(self.manager_lx, f"/desk/{pk}/send-back/", {"reason": "金额有误，请核实。"})
        desk = self.row(self.page(self.manager_lx, reverse("desk")).content.decode())
        assert "已退回" in desk and f"/desk/{pk}/approve/" not in desk
        case_url = reverse("case-detail", args=[self.case["id"]])
        html = self.page(self.officer_lx, case_url).content.decode()
        assert "金额有误，请核实。" in html
        assert f'action="/instructions/{pk}/resubmit/"' in html
        assert f'id="resubmit_{pk}_amount"' in html and f'id="resubmit_{pk}_term_months"' in html
        assert f'id="resubmit_{pk}_reason"' not in html  # a freeze gives no reason to correct
        # A bad correction is named and changes nothing.
        response = self.page(
            self.officer_lx, f"/instructions/{pk}/resubmit/", {"amount": "-5", "note": ""}
        )
        assert response.status_code == 302
        assert Instruction.objects.get(pk=pk).sent_back_at is not None
        response = self.page(
            self.officer_lx,
            f"/instructions/{pk}/resubmit/",
            {"amount": "5800.00", "term_months": "6", "note": "金额已核实。"},
        )
        assert response.status_code == 302 and response["Location"].endswith("#instructions")
        instruction = Instruction.objects.get(pk=pk)
        assert instruction.sent_back_at is None and str(instruction.requested_amount) == "5800.00"
        html = self.page(self.officer_lx, case_url).content.decode()
        assert "补正后重新呈请" in html and "金额已核实。" in html
        assert f'action="/instructions/{pk}/resubmit/"' not in html
        # Another unit's officer and the bank cannot.
        self.page(self.officer_sn, f"/instructions/{pk}/resubmit/", {"note": "x"})
        self.page(self.liaison_icbc, f"/instructions/{pk}/resubmit/", {"note": "x"})
        assert len(self.events(EventType.INSTRUCTION_RESUBMITTED)) == 1

    def test_the_approval_form_downloads_from_the_pages_for_the_police_only(self):
        pk = self.freeze["id"]
        response = self.page(self.manager_lx, f"/instructions/{pk}/approval-form/")
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
        assert "呈请冻结财产报告书" in pdf_text(response.content).replace(" ", "")
        assert self.page(self.liaison_icbc, f"/instructions/{pk}/approval-form/").status_code == 403
        assert self.page(self.officer_sn, f"/instructions/{pk}/approval-form/").status_code == 404


class OfficerToldTest(ApprovalTestCase):
    def notices(self) -> list[Notification]:
        return list(
            Notification.objects.filter(instruction=self.freeze["id"], recipient=self.officer_lx)
        )

    def test_the_officer_is_told_of_a_send_back_again_after_each_correction(self):
        self.act("send-back", {"reason": "请核实金额。"})
        (note,) = self.notices()
        assert (note.reason, note.read_at) == ("sent_back", None)
        page = self.ok(self.api(self.officer_lx).get("/api/v1/notifications/"))
        assert page["results"][0]["reason"] == "sent_back"
        self.post(self.officer_lx, f"/api/v1/notifications/{note.pk}/read/")
        self.post(
            self.officer_lx,
            f"/api/v1/instructions/{self.freeze['id']}/resubmit/",
            {"amount": "5000.00"},
        )
        self.act("send-back", {"reason": "期限也请核实。"})
        (again,) = self.notices()
        assert again.pk == note.pk and again.read_at is None
        assert again.created_at > note.created_at
        assert OutgoingMail.objects.filter(notification=note).count() == (
            1 if self.officer_lx.email else 0
        )

    def test_the_officer_is_told_of_a_decline_and_the_mail_keeps_the_reason_inside(self):
        self.officer_lx.email = "lm@lx.police.example"
        self.officer_lx.save(update_fields=["email"])
        self.act("decline", {"reason": "证据不足，暂不冻结。"})
        (note,) = self.notices()
        assert note.reason == "declined"
        mail = OutgoingMail.objects.get(notification=note)
        assert mail.to == "lm@lx.police.example"
        assert "已驳回" in mail.subject and self.case["number"] in mail.subject
        assert "6222020000000001" not in mail.subject  # the account masked in mail
        assert "证据不足" not in mail.body and f"/cases/{self.case['id']}/" in mail.body
