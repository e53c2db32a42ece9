"""Approvals with opinions and the print views in a real Chromium (issue 13), in Chinese: the
manager sends a freeze back in place, the officer corrects and resubmits it on the case file,
the manager approves it with an opinion; the case file's print view is looked at as paper
(print media) and kept as screenshots."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from funds.models import Instruction, InvolvedAccount
from funds.services import cases as case_services
from funds.services import instructions as instruction_services
from tests.browser.conftest import Screenshots
from tests.browser.test_journeys import sessions, world  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def a_freeze_waiting(officer: User) -> Instruction:
    case = case_services.case_report(
        actor=officer, title="虚假投资理财诈骗", fraud_type="investment", reported_at=timezone.now()
    )
    case_services.case_accept(actor=officer, case=case)
    case_services.case_file(actor=officer, case=case, filing_number="济公立字〔2026〕131号")
    involved_account: InvolvedAccount = case_services.account_add(
        actor=officer,
        case=case,
        institution_code="ICBC",
        number="6222020000000131",
        holder_name="钱某",
        layer=1,
    )
    return instruction_services.instruction_request(
        actor=officer,
        case=case,
        request=instruction_services.InstructionRequest(
            kind="freeze",
            involved_account_id=involved_account.pk,
            amount=Decimal("30000.00"),
            term_months=6,
        ),
    )


def test_documents_a_freeze_sent_back_corrected_approved_and_the_case_file_printed(
    world: dict[str, User],  # noqa: F811
    sessions: Any,  # noqa: F811
    screenshots: Screenshots,
) -> None:
    freeze = a_freeze_waiting(world["officer_lx"])

    manager = sessions()
    manager.sign_in("manager_lx", "/desk/")
    desk = manager.page
    row = desk.locator(f"#approval-{freeze.pk}")
    row.locator("summary", has_text="驳回或退回").click()
    row.locator(f"#reason-{freeze.pk}").fill("冻结金额与银行流水不符，请核实。")
    screenshots.take(desk, "desk-send-back")
    desk.evaluate("window.notReloaded = true")
    row.get_by_role("button", name="退回补正").click()
    row.locator(".badge", has_text="已退回").wait_for(state="visible")
    assert row.get_by_role("button", name="审批通过").count() == 0
    assert desk.evaluate("window.notReloaded") is True, "the desk was reloaded"
    freeze.refresh_from_db()
    assert freeze.sent_back_at is not None

    officer = sessions()
    officer.sign_in("officer_lx", "/cases/")
    page = officer.page
    page.goto(f"/cases/{freeze.case_id}/#instructions")
    steps = page.locator("details.steps").first
    assert "冻结金额与银行流水不符，请核实。" in steps.inner_text()
    form = page.locator(f'form[action="/instructions/{freeze.pk}/resubmit/"]')
    form.locator(f"#resubmit_{freeze.pk}_amount").fill("28000.00")
    form.locator(f"#resubmit_{freeze.pk}_note").fill("已按银行流水核实，金额更正为28000元。")
    screenshots.take(page, "case-file-correction")
    form.get_by_role("button", name="重新呈请审批").click()
    page.locator(".messages", has_text="已补正并重新呈请审批。").wait_for(state="visible")
    freeze.refresh_from_db()
    assert (freeze.sent_back_at, freeze.requested_amount) == (None, Decimal("28000.00"))

    desk.reload()
    row = desk.locator(f"#approval-{freeze.pk}")
    assert "¥28,000.00" in row.inner_text()
    row.locator(f"#opinion-{freeze.pk}").fill("同意冻结，期限六个月。")
    row.get_by_role("button", name="审批通过").click()
    row.locator(".badge", has_text="待机构处理").wait_for(state="visible")
    screenshots.take(desk, "desk-approved-with-opinion")
    freeze.refresh_from_db()
    assert (freeze.status, freeze.approval_opinion) == ("pending", "同意冻结，期限六个月。")

    # A fresh load (the page is at this address already, with its hash: goto would not reload).
    page.reload()
    page.locator("details.steps summary").first.click()
    steps_text = page.locator("details.steps").first.inner_text()
    for word in ("退回补正", "补正后重新呈请", "审批同意", "同意冻结，期限六个月。"):
        assert word in steps_text, word
    screenshots.take(page, "case-file-approval-steps")

    # The case file as paper: the print stylesheet hides the navigation and the buttons.
    page.goto(f"/cases/{freeze.case_id}/print/")
    page.emulate_media(media="print")
    body = page.locator("body").inner_text()
    assert freeze.instrument_number in body and "6222020000000131" in body
    assert page.locator("#print-button").is_visible() is False
    screenshots.take(page, "case-file-printed")
