"""The officer imports a statement on the case file in a real Chromium: upload, preview with
the invalid rows named, upload the corrected file, commit, and send the proposed stops."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from funds.models import Instruction, StatementImport, Transfer
from funds.services.cases import case_report, victim_add
from tests.browser.conftest import Screenshots
from tests.browser.test_journeys import sessions, world  # noqa: F401 - fixtures
from tests.funds.statement_files import VICTIM_CARD, chain_rows, default_file

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_imports_officer_previews_fixes_and_commits_a_statement(
    world: dict[str, User],  # noqa: F811
    sessions: Any,  # noqa: F811
    screenshots: Screenshots,
    tmp_path: Path,
) -> None:
    officer_user = world["officer_lx"]
    case = case_report(
        actor=officer_user, title="冒充客服退款诈骗", fraud_type="impersonating_customer_service",
        reported_at=timezone.now(),
    )  # fmt: skip
    victim_add(
        actor=officer_user, case=case, name="张三", id_number="370102199001071234",
        phone="13800000000", loss_amount=50000, account_institution_code="ICBC",
        account_number=VICTIM_CARD,
    )  # fmt: skip
    bad_rows = chain_rows()
    bad_rows[1][7] = "三万元"
    bad = tmp_path / "流水-有误.csv"
    bad.write_bytes(default_file(bad_rows, encoding="gbk"))
    good = tmp_path / "流水.csv"
    good.write_bytes(default_file(chain_rows(), encoding="gbk"))

    officer = sessions()
    officer.sign_in("officer_lx", "/cases/")
    page = officer.page
    page.goto(f"/cases/{case.pk}/#imports")

    def upload(path: Path) -> None:
        page.locator("#import-statement summary").click()
        page.set_input_files("#import_file", str(path))
        screenshots.take(page, f"case-file-upload-{path.stem}")
        page.locator("#import-statement button[type=submit]").click()
        page.wait_for_url(re.compile(r"/imports/\d+/$"))

    upload(bad)
    errors = page.locator("#import-errors tbody tr")
    assert errors.count() == 1
    assert "交易金额" in errors.first.inner_text() and "三万元" in errors.first.inner_text()
    assert page.locator("form[action$='/commit/']").count() == 0
    screenshots.take(page, "preview-with-an-invalid-row")
    assert not Transfer.objects.exists()

    page.goto(f"/cases/{case.pk}/#imports")
    upload(good)
    assert page.locator("#import-created").inner_text().strip() == "3"
    assert page.locator("#import-error-count").inner_text().strip() == "0"
    screenshots.take(page, "preview-clean")
    page.locator("form[action$='/commit/'] button").click()
    page.wait_for_url(re.compile(rf"/cases/{case.pk}/"))
    screenshots.take(page, "case-file-imported")

    committed = StatementImport.objects.get(dry_run=False)
    assert committed.created == 3 and committed.file_name == "流水.csv"
    row = page.locator("#imports tbody tr", has_text=committed.sha256[:12])
    assert "流水.csv" in row.inner_text()
    assert page.locator("#accounts tbody tr").count() == 3
    proposed = page.locator("#proposed-stops tbody tr")
    assert proposed.count() == 3
    assert "¥50,000.00" in proposed.first.inner_text()

    page.locator("#proposed-stops tbody input[type=checkbox]").nth(2).uncheck()
    page.locator("#proposed-stops button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/cases/{case.pk}/"))
    screenshots.take(page, "case-file-stops-sent")
    assert Instruction.objects.filter(case=case, kind="stop_payment", status="pending").count() == 2
    assert page.locator("#proposed-stops tbody tr").count() == 1
