"""Tracing the money in a real Chromium: the officer sees the case's fund flow drawn and
clicks an account for its transfers; the liaison downloads the answer template, fills it in
and uploads it, and sees each row's result."""

from __future__ import annotations

import io
import re
import shutil
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from openpyxl import load_workbook  # type: ignore[import-untyped]

from accounts.models import User
from funds.models import (
    BankAccount,
    Case,
    Instruction,
    InstructionStatus,
    InvolvedAccount,
    Transfer,
)
from funds.services import cases as case_services
from funds.services import instructions as instruction_services
from tests.browser.conftest import Screenshots
from tests.browser.test_journeys import Session, sessions, world  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/work/shots")


def keep(path: Path) -> None:
    """A copy of the screenshot for the lead (outside the repository)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


def traced_case(officer: User) -> tuple[Case, InvolvedAccount]:
    """A victim's card paying two layer-1 accounts, one of which pays on to layer 2."""
    case = case_services.case_report(
        actor=officer,
        title="冒充客服退款诈骗（资金流向）",
        fraud_type="impersonating_customer_service",
        reported_at=timezone.now() - timedelta(hours=1),
    )
    case_services.victim_add(
        actor=officer,
        case=case,
        name="张三",
        id_number="370102199001071234",
        phone="13800138000",
        loss_amount=Decimal("50000.00"),
        account_institution_code="CCB",
        account_number="6217009900001234",
        account_holder_name="张三",
    )
    first = case_services.account_add(
        actor=officer,
        case=case,
        institution_code="ICBC",
        number="6222020000000001",
        holder_name="王某",
        layer=1,
    )
    case_services.account_add(
        actor=officer,
        case=case,
        institution_code="ABC",
        number="6228480000000002",
        holder_name="李某",
        layer=1,
    )
    case_services.account_add(
        actor=officer,
        case=case,
        institution_code="BOC",
        number="6216610000000003",
        holder_name="赵某",
        layer=2,
    )
    moves = [
        (("CCB", "6217009900001234", "张三"), ("ICBC", "6222020000000001", "王某"), "30000.00"),
        (("CCB", "6217009900001234", "张三"), ("ABC", "6228480000000002", "李某"), "20000.00"),
        (("ICBC", "6222020000000001", "王某"), ("BOC", "6216610000000003", "赵某"), "25000.00"),
    ]
    for i, (source, target, amount) in enumerate(moves):
        case_services.transfer_add(
            actor=officer,
            case=case,
            from_account={"institution": source[0], "number": source[1], "holder_name": source[2]},
            to_account={"institution": target[0], "number": target[1], "holder_name": target[2]},
            amount=Decimal(amount),
            occurred_at=timezone.now() - timedelta(minutes=50 - i),
            reference=f"LS2026{i:04d}",
        )
    return case, first


def test_graph_the_officer_sees_the_flow_drawn_and_clicks_an_account(
    world: dict[str, User],  # noqa: F811
    sessions: Any,  # noqa: F811
    screenshots: Screenshots,
) -> None:
    case, first = traced_case(world["officer_lx"])
    officer: Session = sessions()
    officer.sign_in("officer_lx", "/cases/")
    page = officer.page
    page.goto(f"/cases/{case.pk}/#flow")
    graph = page.locator("#flow-graph")
    # graph.js marks the box with the number of nodes drawn (a function to wait for would
    # need eval, which the CSP refuses).
    page.locator("#flow-graph[data-drawn='4']").wait_for(state="attached")
    canvas = graph.locator("canvas").first
    canvas.wait_for()
    # Drawn: the canvas holds pixels that are not the background.
    assert (
        page.evaluate(
            """() => {
            const c = document.querySelector('#flow-graph canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let inked = 0;
            for (let i = 0; i < d.length; i += 4) { if (d[i + 3] > 0 && d[i] < 200) inked++; }
            return inked;
        }"""
        )
        > 500
    )
    page.locator("#flow").scroll_into_view_if_needed()
    keep(screenshots.take(page, "case-file-with-the-fund-flow"))

    # Click the layer-1 account that paid on: its transfers and requests show in the panel.
    x, y = page.evaluate(
        f"""() => {{
            const chart = echarts.getInstanceByDom(document.getElementById('flow-graph'));
            const node = chart.getOption().series[0].data.find(d => d.id === 'a{first.account_id}');
            const [px, py] = chart.convertToPixel({{seriesIndex: 0}}, [node.x, node.y]);
            const box = document.getElementById('flow-graph').getBoundingClientRect();
            return [box.left + px, box.top + py];
        }}"""
    )
    page.mouse.click(x, y)
    panel = page.locator("#flow-panel")
    panel.locator("[data-flow-transfers] li").nth(1).wait_for()
    text = panel.inner_text()
    assert "6222020000000001" in text
    assert "30,000.00" in text and "25,000.00" in text
    assert "6216610000000003" in text
    assert "************1234" in text  # the victim's card, masked
    assert "6217009900001234" not in text
    keep(screenshots.take(page, "account-clicked-its-transfers"))
    page.locator("#flow").screenshot(path=str(SHOTS / "graph-flow-section.png"))


