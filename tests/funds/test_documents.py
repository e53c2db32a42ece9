"""The instruments as PDF (API.md, "Documents"; docs/documents.md): what they say, their
fonts, their fixed bytes and hash, who may download them, and their numbers.

The PDFs are read back with poppler's pdftotext and pdffonts, and drawn with pdftoppm into
test-artifacts/documents/ (git-ignored), where they are kept for a person to look at.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import TransactionTestCase, override_settings
from django.utils import timezone
from PIL import Image, ImageStat

from accounts.models import Organization
from funds.documents.capitals import yuan_in_capitals
from funds.models import (
    Document,
    Event,
    Instruction,
    InstructionKind,
    InstrumentCounter,
    InstrumentSeries,
)
from funds.models.documents import validate_pattern
from tests.base import CaseTrackerTestCase
from tests.funds.helpers import FundsTestCase

ARTEFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "documents"


def poppler(tool: str, *args: str, stdin: bytes) -> str:
    """Run a poppler tool over a PDF given on standard input ("-")."""
    if shutil.which(tool) is None:
        raise AssertionError(
            f"{tool} is missing: the README's test command installs Debian's poppler-utils."
        )
    done = subprocess.run([tool, *args], input=stdin, capture_output=True, check=True, timeout=60)
    return done.stdout.decode()


def pdf_text(pdf: bytes) -> str:
    return poppler("pdftotext", "-layout", "-enc", "UTF-8", "-", "-", stdin=pdf)


def pdf_fonts(pdf: bytes) -> list[dict[str, str]]:
    lines = poppler("pdffonts", "-", stdin=pdf).splitlines()[2:]
    fonts = []
    for line in lines:
        parts = line.split()
        # name type... encoding emb sub uni object ID
        fonts.append({"name": parts[0], "emb": parts[-5], "sub": parts[-4], "uni": parts[-3]})
    return fonts


def keep_pictures(pdf: bytes, name: str) -> list[Path]:
    """Draw every page as PNG under ARTEFACTS/name-N.png; answer the files."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTEFACTS.glob(f"{name}-*.png"):
        old.unlink()
    (ARTEFACTS / f"{name}.pdf").write_bytes(pdf)
    poppler(
        "pdftoppm",
        "-r",
        "60",
        "-png",
        str(ARTEFACTS / f"{name}.pdf"),
        str(ARTEFACTS / name),
        stdin=b"",
    )
    return sorted(ARTEFACTS.glob(f"{name}-*.png"))


class CapitalsTest(CaseTrackerTestCase):
    def test_it_writes_amounts_as_cheques_and_instruments_do(self):
        for amount, words in [
            ("1234.56", "壹仟贰佰叁拾肆元伍角陆分"),
            ("20000", "贰万元整"),
            ("20000.00", "贰万元整"),
            ("0.05", "伍分"),
            ("0.50", "伍角整"),
            ("10", "壹拾元整"),
            ("1.05", "壹元零伍分"),
            ("1409.50", "壹仟肆佰零玖元伍角整"),
            ("6007.14", "陆仟零柒元壹角肆分"),
            ("107000.53", "壹拾万柒仟元伍角叁分"),
            ("100000001", "壹亿零壹元整"),
            ("100010000.01", "壹亿零壹万元零壹分"),
            ("300000000", "叁亿元整"),
            ("0", "零元整"),
        ]:
            with self.subTest(amount=amount):
                assert yuan_in_capitals(Decimal(amount)) == words

    def test_it_refuses_a_negative_amount(self):
        with self.assertRaises(ValueError):
            yuan_in_capitals(Decimal("-1"))


