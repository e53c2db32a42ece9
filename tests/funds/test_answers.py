"""POST /instructions/answers/ and the inbox's answer file: rows applied one by one."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from openpyxl import Workbook, load_workbook  # type: ignore[import-untyped]
from rest_framework.test import APIClient

from accounts.credentials import api_key_issue
from funds.answer_files import MAX_ROWS
from funds.models import Event, EventType, Instruction, InstructionStatus, InvolvedAccount
from tests.funds.helpers import FundsTestCase

HEADER = ["协查编号", "结果", "执行金额", "业务编号", "理由"]


def csv_file(rows: list[list[Any]], encoding: str = "utf-8", title: str | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    if title:
        writer.writerow([title])
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_file(rows: list[list[Any]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


class AnswersTest(FundsTestCase):
    def setUp(self) -> None:
        super().setUp()
        case = self.filed_case()
        self.stops = []
        for i, institution in enumerate(["ICBC", "ICBC", "ICBC", "ICBC", "CCB"]):
            account = self.add_account(case["id"], f"62220200000000{i:02d}", institution)
            self.stops.append(
                self.post(
                    self.officer_lx,
                    f"/api/v1/cases/{case['id']}/instructions/",
                    {"kind": "stop_payment", "account": account["id"], "amount": "1000.00"},
                    201,
                )["id"]
            )

    def upload(
        self, data: bytes, client: APIClient | None = None, name: str = "answers.csv", **extra: Any
    ) -> Any:
        client = client or self.api(self.liaison_icbc)
        upload = io.BytesIO(data)
        upload.name = name
        return client.post(
            "/api/v1/instructions/answers/", {"file": upload}, format="multipart", **extra
        )

    def status_of(self, pk: int) -> str:
        return Instruction.objects.get(pk=pk).status

    def test_each_row_stands_alone(self) -> None:
        good, bad_amount, already, rejected, other_bank = self.stops
        self.post(
            self.liaison_icbc,
            f"/api/v1/instructions/{already}/execute/",
            {"executed_amount": "800.00", "bank_reference": "ZF-3"},
        )
        rows = [
            [good, "执行", "1,000.00", "ZF-1", ""],
            [bad_amount, "执行", "12.345", "ZF-2", ""],
            [999999, "执行", "10.00", "ZF-X", ""],
            [other_bank, "执行", "10.00", "ZF-5", ""],
            [already, "执行", "800.00", "ZF-3", ""],
            [rejected, "拒绝", "", "", "户名不符"],
        ]

        response = self.upload(csv_file(rows))

        body = self.ok(response)
        assert body["rows"] == 6
        assert body["applied"] == 2
        assert body["skipped"] == 1
        assert body["errors"] == [
            {"row": 3, "column": "执行金额", "message": body["errors"][0]["message"]},
            {"row": 4, "column": "协查编号", "message": body["errors"][1]["message"]},
            {"row": 5, "column": "协查编号", "message": body["errors"][1]["message"]},
        ]
        # Another bank's request reads as a missing one: no leak.
        assert body["errors"][1]["message"] == body["errors"][2]["message"]
        assert self.status_of(good) == InstructionStatus.EXECUTED
        assert Instruction.objects.get(pk=good).executed_amount == Decimal("1000.00")
        assert self.status_of(bad_amount) == InstructionStatus.PENDING
        assert self.status_of(other_bank) == InstructionStatus.PENDING
        assert self.status_of(rejected) == InstructionStatus.REJECTED
        assert Instruction.objects.get(pk=rejected).reject_reason == "户名不符"
        # Audited as single answers are, once each.
        assert (
            Event.objects.filter(instruction_id=good, type=EventType.INSTRUCTION_EXECUTED).count()
            == 1
        )

        again = self.ok(self.upload(csv_file(rows)))
        assert again["applied"] == 0
        assert again["skipped"] == 3  # good, already, rejected
        assert (
            Event.objects.filter(instruction_id=good, type=EventType.INSTRUCTION_EXECUTED).count()
            == 1
        )

    def test_a_request_number_that_is_no_number_is_a_row_error_not_a_server_error(self) -> None:
        good = self.stops[0]
        rows = [
            ["99999999999999999999999", "执行", "10.00", "ZF-1", ""],
            ["²", "执行", "10.00", "ZF-2", ""],
            ["-3", "执行", "10.00", "ZF-3", ""],
            [good, "执行", "10.00", "ZF-4", ""],
        ]
        body = self.ok(self.upload(csv_file(rows)))
        assert [e["row"] for e in body["errors"]] == [2, 3, 4]
        assert {e["column"] for e in body["errors"]} == {"协查编号"}
        assert body["applied"] == 1

    def test_a_row_answered_another_way_is_an_error_and_changes_nothing(self) -> None:
        pk = self.stops[0]
        self.post(
            self.liaison_icbc,
            f"/api/v1/instructions/{pk}/execute/",
            {"executed_amount": "800.00", "bank_reference": "ZF-1"},
        )
        body = self.ok(self.upload(csv_file([[pk, "执行", "900.00", "ZF-1", ""]])))
        assert body["applied"] == 0
        assert body["errors"][0]["column"] == "结果"
        assert Instruction.objects.get(pk=pk).executed_amount == Decimal("800.00")

    def test_it_reads_gbk_csv_with_a_title_row_and_xlsx(self) -> None:
        first, second = self.stops[:2]
        gbk = csv_file([[first, "拒绝", "", "", "账户已冻结"]], "gbk", title="协查结果反馈表")
        body = self.ok(self.upload(gbk))
        assert body["applied"] == 1
        assert body["results"][0]["row"] == 3  # below the title and the header
        assert self.status_of(first) == InstructionStatus.REJECTED

        body = self.ok(
            self.upload(xlsx_file([[second, "执行", 1000, "ZF-9", None]]), name="a.xlsx")
        )
        assert body["applied"] == 1
        assert Instruction.objects.get(pk=second).bank_reference == "ZF-9"

    def test_a_bank_system_answers_with_its_api_key_and_a_retry_replays(self) -> None:
        issued = api_key_issue(actor=self.admin, institution=self.icbc, name="核心系统")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {issued.secret}")
        data = csv_file([[self.stops[0], "执行", "500.00", "ZF-K", ""]])

        first = self.upload(data, client, HTTP_IDEMPOTENCY_KEY="answers-1")
        # A retry is a new multipart body (another boundary) with the same file.
        second = self.upload(data, client, HTTP_IDEMPOTENCY_KEY="answers-1")

        assert self.ok(first)["applied"] == 1
        assert second.status_code == 200
        assert second["Idempotent-Replayed"] == "true"
        assert second.json() == first.json()
        other = self.upload(
            csv_file([[self.stops[1], "拒绝", "", "", "x"]]),
            client,
            HTTP_IDEMPOTENCY_KEY="answers-1",
        )
        assert other.status_code == 422
        assert self.status_of(self.stops[1]) == InstructionStatus.PENDING

    def test_a_file_it_cannot_read_is_a_400_and_changes_nothing(self) -> None:
        pk = self.stops[0]
        no_header = "编号,结果\n1,执行\n".encode()
        too_many = csv_file([[pk, "执行", "1.00", f"R{i}", ""] for i in range(MAX_ROWS + 1)])
        for data in (no_header, too_many, b"\xff\xfe\x00garbage\x81"):
            response = self.upload(data)
            assert response.status_code == 400, response.content
            assert list(response.json()) == ["file"]
        response = self.api(self.liaison_icbc).post(
            "/api/v1/instructions/answers/", {}, format="multipart"
        )
        assert response.status_code == 400
        assert "file" in response.json()
        assert self.status_of(pk) == InstructionStatus.PENDING

    def test_only_a_liaison_may_answer(self) -> None:
        response = self.upload(
            csv_file([[self.stops[0], "拒绝", "", "", "x"]]), self.api(self.officer_lx)
        )
        assert response.status_code == 403
        assert self.status_of(self.stops[0]) == InstructionStatus.PENDING

    def test_the_inbox_template_lists_the_pending_requests_neutralised(self) -> None:
        InvolvedAccount.objects.filter(instructions__pk=self.stops[0]).update(
            holder_name='=HYPERLINK("http://x")'
        )
        self.client.force_login(self.liaison_icbc)
        response = self.client.get("/inbox/answers.xlsx")
        assert response.status_code == 200
        sheet = load_workbook(io.BytesIO(response.content)).active
        assert [c.value for c in sheet[1]][:5] == HEADER
        rows = list(sheet.iter_rows(min_row=2, values_only=True))
        assert {row[0] for row in rows} == set(self.stops[:4])  # ICBC's, not CCB's
        holder = next(row for row in rows if row[0] == self.stops[0])[9]
        assert holder == '\'=HYPERLINK("http://x")'

    def test_the_inbox_upload_shows_each_rows_result(self) -> None:
        self.client.force_login(self.liaison_icbc)
        upload = io.BytesIO(
            csv_file([[self.stops[0], "执行", "1000", "ZF-1", ""], [1, "同意", "", "", ""]])
        )
        upload.name = "answers.csv"
        response = self.client.post("/inbox/answers/", {"file": upload}, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 200
        page = response.content.decode()
        assert 'class="outcome-applied"' in page
        assert 'class="outcome-error"' in page
        assert self.status_of(self.stops[0]) == InstructionStatus.EXECUTED
