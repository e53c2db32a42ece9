"""The three users' journeys in a real Chromium (issue 5), on the demo world, signed in through
the sign-in form, in Chinese: the officer logs a report and stops the account; the liaison sees
the request arrive without reloading and executes part of it in place; the manager approves a
freeze in place and sees the totals change once the bank has frozen the money."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from devdata.world import DEMO_PASSWORD, build_demo_world
from funds.models import Case, Instruction, InvolvedAccount
from funds.services import cases as case_services
from funds.services import instructions as instruction_services
from tests.browser.conftest import Screenshots

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

POLL_WAIT_MS = 15_000  # the inbox polls every 5 s


class Session:
    """One user's browser context: its page, and every console error or failed script."""

    def __init__(self, chromium: Any, base_url: str) -> None:
        self.base_url = base_url
        self.context = chromium.new_context(
            locale="zh-CN", viewport={"width": 1280, "height": 900}, base_url=base_url
        )
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("response", self._response)

    # The browser asks for /favicon.ico by itself; the pages declare none, so it is a 404
    # that no page caused. Anything else failing (a script, a CSP refusal, a 4xx or 5xx
    # answer) fails the journey.
    @staticmethod
    def _favicon(url: str) -> bool:
        return url.endswith("/favicon.ico")

    def _console(self, message: Any) -> None:
        if message.type == "error" and not self._favicon(message.location.get("url", "")):
            self.errors.append(f"console: {message.text} ({message.location.get('url')})")

    def _response(self, response: Any) -> None:
        if response.status >= 400 and not self._favicon(response.url):
            self.errors.append(f"{response.status} {response.url}")

    def sign_in(self, username: str, lands_on: str, screenshots: Screenshots | None = None) -> None:
        page = self.page
        page.goto("/login/")
        assert page.locator("main h1").inner_text() == "登录"
        page.fill("#id_username", username)
        page.fill("#id_password", DEMO_PASSWORD)
        if screenshots is not None:
            screenshots.take(page, "sign-in")
        page.locator("main").get_by_role("button", name="登录").click()
        page.wait_for_url(self.base_url + lands_on)

    def close(self) -> None:
        self.context.close()
        assert self.errors == [], self.errors


@pytest.fixture
def world(live_server: Any) -> dict[str, User]:
    build_demo_world()
    return {user.username: user for user in User.objects.all()}


@pytest.fixture
def sessions(chromium: Any, live_server: Any) -> Any:
    opened: list[Session] = []

    def open_session() -> Session:
        session = Session(chromium, live_server.url)
        opened.append(session)
        return session

    yield open_session
    for session in opened:
        session.close()


def totals(page: Any) -> dict[str, str]:
    """The figures of the page's totals band: label -> shown amount."""
    figures = {}
    for item in page.locator("section.totals > div").all():
        figures[item.locator("span").inner_text().strip()] = (
            item.locator("strong").inner_text().strip()
        )
    return figures


def execute_in_place(inbox: Any, pk: int, amount: str, reference: str) -> Any:
    """Type the amount found and the reference into the row, let a poll of the inbox pass
    (what was typed must survive it), then confirm; answer the answered row."""
    row = inbox.locator(f"#instruction-{pk}")
    row.locator(f"#x{pk}-amount").fill(amount)
    row.locator(f"#x{pk}-ref").fill(reference)
    with inbox.expect_response(lambda r: "/inbox/rows/" in r.url, timeout=POLL_WAIT_MS):
        pass
    assert row.locator(f"#x{pk}-amount").input_value() == amount
    assert row.locator(f"#x{pk}-ref").input_value() == reference
    # Right after a poll, the next one is 5 s away: the answer is not raced by it.
    row.get_by_role("button", name="确认已执行").click()
    answered = inbox.locator(f"#instruction-{pk}.answered")
    answered.wait_for(state="visible")
    return answered