class DocumentTestCase(FundsTestCase):
    def download(self, instruction_id: int, user=None, status: int = 200) -> Any:
        response = self.api(user or self.officer_lx).get(
            f"/api/v1/instructions/{instruction_id}/document/"
        )
        assert response.status_code == status, (response.status_code, response.content[:300])
        return response

    def instruction(self, instruction_id: int, user=None) -> dict[str, Any]:
        return self.ok(
            self.api(user or self.officer_lx).get(f"/api/v1/instructions/{instruction_id}/")
        )

    def stop(self, case_id: int, account_id: int, amount: str = "20000.00") -> dict[str, Any]:
        return self.ask(case_id, {"kind": "stop_payment", "account": account_id, "amount": amount})

    def assert_document(
        self, instruction: dict[str, Any], *, words: list[str], name: str, user=None
    ) -> str:
        """Download, check the text, the fonts, the hash; keep the pages as pictures."""
        response = self.download(instruction["id"], user=user)
        assert response["Content-Type"] == "application/pdf"
        pdf = response.content
        assert pdf.startswith(b"%PDF-")
        digest = hashlib.sha256(pdf).hexdigest()
        assert response["ETag"] == f'"{digest}"'
        assert self.instruction(instruction["id"])["document_sha256"] == digest
        text = pdf_text(pdf)
        for word in words:
            assert word in text, (word, text)
        fonts = pdf_fonts(pdf)
        assert fonts, "the PDF names no fonts"
        for font in fonts:
            assert font["emb"] == "yes", fonts
            assert font["sub"] == "yes", fonts
        assert any("CJK" in font["name"] for font in fonts), fonts
        pages = keep_pictures(pdf, name)
        assert len(pages) >= 3  # the stub, the notice and the receipt
        for page in pages:
            with Image.open(page) as picture:
                # Ink on the page: not a blank or uniformly grey sheet.
                assert ImageStat.Stat(picture.convert("L")).stddev[0] > 10, page
        return digest


class InstrumentsTest(DocumentTestCase):
    def test_a_stop_payment_is_issued_when_it_is_requested(self):
        case = self.filed_case()
        account = self.add_account(case["id"], number="6222020200112233445")
        stop = self.stop(case["id"], account["id"], "20000.00")
        year = timezone.localtime().year
        assert stop["instrument_number"] == f"济历公(刑)止付字〔{year}〕00001号"
        self.assert_document(
            stop,
            name="stop_payment",
            words=[
                "紧急止付通知书",
                stop["instrument_number"],
                "济南市公安局历下区分局",
                case["number"],
                "中国工商银行",
                "6222020200112233445",
                "王某",
                "￥20,000.00",
                "贰万元整",
                "（存",
                "（回",
                "48小时",
            ],
        )

    def test_a_freeze_is_issued_at_its_approval_and_409_before(self):
        case = self.filed_case()
        account = self.add_account(case["id"])
        freeze = self.ask(
            case["id"],
            {"kind": "freeze", "account": account["id"], "amount": "1234.56", "term_months": 6},
        )
        response = self.download(freeze["id"], status=409)
        assert response.json()["detail"] == "申请审批通过后方出具文书。"
        assert not Document.objects.exists()
        with self.captureOnCommitCallbacks(execute=True):
            approved = self.approve(freeze["id"])
        # Rendered right after the approval committed, before anyone downloads it.
        assert Document.objects.filter(instruction=freeze["id"]).exists()
        digest = self.assert_document(
            approved,
            name="freeze",
            words=[
                "协助冻结财产通知书",
                approved["instrument_number"],
                "济南市公安局历下区分局",
                "中国工商银行",
                "6222020000000001",
                "￥1,234.56",
                "壹仟贰佰叁拾肆元伍角陆分",
                "冻结期限为6个月",
                "刑事诉讼法",
                "（公章）",
            ],
        )
        (event,) = Event.objects.filter(type="document_issued")
        assert event.instruction_id == freeze["id"]
        assert event.actor == self.manager_lx  # issued right after the approval
        assert event.data["sha256"] == digest
        assert event.data["instrument_number"] == approved["instrument_number"]
        assert event.data["issuing_unit"] == "370102"

    def test_renewal_release_and_return_documents_say_what_they_do(self):
        case, _account, freeze = self.frozen_account("8000.00")
        renewal = self.ask(
            case["id"], {"kind": "renewal", "freeze": freeze["id"], "term_months": 3}
        )
        renewal = self.approve(renewal["id"])
        self.assert_document(
            renewal,
            name="renewal",
            words=[
                "协助继续冻结财产通知书",
                renewal["instrument_number"],
                freeze["instrument_number"],
                "继续冻结期限为3个月",
                "捌仟元整",
            ],
        )
        release = self.ask(
            case["id"],
            {
                "kind": "release",
                "freeze": freeze["id"],
                "amount": "1000.50",
                "reason": "经查与案件无关",
            },
        )
        release = self.approve(release["id"])
        self.assert_document(
            release,
            name="release",
            words=[
                "协助解除冻结财产通知书",
                release["instrument_number"],
                "壹仟元伍角整",
                "经查与案件无关",
                freeze["instrument_number"],
            ],
        )
        victim = self.add_victim(case["id"], "5000.00", "张三")
        ret = self.ask(
            case["id"],
            {"kind": "return", "freeze": freeze["id"], "victim": victim["id"], "amount": "3000.00"},
        )
        ret = self.approve(ret["id"], user=self.manager_jn)  # R9: city level
        self.assert_document(
            ret,
            name="return",
            words=[
                "冻结资金返还决定书",
                "协助返还冻结资金通知书",
                ret["instrument_number"],
                "叁仟元整",
                "张三",
                "中国建设银行",
                "1234",
            ],
        )
        # PIPL: the victim's own account is masked in a file every reader of the case can
        # download; the paying bank reads it in full on the return itself.
        text = pdf_text(self.download(ret["id"]).content)
        assert "6217009900001234" not in text

    def test_the_same_bytes_come_back_on_every_download_to_everyone_who_may_see_it(self):
        case = self.filed_case()
        account = self.add_account(case["id"])
        stop = self.stop(case["id"], account["id"])
        first = self.download(stop["id"]).content
        for user in (
            self.officer_lx,
            self.manager_jn,
            self.manager_sd,
            self.auditor_sd,
            self.liaison_icbc,
        ):
            with self.subTest(user=user.username):
                assert self.download(stop["id"], user=user).content == first
        assert Event.objects.filter(type="document_issued").count() == 1
        # Rendering again (a font or library upgrade would change the bytes) is never done
        # once issued: the stored document answers.
        Document.objects.filter(instruction=stop["id"]).update(pdf=first)
        assert self.download(stop["id"]).content == first

    def test_other_banks_and_units_do_not_see_it(self):
        case = self.filed_case()
        account = self.add_account(case["id"])
        stop = self.stop(case["id"], account["id"])
        self.download(stop["id"], user=self.liaison_ccb, status=404)
        self.download(stop["id"], user=self.officer_sn, status=404)
        self.download(999999, status=404)
        self.download("x", status=404)
        assert self.api().get(f"/api/v1/instructions/{stop['id']}/document/").status_code == 401

    def test_it_answers_a_client_that_asks_for_pdf_and_errors_as_json(self):
        case = self.filed_case()
        account = self.add_account(case["id"])
        freeze = self.ask(case["id"], {"kind": "freeze", "account": account["id"], "amount": "10"})
        client = self.api(self.officer_lx)
        response = client.get(
            f"/api/v1/instructions/{freeze['id']}/document/", HTTP_ACCEPT="application/pdf"
        )
        assert response.status_code == 409
        assert response["Content-Type"].startswith("application/json")
        assert "detail" in response.json()
        stop = self.stop(case["id"], account["id"])
        response = client.get(
            f"/api/v1/instructions/{stop['id']}/document/", HTTP_ACCEPT="application/pdf"
        )
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"