def test_answers_the_liaison_fills_the_template_and_sees_each_row(
    world: dict[str, User],  # noqa: F811
    sessions: Any,  # noqa: F811
    screenshots: Screenshots,
    tmp_path: Path,
) -> None:
    officer_user = world["officer_lx"]
    case, first = traced_case(officer_user)
    second = case_services.account_add(
        actor=officer_user,
        case=case,
        institution_code="ICBC",
        number="6222020000000009",
        holder_name="钱某",
        layer=2,
    )
    stops = [
        instruction_services.instruction_request(
            actor=officer_user,
            case=case,
            request=instruction_services.InstructionRequest(
                kind="stop_payment", involved_account_id=account.pk, amount=Decimal(amount)
            ),
        )
        for account, amount in ((first, "30000.00"), (second, "5000.00"))
    ]
    liaison: Session = sessions()
    liaison.sign_in("liaison_icbc", "/inbox/")
    page = liaison.page
    with page.expect_download() as download_info:
        # By address: the new labels are untranslated until the lead merges the catalogue.
        page.locator("#answer-file a[href='/inbox/answers.xlsx']").click()
    template = tmp_path / "answers.xlsx"
    download_info.value.save_as(template)
    workbook = load_workbook(template)
    sheet = workbook.active
    header = [cell.value for cell in sheet[1]]
    assert header[:5] == ["协查编号", "结果", "执行金额", "业务编号", "理由"]
    rows = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    assert set(rows) == {s.pk for s in stops}
    assert Decimal(str(rows[stops[0].pk][2].value)) == Decimal("30000.00")
    rows[stops[0].pk][1].value = "执行"
    rows[stops[0].pk][2].value = 28000
    rows[stops[0].pk][3].value = "ICBC-ZF-0001"
    rows[stops[1].pk][1].value = "拒绝"
    rows[stops[1].pk][4].value = "账户已销户"
    out = io.BytesIO()
    workbook.save(out)
    template.write_bytes(out.getvalue())

    page.locator("input[type=file][name=file]").set_input_files(str(template))
    keep(screenshots.take(page, "inbox-answer-file-chosen"))
    page.locator("#answer-file button[type=submit]").click()
    page.wait_for_url(re.compile(r"/inbox/answers/$"))
    results = page.locator("#answer-results tbody tr")
    assert results.count() == 2
    text = page.locator("#answer-results").inner_text()
    assert f"#{stops[0].pk}" in text and f"#{stops[1].pk}" in text
    keep(screenshots.take(page, "inbox-answer-results"))
    executed = Instruction.objects.get(pk=stops[0].pk)
    assert executed.status == InstructionStatus.EXECUTED
    assert executed.executed_amount == Decimal("28000.00")
    assert Instruction.objects.get(pk=stops[1].pk).status == InstructionStatus.REJECTED


def test_crowd_a_few_hundred_accounts_are_grouped_by_layer(
    world: dict[str, User],  # noqa: F811
    sessions: Any,  # noqa: F811
    screenshots: Screenshots,
) -> None:
    """300 accounts seen only in transfers fan out of two layer-1 accounts: they are drawn as
    group nodes, and a click on a group lists its accounts."""
    case, first = traced_case(world["officer_lx"])
    instruction_services.instruction_request(
        actor=world["officer_lx"],
        case=case,
        request=instruction_services.InstructionRequest(
            kind="stop_payment", involved_account_id=first.pk, amount=Decimal("30000.00")
        ),
    )
    icbc = first.account.institution
    accounts = BankAccount.objects.bulk_create(
        BankAccount(institution=icbc, number=f"6212880000{i:06d}") for i in range(300)
    )
    Transfer.objects.bulk_create(
        Transfer(
            case=case,
            from_account=first.account,
            to_account=account,
            from_holder_name="王某",
            to_holder_name=f"下游{i}",
            amount=Decimal("10.00") + i,
            occurred_at=timezone.now(),
            reference=f"FAN{i:04d}",
            created_by=world["officer_lx"],
        )
        for i, account in enumerate(accounts)
    )
    officer: Session = sessions()
    officer.sign_in("officer_lx", "/cases/")
    page = officer.page
    page.goto(f"/cases/{case.pk}/#flow")
    graph = page.locator("#flow-graph[data-drawn]")
    graph.wait_for(state="attached")
    drawn = int(graph.get_attribute("data-drawn") or "0")
    # The victim, the stopped account, and groups in place of 303 accounts without requests.
    assert 2 < drawn <= 6
    page.locator("#flow").scroll_into_view_if_needed()
    keep(screenshots.take(page, "a-few-hundred-accounts-grouped"))
    x, y = page.evaluate(
        """() => {
            const chart = echarts.getInstanceByDom(document.getElementById('flow-graph'));
            const groups = chart.getOption().series[0].data.filter(d => d.id.startsWith('g'));
            const big = groups.sort((a, b) => b.node.members.length - a.node.members.length)[0];
            const [px, py] = chart.convertToPixel({seriesIndex: 0}, [big.x, big.y]);
            const box = document.getElementById('flow-graph').getBoundingClientRect();
            return [box.left + px, box.top + py];
        }"""
    )
    page.mouse.click(x, y)
    listed = page.locator("#flow-panel .flow-list li")
    listed.first.wait_for()
    assert listed.count() == 200  # the first 200 of the group
    listed.first.locator("button").click()
    page.locator("#flow-panel [data-flow-transfers]").wait_for()
    keep(screenshots.take(page, "a-grouped-account-clicked"))
    page.locator("#flow").screenshot(path=str(SHOTS / "crowd-flow-section.png"))