def log_report_and_stop(
    officer: Session, screenshots: Screenshots | None, title: str, number: str, amount: str
) -> Case:
    """From the case list: the new report with its victim and the account that received the
    money, whose stop-payment goes out with the report in one submit (R13)."""
    page = officer.page
    page.locator("nav").get_by_role("link", name="新接警").click()
    page.wait_for_url(re.compile(r"/cases/new/$"))
    page.fill("#id_title", title)
    page.select_option("#id_fraud_type", "impersonating_customer_service")
    page.fill("#id_description", "受害人接到自称快递客服的电话，按指引转账。")
    assert page.input_value("#id_reported_at")  # filled in with the time of the call
    page.fill("#id_victims-0-name", "张三")
    page.fill("#id_victims-0-id_number", "370102199001011231")
    page.fill("#id_victims-0-phone", "13800138000")
    page.fill("#id_victims-0-loss_amount", amount)
    page.select_option("#id_accounts-0-institution", "ICBC")
    page.fill("#id_accounts-0-number", number)
    page.fill("#id_accounts-0-holder_name", "王某某")
    page.fill("#id_accounts-0-amount", amount)
    if screenshots is not None:
        screenshots.take(page, "new-report")
    page.locator("main").get_by_role("button", name="登记案件并发出止付").click()
    page.wait_for_url(re.compile(r"/cases/\d+/#instructions$"))
    return Case.objects.get(title=title)


def test_the_new_report_takes_any_number_of_accounts_in_one_submit(
    world: dict[str, User], sessions: Any, screenshots: Screenshots
) -> None:
    officer = sessions()
    officer.sign_in("officer_lx", "/cases/")
    page = officer.page
    page.goto("/cases/new/")
    page.fill("#id_title", "刷单返利诈骗（五张卡）")
    page.select_option("#id_fraud_type", "rebate_task")
    page.fill("#id_victims-0-name", "张三")
    page.fill("#id_victims-0-id_number", "370102199001011231")
    page.fill("#id_victims-0-phone", "13800138000")
    page.fill("#id_victims-0-loss_amount", "50000.00")
    add = page.get_by_role("button", name="再添加一个账户")
    add.click()
    add.click()  # three rows on the page, two added: five
    rows = page.locator('[data-parts="accounts"] fieldset')
    assert rows.count() == 5
    assert page.locator("#id_accounts-4-institution").evaluate("e => e === document.activeElement")
    for index in range(5):
        page.select_option(f"#id_accounts-{index}-institution", "ICBC" if index % 2 else "CCB")
        page.fill(f"#id_accounts-{index}-number", f"62220200000001{index:02d}")
        page.fill(f"#id_accounts-{index}-holder_name", f"某{index}")
        page.fill(f"#id_accounts-{index}-amount", "10000.00")
    screenshots.take(page, "new-report-five-accounts")
    page.locator("main").get_by_role("button", name="登记案件并发出止付").click()
    page.wait_for_url(re.compile(r"/cases/\d+/#instructions$"))
    case = Case.objects.get(title="刷单返利诈骗（五张卡）")
    assert Instruction.objects.filter(case=case, kind="stop_payment").count() == 5
    assert "5 条止付" in page.locator("ul.messages").inner_text()
    screenshots.take(page, "case-file-five-stops")


def test_officer_logs_a_report_and_asks_for_a_stop_payment(
    world: dict[str, User], sessions: Any, screenshots: Screenshots
) -> None:
    officer = sessions()
    officer.sign_in("officer_lx", "/cases/", screenshots)
    screenshots.take(officer.page, "case-list")

    case = log_report_and_stop(
        officer, screenshots, "冒充快递客服退款诈骗", "6222021234567890", "50000.00"
    )

    page = officer.page
    assert case.number in page.locator("ul.messages").inner_text()
    assert "1 条止付" in page.locator("ul.messages").inner_text()
    account_row = page.locator("#accounts tbody tr", has_text="6222021234567890")
    assert "已申请止付" in account_row.inner_text()
    request_row = page.locator("#instructions tbody tr", has_text="6222021234567890")
    request_text = request_row.inner_text()
    assert "紧急止付" in request_text and "待机构处理" in request_text
    assert "¥50,000.00" in request_text and "反馈期限" in request_text
    screenshots.take(page, "case-file-stop-pending")

    stop = Instruction.objects.get(case=case)
    assert (stop.kind, stop.status, stop.requested_amount) == (
        "stop_payment",
        "pending",
        Decimal("50000.00"),
    )
    assert stop.institution.code == "ICBC"