class NumbersTest(DocumentTestCase):
    def test_a_station_case_takes_its_county_bureaus_numbering(self):
        case = self.filed_case(self.officer_station)
        account = self.add_account(case["id"], user=self.officer_station)
        stop = self.ask(
            case["id"],
            {"kind": "stop_payment", "account": account["id"], "amount": "100"},
            user=self.officer_station,
        )
        assert stop["instrument_number"].startswith("济历公(刑)止付字")
        assert stop["issuing_unit"] == "370102"

    def test_a_unit_without_numbering_uses_the_default_pattern(self):
        unit = Organization.objects.create(
            code="370199", name="高新区分局", kind="police", level="county", parent=self.jinan
        )
        officer = self.make_officer(unit)
        case = self.filed_case(officer)
        account = self.add_account(case["id"], user=officer)
        stop = self.ask(
            case["id"],
            {"kind": "stop_payment", "account": account["id"], "amount": "100"},
            user=officer,
        )
        year = timezone.localtime().year
        assert stop["instrument_number"] == f"370199公(刑)止付字〔{year}〕00001号"
        text = pdf_text(self.download(stop["id"], user=officer).content)
        assert "济南市公安局高新区分局" in text

    def test_numbers_run_on_per_unit_kind_and_year(self):
        case = self.filed_case()
        year = timezone.localtime().year
        numbers = []
        for n in range(3):
            account = self.add_account(case["id"], number=f"622202000000010{n}")
            numbers.append(self.stop(case["id"], account["id"])["instrument_number"])
        assert numbers == [f"济历公(刑)止付字〔{year}〕{n:05d}号" for n in (1, 2, 3)]
        other = self.filed_case(self.officer_sn)
        account = self.add_account(other["id"], user=self.officer_sn)
        stop = self.ask(
            other["id"],
            {"kind": "stop_payment", "account": account["id"], "amount": "1"},
            user=self.officer_sn,
        )
        assert stop["instrument_number"] == f"青市南公(刑)止付字〔{year}〕00001号"
        assert (
            InstrumentCounter.objects.get(unit=self.lixia, kind="stop_payment", year=year).last == 3
        )

    def test_a_number_issued_elsewhere_is_kept_unique_in_its_unit_and_kind(self):
        case = self.filed_case()
        first = self.add_account(case["id"], number="6222020000000101")
        second = self.add_account(case["id"], number="6222020000000102")
        freeze = self.ask(
            case["id"],
            {
                "kind": "freeze",
                "account": first["id"],
                "amount": "10",
                "instrument_number": " 外字1号 ",
            },
        )
        assert freeze["instrument_number"] == "外字1号"
        assert freeze["instrument_source"] == "entered"
        before = Instruction.objects.count()
        response = self.api(self.officer_lx).post(
            f"/api/v1/cases/{case['id']}/instructions/",
            {
                "kind": "freeze",
                "account": second["id"],
                "amount": "10",
                "instrument_number": "外字1号",
            },
            format="json",
        )
        assert response.status_code == 400
        assert "instrument_number" in response.json()
        assert Instruction.objects.count() == before
        # The same number of another kind is another series.
        self.stop(case["id"], second["id"])
        approved = self.approve(freeze["id"])
        assert approved["instrument_number"] == "外字1号"  # approval keeps an entered number

    def test_an_entered_number_in_the_series_is_stepped_over(self):
        year = timezone.localtime().year
        case = self.filed_case()
        accounts = [self.add_account(case["id"], number=f"62220200000002{n}") for n in range(2)]
        entered = f"济历公(刑)冻财字〔{year}〕00001号"
        self.ask(
            case["id"],
            {
                "kind": "freeze",
                "account": accounts[0]["id"],
                "amount": "10",
                "instrument_number": entered,
            },
        )
        freeze = self.ask(
            case["id"], {"kind": "freeze", "account": accounts[1]["id"], "amount": "10"}
        )
        assert (
            self.approve(freeze["id"])["instrument_number"] == f"济历公(刑)冻财字〔{year}〕00002号"
        )

    def test_an_administrator_sets_a_units_pattern_which_is_checked(self):
        for bad in [
            "冻字{year}",
            "{number}{number}",
            "{unit}{number}",
            "{number:q}",
            "{number",
            "{0}",
        ]:
            with self.subTest(pattern=bad), self.assertRaises(ValidationError):
                validate_pattern(bad)
        validate_pattern("历公冻字〔{year}〕{number:03d}号")
        series = InstrumentSeries.objects.get(unit=self.lixia, kind=InstructionKind.FREEZE)
        client = self.client
        client.force_login(self.admin)
        response = client.post(
            f"/admin/funds/instrumentseries/{series.pk}/change/",
            {"unit": self.lixia.pk, "kind": "freeze", "pattern": "{bad}"},
        )
        assert response.status_code == 200  # the form again, with the error
        series.refresh_from_db()
        assert series.pattern.startswith("济历公")

    def make_officer(self, unit):
        from accounts.models import Role, User

        return User.objects.create_user(
            "officer_gx", password="x-pass-2026-long", role=Role.OFFICER, organization=unit
        )


