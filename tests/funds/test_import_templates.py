"""Every template, from a file written the way its source writes it (STATEMENTS.md)."""

from __future__ import annotations

from decimal import Decimal

from funds.models import Transfer
from tests.funds.statement_files import MULE_1, MULE_2, VICTIM_CARD, csv_bytes, xlsx_bytes
from tests.funds.test_imports import ImportTestCase

INQUIRY_HEADER = [
    "交易卡号", "交易账号", "交易户名", "交易证件号码", "交易时间", "交易金额", "交易余额", "收付标志",
    "交易对手账卡号", "对手户名", "对手身份证号", "对手开户银行", "摘要说明", "交易币种", "交易是否成功",
    "交易流水号",
]  # fmt: skip


def inquiry_row(
    flag: str, counterpart: str, bank: str, amount: str, reference: str, ok: str = "是"
):
    return [
        MULE_1, MULE_1, "李四", "370102199001010000", "2026-03-01 10:02:03", amount, "100.00",
        flag, counterpart, "某人", "", bank, "网银转账", "人民币", ok, reference,
    ]  # fmt: skip


class TheBanksReturnToAFundsInquiry(ImportTestCase):
    def test_it_reads_the_direction_from_the_flag_and_the_bank_from_its_branch_name(self):
        rows = [
            INQUIRY_HEADER,
            inquiry_row(
                "进", VICTIM_CARD, "中国工商银行股份有限公司济南历下支行", "50,000.00", "B1"
            ),
            inquiry_row("出", MULE_2, "中国农业银行济南分行", "30000.00", "B2"),
            inquiry_row("借", "6216610000004444", "中国银行", "-100.00", "B3"),
            inquiry_row("出", MULE_2, "中国农业银行", "999.00", "B4", ok="否"),
        ]
        content = xlsx_bytes({"6217000000002222": [["中国建设银行 协查反馈"], *rows]})
        body = self.ok(self.upload(content, "return.xlsx", institution="CCB"), 201)
        assert body["template"] == "bank_inquiry"
        assert (body["rows"], body["created"], body["skipped"]) == (4, 3, 1)
        incoming = Transfer.objects.get(reference="B1")
        assert (incoming.from_account.number, incoming.from_account.institution.code) == (
            VICTIM_CARD,
            "ICBC",
        )
        assert (incoming.to_account.number, incoming.to_account.institution.code) == (MULE_1, "CCB")
        outgoing = Transfer.objects.get(reference="B3")
        assert outgoing.amount == Decimal("100.00")
        assert outgoing.to_account.institution.code == "BOC"
        assert self.layers()[MULE_1] == 1 and self.layers()[MULE_2] == 2

    def test_a_flag_that_contradicts_the_sign_is_an_error_of_its_row(self):
        rows = [INQUIRY_HEADER, inquiry_row("进", VICTIM_CARD, "工商银行", "-500.00", "B1")]
        body = self.ok(self.upload(csv_bytes(rows, encoding="gbk"), institution="CCB"), 400)
        assert [(e["row"], e["column"]) for e in body["errors"]] == [(2, "收付标志")]
        assert not Transfer.objects.exists()

    def test_it_needs_to_know_which_bank_returned_it(self):
        rows = [INQUIRY_HEADER, inquiry_row("进", VICTIM_CARD, "工商银行", "500.00", "B1")]
        body = self.ok(self.upload(csv_bytes(rows)), 400)
        assert [e["column"] for e in body["errors"]] == ["institution"]

    def test_an_unknown_counterparty_bank_is_named(self):
        rows = [INQUIRY_HEADER, inquiry_row("进", VICTIM_CARD, "火星银行", "500.00", "B1")]
        body = self.ok(self.upload(csv_bytes(rows), institution="CCB"), 400)
        assert body["errors"][0]["column"] == "对手开户银行"
        assert "火星银行" in body["errors"][0]["message"]


PAYMENT_HEADER = [
    "查询账号", "付款方支付帐号", "收款方支付帐号", "支付机构内部订单号", "交易时间", "借贷标志",
    "交易金额", "交易余额", "付款方银行卡号", "收款方银行卡号", "交易类型", "收款方的商户名称", "备注",
]  # fmt: skip