def test_liaison_sees_the_request_arrive_and_executes_part_of_it_in_place(
    world: dict[str, User], sessions: Any, screenshots: Screenshots
) -> None:
    liaison = sessions()
    liaison.sign_in("liaison_icbc", "/inbox/", screenshots)
    inbox = liaison.page
    assert "暂无待办事项。" in inbox.locator("#inbox-rows").inner_text()
    screenshots.take(inbox, "inbox-empty")
    inbox.evaluate("window.notReloaded = true")

    # The officer sends the stop-payment while the inbox is open.
    officer = sessions()
    officer.sign_in("officer_lx", "/cases/")
    case = log_report_and_stop(
        officer, None, "冒充客服诈骗（止付）", "6222020000000042", "50000.00"
    )
    stop = Instruction.objects.get(case=case)

    row = inbox.locator(f"#instruction-{stop.pk}")
    row.wait_for(state="visible", timeout=POLL_WAIT_MS)
    assert inbox.evaluate("window.notReloaded") is True, "the inbox was reloaded"
    text = row.inner_text()
    assert "紧急止付" in text and "6222020000000042" in text and "¥50,000.00" in text
    assert case.number in text
    screenshots.take(inbox, "inbox-new-request")

    answered = execute_in_place(inbox, stop.pk, "30000.00", "ICBC-ZF-20260001")
    assert "已执行" in answered.inner_text() and "¥30,000.00" in answered.inner_text()
    assert inbox.evaluate("window.notReloaded") is True, "the inbox was reloaded"
    screenshots.take(inbox, "inbox-executed")

    stop.refresh_from_db()
    assert (stop.status, stop.executed_amount, stop.bank_reference) == (
        "executed",
        Decimal("30000.00"),
        "ICBC-ZF-20260001",
    )

    page = officer.page
    page.reload()
    account_row = page.locator("#accounts tbody tr", has_text="6222020000000042")
    cells = account_row.inner_text()
    assert "已止付" in cells and "¥30,000.00" in cells
    assert totals(page)["已止付"] == "¥30,000.00"
    screenshots.take(page, "case-file-stopped")


def test_manager_approves_a_freeze_in_place_and_sees_the_totals_change(
    world: dict[str, User], sessions: Any, screenshots: Screenshots
) -> None:
    officer = world["officer_lx"]
    case = case_services.case_report(
        actor=officer,
        title="刷单返利诈骗（冻结）",
        fraud_type="rebate_task",
        reported_at=timezone.now(),
    )
    case_services.case_accept(actor=officer, case=case)
    case_services.case_file(actor=officer, case=case, filing_number="济公立字〔2026〕88号")
    involved_account: InvolvedAccount = case_services.account_add(
        actor=officer,
        case=case,
        institution_code="ICBC",
        number="6222020000000088",
        holder_name="赵某",
        layer=1,
    )
    freeze = instruction_services.instruction_request(
        actor=officer,
        case=case,
        request=instruction_services.InstructionRequest(
            kind="freeze",
            involved_account_id=involved_account.pk,
            amount=Decimal("20000.00"),
            instrument_number="济公冻字〔2026〕88号",
            term_months=6,
        ),
    )

    manager = sessions()
    manager.sign_in("manager_lx", "/desk/", screenshots)
    desk = manager.page
    assert desk.evaluate("typeof Chart") == "function"  # the vendored charts loaded
    before = totals(desk)
    assert before["已冻结"] == "¥0.00"
    row = desk.locator(f"#approval-{freeze.pk}")
    assert "济公冻字〔2026〕88号" in row.inner_text() and "¥20,000.00" in row.inner_text()
    screenshots.take(desk, "desk-approval-waiting")
    desk.evaluate("window.notReloaded = true")

    row.get_by_role("button", name="审批通过").click()
    row.locator(".badge", has_text="待机构处理").wait_for(state="visible")
    assert row.get_by_role("button", name="审批通过").count() == 0
    assert desk.evaluate("window.notReloaded") is True, "the desk was reloaded"
    screenshots.take(desk, "desk-approved")
    freeze.refresh_from_db()
    assert (freeze.status, freeze.approved_by) == ("pending", world["manager_lx"])

    liaison = sessions()
    liaison.sign_in("liaison_icbc", "/inbox/")
    inbox = liaison.page
    bank_row = inbox.locator(f"#instruction-{freeze.pk}")
    assert "冻结" in bank_row.inner_text() and "济公冻字〔2026〕88号" in bank_row.inner_text()
    answered = execute_in_place(inbox, freeze.pk, "15000.00", "ICBC-DJ-20260088")
    assert "已执行" in answered.inner_text() and "¥15,000.00" in answered.inner_text()
    screenshots.take(inbox, "inbox-freeze-executed")

    desk.reload()
    after = totals(desk)
    assert after["已冻结"] == "¥15,000.00"
    # What is held now (a stock, whatever the period): the freeze just executed.
    assert after["当前在冻"] == "¥15,000.00"
    assert desk.locator(f"#approval-{freeze.pk}").count() == 0
    screenshots.take(desk, "desk-totals-after")