@override_settings(DOCUMENTS_RENDER_INLINE_MAX=0)
class BulkIssueTest(DocumentTestCase):
    def test_an_intakes_stop_payments_are_rendered_by_the_worker_or_on_first_download(self):
        # With the worker away (eager tasks off, no worker in this test), the first download
        # renders what the worker has not yet.
        case = self.filed_case()
        account = self.add_account(case["id"])
        with self.captureOnCommitCallbacks(execute=False):
            stop = self.stop(case["id"], account["id"])
        assert not Document.objects.exists()
        assert self.instruction(stop["id"])["document_sha256"] is None
        digest = hashlib.sha256(self.download(stop["id"]).content).hexdigest()
        assert self.instruction(stop["id"])["document_sha256"] == digest


class ConcurrentNumbersTest(TransactionTestCase):
    """Approvals at the same moment in one unit take consecutive numbers, none twice."""

    def test_concurrent_approvals_take_consecutive_numbers_without_gaps(self):
        from accounts.models import User
        from devdata.world import build_demo_world
        from funds.services.cases import account_add, case_accept, case_file, case_report
        from funds.services.instructions import (
            InstructionRequest,
            instruction_approve,
            instruction_request,
        )

        build_demo_world()
        officer = User.objects.get(username="officer_lx")
        manager = User.objects.get(username="manager_lx")
        case = case_report(
            actor=officer, title="并发审批", fraud_type="investment", reported_at=timezone.now()
        )
        case_accept(actor=officer, case=case)
        case_file(actor=officer, case=case, filing_number="济公立字〔2026〕9号")
        freezes = []
        for n in range(8):
            involved = account_add(
                actor=officer,
                case=case,
                institution_code="ICBC",
                number=f"62220200000003{n:02d}",
                holder_name="王某",
                layer=1,
            )
            freezes.append(
                instruction_request(
                    actor=officer,
                    case=case,
                    request=InstructionRequest(
                        kind="freeze",
                        involved_account_id=involved.pk,
                        amount=Decimal("10"),
                        term_months=6,
                    ),
                )
            )
        barrier = threading.Barrier(4)
        errors: list[BaseException] = []

        def approve(chunk: list[Instruction]) -> None:
            try:
                barrier.wait()
                for freeze in chunk:
                    instruction_approve(actor=manager, instruction=freeze)
            except BaseException as exc:
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=approve, args=(freezes[i::4],)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        year = timezone.localtime().year
        numbers = sorted(
            Instruction.objects.filter(kind="freeze").values_list("instrument_number", flat=True)
        )
        assert numbers == [f"济历公(刑)冻财字〔{year}〕{n:05d}号" for n in range(1, 9)]


