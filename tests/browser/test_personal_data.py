"""An officer's journey with personal data (PIPL art. 28) in a real Chromium: the case list is
searched by a victim's name without the name ever reaching the address bar, and a victim's own
account number is shown in full only after a stated reason, which the timeline records."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from funds.models import Event, EventType
from funds.services import cases as case_services
from tests.browser.conftest import Screenshots
from tests.browser.test_journeys import sessions, world  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VICTIM_NAME = "欧阳娜娜"
VICTIM_ACCOUNT = "6217000099998888"


def test_officer_searches_by_name_and_reveals_an_account_with_a_reason(
    world: dict[str, User],  # noqa: F811
    sessions: Any,  # noqa: F811
    screenshots: Screenshots,
) -> None:
    officer_lx = world["officer_lx"]
    case = case_services.case_report(
        actor=officer_lx,
        title="冒充客服退款诈骗",
        fraud_type="impersonating_customer_service",
        reported_at=timezone.now(),
    )
    case_services.case_report(
        actor=officer_lx, title="另一起案件", fraud_type="other", reported_at=timezone.now()
    )
    victim = case_services.victim_add(
        actor=officer_lx,
        case=case,
        name=VICTIM_NAME,
        id_number="370102199001071234",
        phone="138 0013 8000",
        loss_amount=Decimal("20000.00"),
        account_institution_code="CCB",
        account_number=VICTIM_ACCOUNT,
        account_holder_name=VICTIM_NAME,
    )

    officer = sessions()
    officer.sign_in("officer_lx", "/cases/")
    page = officer.page
    page.fill("#q", VICTIM_NAME)
    page.locator("form[role=search]").get_by_role("button").click()
    page.wait_for_url(re.compile(r"/cases/\?search=[\w-]+$"))
    assert VICTIM_NAME not in page.url and "q=" not in page.url
    assert page.input_value("#q") == VICTIM_NAME
    rows = page.locator("main table tbody tr")
    assert rows.count() == 1 and case.number in rows.inner_text()
    screenshots.take(page, "case-list-searched")
    # Back from the case file, the search is still there, from its key.
    rows.get_by_role("link", name=case.number).click()
    page.wait_for_url(re.compile(rf"/cases/{case.pk}/$"))
    victims = page.locator("#victims")
    assert VICTIM_ACCOUNT not in victims.inner_text()
    assert "************8888" in victims.inner_text()
    page.go_back()
    page.wait_for_url(re.compile(r"/cases/\?search=[\w-]+$"))
    assert page.locator("main table tbody tr").count() == 1
    page.go_forward()
    page.wait_for_url(re.compile(rf"/cases/{case.pk}/$"))

    row = page.locator("#victims tbody tr", has_text=VICTIM_NAME)
    row.locator("details.reveal summary").click()
    row.locator(f"#reveal_{victim.pk}_reason").fill("电话核实返还账户")
    screenshots.take(page, "case-file-reveal-reason")
    row.locator("details.reveal").get_by_role("button").click()
    revealed = page.locator(f"#revealed-{victim.pk}")
    revealed.wait_for(state="visible")
    assert revealed.inner_text() == VICTIM_ACCOUNT
    screenshots.take(page, "case-file-revealed")
    [event] = Event.objects.filter(type=EventType.VICTIM_ACCOUNT_REVEALED)
    assert event.data == {"victim": victim.pk, "reason": "电话核实返还账户"}
    assert event.actor_id == officer_lx.pk

    # Once the officer moves on, the number is masked again.
    page.goto(f"/cases/{case.pk}/")
    assert VICTIM_ACCOUNT not in page.locator("#victims").inner_text()
    assert "电话核实返还账户" in page.locator("#timeline").inner_text()
