"""Statement imports through the API: templates, all or nothing, re-imports, scope, cost."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from funds.models import Event, InvolvedAccount, StatementImport, Transfer
from tests.funds.helpers import FundsTestCase
from tests.funds.statement_files import (
    DEFAULT_HEADER,
    MULE_1,
    MULE_2,
    MULE_3,
    VICTIM_CARD,
    chain_rows,
    csv_bytes,
    default_file,
    xlsx_bytes,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


class ImportTestCase(FundsTestCase):
    def setUp(self) -> None:
        self.case = self.report()
        self.case_id = self.case["id"]
        self.post(
            self.officer_lx,
            f"/api/v1/cases/{self.case_id}/victims/",
            {
                "name": "张三",
                "id_number": "370102199001071234",
                "phone": "13800000000",
                "loss_amount": "50000.00",
                "account": {"institution": "ICBC", "number": VICTIM_CARD, "holder_name": "张三"},
            },
            201,
        )

    def upload(
        self,
        content: bytes,
        name: str = "statement.csv",
        user=None,
        case_id: int | None = None,
        **fields: str,
    ):
        return self.api(user or self.officer_lx).post(
            f"/api/v1/cases/{case_id or self.case_id}/imports/",
            {"file": SimpleUploadedFile(name, content), **fields},
            format="multipart",
        )

    def layers(self) -> dict[str, int]:
        return dict(
            InvolvedAccount.objects.filter(case_id=self.case_id).values_list(
                "account__number", "layer"
            )
        )


class TheDefaultTemplate(ImportTestCase):
    def test_it_imports_a_utf8_file_with_a_bom_and_derives_the_layers(self):
        response = self.upload(default_file(chain_rows(), encoding="utf-8-sig"))
        body = self.ok(response, 201)
        assert (body["rows"], body["created"], body["skipped"], body["errors"]) == (3, 3, 0, [])
        assert body["template"] == "default"
        assert body["status"] == "done"
        assert len(body["sha256"]) == 64
        transfers = list(Transfer.objects.filter(case_id=self.case_id).order_by("reference"))
        assert [t.amount for t in transfers] == [
            Decimal("50000.00"), Decimal("30000.00"), Decimal("20000.00")
        ]  # fmt: skip
        assert transfers[0].occurred_at == datetime(2026, 3, 1, 10, 2, 3, tzinfo=SHANGHAI)
        assert transfers[1].occurred_at == datetime(2026, 3, 1, 10, 15, tzinfo=SHANGHAI)
        assert transfers[2].to_account.institution.code == "BOC"
        assert self.layers() == {MULE_1: 1, MULE_2: 2, MULE_3: 3}
        assert all(
            InvolvedAccount.objects.filter(case_id=self.case_id).values_list(
                "layer_derived", flat=True
            )
        )
        holder = InvolvedAccount.objects.get(
            case_id=self.case_id, account__number=MULE_2
        ).holder_name
        assert holder == "王五"
        types = list(Event.objects.filter(case_id=self.case_id).values_list("type", flat=True))
        assert types.count("statement_imported") == 1
        assert types.count("account_added") == 3
        assert "transfer_added" not in types
        imported = Event.objects.get(case_id=self.case_id, type="statement_imported")
        assert imported.data["created"] == 3 and imported.data["sha256"] == body["sha256"]

    def test_it_reads_a_gbk_file_with_a_title_padded_and_full_width_values(self):
        rows = [
            ["２０２６－０３－０１ １０:０２:０３", " ICBC\t", "６２２２ ０２００ ００００ １１１１", "张三", "CCB ", f" {MULE_1}\t", "李四", "\t５０，０００．００ ", "R00001"],
        ]  # fmt: skip
        content = default_file(
            rows, encoding="gbk", preamble=["中国工商银行账户交易明细", "卡号：6222********1111,,,"]
        )
        body = self.ok(self.upload(content), 201)
        assert (body["created"], body["errors"]) == (1, [])
        transfer = Transfer.objects.get(case_id=self.case_id)
        assert transfer.from_account.number == VICTIM_CARD
        assert transfer.amount == Decimal("50000.00")

    def test_it_reads_an_xlsx_file_with_a_merged_title_and_excel_datetimes(self):
        rows = [
            ["交易明细（协查）", None, None, None, None, None, None, None, None],
            DEFAULT_HEADER,
            [datetime(2026, 3, 1, 10, 2, 3),  # noqa: DTZ001 - Excel keeps local times naive
  "ICBC", int(VICTIM_CARD), "张三", "CCB", MULE_1, "李四", 50000, "R00001"],
            [datetime(2026, 3, 1, 10, 15),  # noqa: DTZ001
  "CCB", MULE_1, "李四", "ABC", MULE_2, "王五", 1234.5, "R00002"],
        ]  # fmt: skip
        content = xlsx_bytes({"Sheet1": rows}, merge_title=True)
        body = self.ok(self.upload(content, "statement.xlsx"), 201)
        assert (body["rows"], body["created"], body["errors"]) == (2, 2, [])
        assert Transfer.objects.get(reference="R00002").amount == Decimal("1234.50")
        assert self.layers() == {MULE_1: 1, MULE_2: 2}

    def test_a_dry_run_answers_the_counts_and_writes_nothing(self):
        body = self.ok(self.upload(default_file(chain_rows()), dry_run="true"), 200)
        assert (body["rows"], body["created"], body["accounts_added"], body["dry_run"]) == (
            3,
            3,
            3,
            True,
        )
        assert not Transfer.objects.filter(case_id=self.case_id).exists()
        assert not InvolvedAccount.objects.filter(case_id=self.case_id).exists()
        assert not Event.objects.filter(case_id=self.case_id, type="statement_imported").exists()


class AllOrNothing(ImportTestCase):
    def test_one_bad_row_writes_nothing_and_every_error_is_named(self):
        rows = chain_rows()
        rows[1][7] = "三万"
        rows[2][0] = "yesterday"
        rows.append(
            [
                "2026-03-01 11:00:00",
                "Nowhere Bank",
                MULE_3,
                "赵六",
                "ICBC",
                "6222020000009999",
                "钱七",
                "100.00",
                "R00009",
            ]
        )
        before = (Transfer.objects.count(), InvolvedAccount.objects.count(), Event.objects.count())
        body = self.ok(self.upload(default_file(rows)), 400)
        assert body["created"] == 0 and body["status"] == "failed"
        assert body["error_count"] == 3
        assert [(e["row"], e["column"]) for e in body["errors"]] == [
            (3, "交易金额"), (4, "交易时间"), (5, "付款机构")
        ]  # fmt: skip
        assert "Nowhere Bank" in body["errors"][2]["message"]
        assert (
            Transfer.objects.count(),
            InvolvedAccount.objects.count(),
            Event.objects.count(),
        ) == before

    def test_a_missing_required_column_is_an_error_of_the_file(self):
        header = [c for c in DEFAULT_HEADER if c != "交易流水号"]
        rows = [r[:-1] for r in chain_rows()]
        body = self.ok(self.upload(csv_bytes([header, *rows])), 400)
        assert body["errors"] == [
            {
                "row": None,
                "column": "交易流水号",
                "message": "缺少必需的列 交易流水号。",
            }
        ]

    def test_a_bad_template_name_is_a_field_error(self):
        body = self.ok(self.upload(default_file(chain_rows()), template="nope"), 400)
        assert list(body) == ["template"]
        assert not StatementImport.objects.exists()


class ReImports(ImportTestCase):
    def test_importing_the_same_file_twice_creates_nothing_the_second_time(self):
        content = default_file(chain_rows())
        self.ok(self.upload(content), 201)
        body = self.ok(self.upload(content), 201)
        assert (body["created"], body["skipped"], body["accounts_added"]) == (0, 3, 0)
        assert Transfer.objects.filter(case_id=self.case_id).count() == 3

    def test_an_overlapping_file_skips_only_the_overlap_and_duplicates_within_it(self):
        self.ok(self.upload(default_file(chain_rows()[:2])), 201)
        rows = chain_rows()
        rows.append(list(rows[2]))  # the same row twice in the file
        body = self.ok(self.upload(default_file(rows)), 201)
        assert (body["rows"], body["created"], body["skipped"]) == (4, 1, 3)
        assert self.layers() == {MULE_1: 1, MULE_2: 2, MULE_3: 3}

    @override_settings(IMPORT_BATCH_ROWS=2)
    def test_duplicates_across_batches_are_skipped_too(self):
        rows = chain_rows()
        rows += [list(rows[0]), list(rows[1])]
        body = self.ok(self.upload(default_file(rows)), 201)
        assert (body["created"], body["skipped"]) == (3, 2)


class Scope(ImportTestCase):
    def test_another_units_officer_gets_404_for_the_case_and_the_import(self):
        body = self.ok(self.upload(default_file(chain_rows())), 201)
        assert self.upload(default_file(chain_rows()), user=self.officer_sn).status_code == 404
        assert self.api(self.officer_sn).get(body["url"]).status_code == 404
        assert (
            self.api(self.officer_sn).get(f"/api/v1/cases/{self.case_id}/imports/").status_code
            == 404
        )
        assert self.api(self.manager_jn).get(body["url"]).status_code == 200

    def test_a_liaison_may_not_import_or_read_imports(self):
        body = self.ok(self.upload(default_file(chain_rows())), 201)
        assert self.upload(default_file(chain_rows()), user=self.liaison_icbc).status_code == 403
        assert self.api(self.liaison_icbc).get(body["url"]).status_code == 403

    def test_a_manager_may_read_but_not_import(self):
        assert self.upload(default_file(chain_rows()), user=self.manager_lx).status_code == 403
        listed = self.ok(self.api(self.manager_lx).get(f"/api/v1/cases/{self.case_id}/imports/"))
        assert listed["count"] == 0


class Cost(ImportTestCase):
    def queries_to_import(self, count: int, start: int) -> int:
        rows = [
            ["2026-03-01 10:00:00", "CCB", f"62170000{start + i:08d}", "甲", "ABC", f"62284800{start + i:08d}", "乙", "10.00", f"Q{start + i}"]
            for i in range(count)
        ]  # fmt: skip
        with CaptureQueriesContext(connection) as captured:
            body = self.ok(self.upload(default_file(rows)), 201)
        assert body["created"] == count
        return len(captured)

    @override_settings(IMPORT_BATCH_ROWS=1000)
    def test_the_queries_of_an_import_do_not_grow_with_its_rows(self):
        assert self.queries_to_import(50, 0) == self.queries_to_import(500, 10_000)


class Retries(ImportTestCase):
    def post_raw(self, content: bytes, boundary: str, key: str):
        from django.test.client import encode_multipart

        body = encode_multipart(boundary, {"file": SimpleUploadedFile("s.csv", content)})
        return self.api(self.officer_lx).generic(
            "POST",
            f"/api/v1/cases/{self.case_id}/imports/",
            body,
            content_type=f"multipart/form-data; boundary={boundary}",
            HTTP_IDEMPOTENCY_KEY=key,
        )

    def test_a_retried_upload_with_a_new_boundary_replays_the_first_answer(self):
        content = default_file(chain_rows())
        first = self.post_raw(content, "boundary-one-1234", "import-1")
        assert first.status_code == 201
        again = self.post_raw(content, "another-boundary-98765", "import-1")
        assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        assert StatementImport.objects.count() == 1
        other = self.post_raw(default_file(chain_rows(10)), "boundary-one-1234", "import-1")
        assert other.status_code == 422