class ThePaymentInstitutionsReturn(ImportTestCase):
    def test_card_funding_and_withdrawal_rows_are_movements_between_card_and_account(self):
        rows = [
            PAYMENT_HEADER,
            ["2088000000000001", "", "2088000000000001", "P1", "2026-03-01 10:05:00", "贷", "1,000.00", "1000.00", VICTIM_CARD, "", "充值", "", ""],
            ["2088000000000001", "2088000000000001", "", "P2", "2026-03-01 10:07:00", "借", "900.00", "100.00", "", MULE_2, "提现", "", ""],
            ["2088000000000001", "2088000000000001", "2088000000000002", "P3", "2026-03-01 10:09:00", "借", "100.00", "0.00", "", "", "转账", "某商户", ""],
        ]  # fmt: skip
        body = self.ok(self.upload(csv_bytes(rows), institution="ALIPAY"), 201)
        assert (body["template"], body["created"]) == ("payment_return", 3)
        funding = Transfer.objects.get(reference="P1")
        assert funding.from_account.institution.code == "ICBC"  # by the card's BIN
        assert funding.to_account.institution.code == "ALIPAY"
        withdrawal = Transfer.objects.get(reference="P2")
        assert withdrawal.to_account.institution.code == "ABC"
        assert Transfer.objects.get(reference="P3").to_holder_name == "某商户"
        assert self.layers() == {"2088000000000001": 1, MULE_2: 2, "2088000000000002": 2}

    def test_a_flag_against_the_queried_accounts_side_is_an_error(self):
        rows = [
            PAYMENT_HEADER,
            ["2088000000000001", "2088000000000001", "2088000000000002", "P3", "2026-03-01 10:09:00", "贷", "100.00", "0.00", "", "", "转账", "", ""],
        ]  # fmt: skip
        body = self.ok(self.upload(csv_bytes(rows), institution="ALIPAY"), 400)
        assert [(e["row"], e["column"]) for e in body["errors"]] == [(2, "借贷标志")]


WECHAT_PREAMBLE = [
    "微信支付账单明细",
    "微信昵称：[张三]",
    "起始时间：[2026-03-01 00:00:00] 终止时间：[2026-03-31 23:59:59]",
    "导出类型：[全部]",
    "导出时间：[2026-04-01 09:00:00]",
    "",
    "共2笔记录",
    "收入：0笔 0.00元",
    "支出：2笔 50100.00元",
    "中性交易：0笔 0.00元",
    "注：",
    "1. 充值/提现/理财通购买/零钱通存取/信用卡还款等交易，将计入中性交易",
    "2. 本明细仅展示当前账单中的交易，不包括已删除的记录",
    "3. 本明细仅供个人对账使用",
    "",
    "----------------------微信支付账单明细列表--------------------",
]
WECHAT_HEADER = ["交易时间", "交易类型", "交易对方", "商品", "收/支", "金额(元)", "支付方式", "当前状态", "交易单号", "商户单号", "备注"]  # fmt: skip
ALIPAY_HEADER = ["交易号", "商家订单号", "交易创建时间", "付款时间", "最近修改时间", "交易来源地", "类型", "交易对方", "商品名称", "金额（元）", "收/支", "交易状态", "服务费（元）", "成功退款（元）", "备注", "资金状态"]  # fmt: skip


class AVictimsOwnExport(ImportTestCase):
    def assert_refused_whole(self, body, label: str) -> None:
        assert body["created"] == 0
        assert len(body["errors"]) == 1
        error = body["errors"][0]
        assert (error["row"], error["column"]) == (None, "file")
        assert label in error["message"] and "资金查询反馈流水" in error["message"]

    def test_a_wechat_bill_after_its_preamble_is_recognised_and_refused_with_one_error(self):
        rows = [WECHAT_HEADER, ["2026-03-01 10:02:03", "转账", "李四", "/", "支出", "¥50,000.00", "零钱", "对方已收钱", "1000050001", "/", "/"]]  # fmt: skip
        body = self.ok(self.upload(csv_bytes(rows, preamble=WECHAT_PREAMBLE)), 400)
        assert body["template"] == "wechat_bill"
        self.assert_refused_whole(body, "微信支付账单")

    def test_a_gbk_alipay_bill_with_padded_values_is_recognised_and_refused(self):
        rows = [
            [f"{c}\t" for c in ALIPAY_HEADER],
            ["2026030122001\t", "\t", "2026-03-01 10:02:03 ", "", "", "其他", "即时到账交易", "李四", "转账", "50000.00 ", "支出", "交易成功", "0", "0", "", "已支出"],
        ]  # fmt: skip
        preamble = ["支付宝交易记录明细查询", "账号:[zhangsan@example.com]", "起始日期:[2026-03-01 00:00:00]    终止日期:[2026-03-31 23:59:59]", "---------------------------------交易记录明细列表------------------------------------"]  # fmt: skip
        body = self.ok(self.upload(csv_bytes(rows, encoding="gbk", preamble=preamble)), 400)
        assert body["template"] == "alipay_bill"
        self.assert_refused_whole(body, "支付宝账单")

    def test_an_icbc_export_with_its_card_line_is_recognised_and_refused(self):
        header = ["交易日期", "摘要", "交易场所", "交易国家或地区简称", "钞/汇", "交易金额(收入)", "交易金额(支出)", "交易币种", "记账金额(收入)", "记账金额(支出)", "记账币种", "余额", "对方户名"]  # fmt: skip
        rows = [header, ["2026-03-01 ", "转账", "网银", "CHN", "钞", "-", '"50,000.00"', "人民币", "-", "50,000.00", "人民币", "100.00\t", "李四\t"]]  # fmt: skip
        body = self.ok(
            self.upload(csv_bytes(rows, preamble=["卡号: 6222****1111", "子账户: 00001"])), 400
        )
        assert body["template"] == "icbc_export"
        self.assert_refused_whole(body, "工商银行明细")

    def test_a_file_without_any_known_header_names_the_contracts_missing_columns(self):
        body = self.ok(self.upload(csv_bytes([["a", "b"], ["1", "2"]])), 400)
        assert {e["column"] for e in body["errors"]} >= {"交易时间", "交易流水号"}

    def test_an_old_xls_file_is_refused_with_a_hint(self):
        body = self.ok(self.upload(b"\xd0\xcf\x11\xe0" + b"\0" * 100, "old.xls"), 400)
        assert ".xlsx" in body["errors"][0]["message"]