class DocumentPagesTest(DocumentTestCase):
    def page(self, user, path: str) -> Any:
        client = self.client_class()
        client.force_login(user)
        return client.get(path)

    def test_the_case_file_and_the_inbox_link_the_issued_instruments(self):
        case = self.filed_case()
        account = self.add_account(case["id"])
        stop = self.stop(case["id"], account["id"])
        freeze = self.ask(case["id"], {"kind": "freeze", "account": account["id"], "amount": "10"})
        link = f'href="/instructions/{stop["id"]}/document/"'
        html = self.page(self.officer_lx, f"/cases/{case['id']}/").content.decode()
        assert link in html
        assert f'href="/instructions/{freeze["id"]}/document/"' not in html  # not approved yet
        assert f'href="/cases/{case["id"]}/print/"' in html
        assert link in self.page(self.liaison_icbc, "/inbox/").content.decode()
        response = self.page(self.liaison_icbc, f"/instructions/{stop['id']}/document/")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert response.content == self.download(stop["id"]).content  # the same stored bytes
        assert (
            self.page(self.liaison_ccb, f"/instructions/{stop['id']}/document/").status_code == 404
        )
        response = self.page(self.officer_lx, f"/instructions/{freeze['id']}/document/")
        assert response.status_code == 409

    def test_the_case_file_prints_with_personal_data_masked(self):
        case = self.filed_case()
        account = self.add_account(case["id"])
        self.add_victim(case["id"], "5000.00", "张三")
        stop = self.stop(case["id"], account["id"])
        response = self.page(self.officer_lx, f"/cases/{case['id']}/print/")
        assert response.status_code == 200
        html = response.content.decode()
        assert '<html lang="zh-hans">' in html
        for word in [
            "案卷",
            case["number"],
            "张三",
            "370102********1234",
            stop["instrument_number"],
            "6222020000000001",
            "济南市公安局历下区分局",
        ]:
            assert word in html, word
        for secret in ["370102199001071234", "13800138000", "6217009900001234"]:
            assert secret not in html
        response = self.page(self.officer_lx, f"/cases/{case['id']}/print.pdf")
        assert response.status_code == 200
        pdf = response.content
        words = pdf_text(pdf)
        assert case["number"] in words and stop["instrument_number"] in words
        assert "370102199001071234" not in words
        assert all(font["emb"] == "yes" for font in pdf_fonts(pdf))
        assert keep_pictures(pdf, "case-file")
        for user, status in (
            (self.officer_sn, 404),
            (self.liaison_icbc, 403),
            (self.manager_sd, 200),
        ):
            with self.subTest(user=user.username):
                assert self.page(user, f"/cases/{case['id']}/print/").status_code == status
                assert self.page(user, f"/cases/{case['id']}/print.pdf").status_code == status


class DocumentFontsCheckTest(CaseTrackerTestCase):
    def test_it_says_at_start_up_when_the_documents_font_is_missing(self):
        from funds.documents.checks import document_fonts_check

        assert document_fonts_check() == []
        with override_settings(DOCUMENT_FONT="No Such Font CJK"):
            (error,) = document_fonts_check()
        assert error.id == "funds.E002"
        assert "No Such Font CJK" in error.msg