class AChosenTemplate(ImportTestCase):
    def test_a_chosen_template_finds_its_header_below_a_preamble(self):
        from tests.funds.statement_files import chain_rows, default_file

        body = self.ok(
            self.upload(default_file(chain_rows(), preamble=["流水", ""]), template="default"), 201
        )
        assert body["created"] == 3
        body = self.ok(self.upload(default_file(chain_rows()), template="bank_inquiry"), 400)
        assert "交易卡号" in {e["column"] for e in body["errors"]}


class TheFastPathOfTheDefaultTemplate(ImportTestCase):
    """Plain rows are converted by a precompiled converter; it must answer what the full
    conversion answers, and leave to it (None) every row it cannot read the same way."""

    def test_it_answers_the_full_conversions_movement_or_leaves_the_row_to_it(self):
        from funds.statements.institutions import InstitutionResolver
        from funds.statements.templates import (
            DEFAULT_COLUMNS,
            TEMPLATES,
            Cells,
            Context,
            RowInvalid,
        )

        template = TEMPLATES["default"]
        header = list(DEFAULT_COLUMNS)
        context = Context(InstitutionResolver())
        fast = template.fast(header, context)
        assert fast is not None
        plain = ["2026-03-01 10:02:03", "ICBC", VICTIM_CARD, "张三", "ABC", MULE_1, "李四",
                 "1,234.50", "R1"]  # fmt: skip
        variants = {
            "plain": {},
            "a bank's name": {1: "中国工商银行"},
            "a padded number": {2: f" {VICTIM_CARD}\t"},
            "a full-width amount": {7: "１２３.４５"},
            "a currency mark": {7: "¥1,234.50"},
            "three places": {7: "1.005"},
            "a zero amount": {7: "0.00"},
            "misplaced separators": {7: "12,34.50"},
            "too many digits": {7: "999,999,999,999"},
            "milliseconds": {0: "2026-03-01 10:02:03.123"},
            "a slashed date": {0: "2026/03/01 10:02"},
            "a zone": {0: "2026-03-01T02:02:03+00:00"},
            "no time": {0: ""},
            "an unknown bank": {4: "某某银行"},
            "a masked number": {5: "6222****1234"},
            "a long holder": {6: "名" * 101},
            "a long reference": {8: "R" * 65},
            "an empty marker": {8: "--"},
            "a quoted number": {5: f'="{MULE_1}"'},
        }
        answered = set()
        for name, changes in variants.items():
            cells = [changes.get(i, value) for i, value in enumerate(plain)]
            quick = fast(cells)
            try:
                full = template.convert(Cells(dict(zip(header, cells, strict=True))), 2, context)
            except RowInvalid:
                assert quick is None, name
                continue
            if quick is None:
                continue
            answered.add(name)
            assert (
                quick[0] == full.occurred_at
                and quick[0].utcoffset() == full.occurred_at.utcoffset()
            ), name
            assert quick[1:7] == (
                full.from_institution_id, full.from_number, full.from_holder,
                full.to_institution_id, full.to_number, full.to_holder,
            ), name  # fmt: skip
            assert Decimal(quick[7]) == full.amount and quick[8] == full.reference, name
        assert {"plain", "a bank's name", "a zone"} <= answered
