"""Notices in a real Chromium (issue 14): a notice arrives in the header's bell without reload;
a new stop-payment is announced on the liaison's open inbox (title, live region, sound, desktop
notification); an idle session still ends while the inbox polls, and the page lands on sign-in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from devdata.world import DEMO_PASSWORD, build_demo_world
from funds.models import (
    Case,
    Deadline,
    DeadlineKind,
    Flag,
    FlagKind,
    FlagLevel,
    Instruction,
    Notification,
    NotificationReason,
)
from funds.services import cases as case_services
from funds.services import instructions as instruction_services
from tests.browser.conftest import Screenshots
from tests.browser.test_journeys import Session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Generous: every wait is for a condition, never a fixed sleep; the inbox polls every 5 s.
WAIT_MS = 30_000

# Stand-ins for the browser's notifications and audio, recording what the page asked of them:
# headless Chromium shows no notification and plays no sound.
RECORDERS = """
window.__desktop = [];
window.__tones = 0;
class RecordedNotification {
  constructor(title, options) { window.__desktop.push({ title: title, body: (options || {}).body }); }
  close() {}
}
RecordedNotification.permission = "granted";
RecordedNotification.requestPermission = function () { return Promise.resolve("granted"); };
window.Notification = RecordedNotification;
class RecordedAudio {
  constructor() { this.state = "running"; this.currentTime = 0; this.destination = {}; }
  resume() { return Promise.resolve(); }
  createOscillator() {
    return { type: "", frequency: { value: 0 }, connect() {}, start() { window.__tones += 1; }, stop() {} };
  }
  createGain() {
    return { gain: { setValueAtTime() {}, exponentialRampToValueAtTime() {} }, connect() {} };
  }
}
window.AudioContext = RecordedAudio;
"""


@pytest.fixture
def world(live_server: Any) -> dict[str, User]:
    build_demo_world()
    return {user.username: user for user in User.objects.all()}


@pytest.fixture
def sessions(chromium: Any, live_server: Any) -> Iterator[Any]:
    opened: list[Session] = []

    def open_session() -> Session:
        session = Session(chromium, live_server.url)
        opened.append(session)
        return session

    yield open_session
    for session in opened:
        session.close()


def a_case(officer: User, title: str) -> Case:
    return case_services.case_report(
        actor=officer,
        title=title,
        fraud_type="impersonating_customer_service",
        reported_at=timezone.now(),
    )


def a_notice(case: Case, recipient: User) -> Notification:
    """What the sweep writes when a flag is raised: a flag, and its notice to a person."""
    now = timezone.now()
    deadline = Deadline.objects.create(
        kind=DeadlineKind.FIRST_STOP, case=case, due_at=now, opened_at=now, met_at=now
    )
    flag = Flag.objects.create(
        deadline=deadline,
        kind=FlagKind.FIRST_STOP_OVERDUE,
        level=FlagLevel.OVERDUE,
        case=case,
        due_at=now,
        raised_at=now,
    )
    return Notification.objects.create(
        flag=flag, recipient=recipient, reason=NotificationReason.RAISED, created_at=now
    )


def a_stop_payment(officer: User, number: str) -> Instruction:
    case = a_case(officer, "冒充客服诈骗（止付）")
    account = case_services.account_add(
        actor=officer,
        case=case,
        institution_code="ICBC",
        number=number,
        holder_name="王某某",
        layer=1,
    )
    return instruction_services.instruction_request(
        actor=officer,
        case=case,
        request=instruction_services.InstructionRequest(
            kind="stop_payment", involved_account_id=account.pk, amount=Decimal("50000.00")
        ),
    )


def bell_count(page: Any) -> str:
    return page.locator("#notice-bell a.bell").get_attribute("data-unread")


def test_notices_arrive_in_the_bell_without_reload_and_are_marked_read_in_place(
    world: dict[str, User], sessions: Any, screenshots: Screenshots, settings: Any
) -> None:
    settings.NOTICE_POLL_SECONDS = 1
    officer = sessions()
    officer.sign_in("officer_lx", "/cases/")
    page = officer.page
    assert bell_count(page) == "0"
    assert not re.match(r"^\(\d+\) ", page.title())
    page.evaluate("window.notReloaded = true")

    note = a_notice(a_case(world["officer_lx"], "刷单返利诈骗"), world["officer_lx"])

    page.locator('#notice-bell a.bell[data-unread="1"]').wait_for(timeout=WAIT_MS)
    assert page.evaluate("window.notReloaded") is True, "the page was reloaded"
    page.wait_for_function("document.title.startsWith('(1) ')", timeout=WAIT_MS)
    assert page.locator("#notice-bell .count").inner_text() == "1"
    announced = page.locator("#notice-bell a.bell").get_attribute("data-announce")
    assert announced and page.locator("#notice-live").inner_text() == announced
    screenshots.take(page, "bell-one-unread")

    page.locator("#notice-bell a.bell").click()
    page.wait_for_url(re.compile(r"/notices/$"))
    item = page.locator(f"#notice-{note.pk}")
    assert "unread" in (item.get_attribute("class") or "")
    screenshots.take(page, "notices-page")
    page.evaluate("window.notReloaded = true")

    item.locator("button[type=submit]").click()
    page.locator(f"#notice-{note.pk}:not(.unread)").wait_for(timeout=WAIT_MS)
    assert page.locator(f"#notice-{note.pk} form").count() == 0
    page.locator('#notice-bell a.bell[data-unread="0"]').wait_for(timeout=WAIT_MS)
    page.wait_for_function("!/^\\(\\d+\\) /.test(document.title)", timeout=WAIT_MS)
    assert page.evaluate("window.notReloaded") is True, "the page was reloaded"
    note.refresh_from_db()
    assert note.read_at is not None

    # A newer notice shows up at the top of the open notices page by itself.
    newer = a_notice(a_case(world["officer_lx"], "虚假投资理财诈骗"), world["officer_lx"])
    page.locator(f".notice-list > li:first-child#notice-{newer.pk}").wait_for(timeout=WAIT_MS)
    assert page.evaluate("window.notReloaded") is True, "the page was reloaded"
    screenshots.take(page, "notices-page-new")


def test_a_new_stop_payment_is_announced_on_the_open_inbox(
    world: dict[str, User], sessions: Any, screenshots: Screenshots
) -> None:
    liaison = sessions()
    liaison.context.add_init_script(RECORDERS)
    liaison.sign_in("liaison_icbc", "/inbox/")
    inbox = liaison.page
    titled = inbox.title()
    alerts = inbox.locator("#inbox-alerts")
    title_stop = alerts.get_attribute("data-title-stop")
    assert title_stop
    assert inbox.locator("#inbox-desktop").is_hidden()  # already allowed
    assert inbox.locator("#inbox-sound").is_checked()
    inbox.locator("main h1").click()  # an interaction: the page may play sound from now on
    inbox.evaluate("window.notReloaded = true")

    stop = a_stop_payment(world["officer_lx"], "6222020000000042")

    inbox.locator(f"#instruction-{stop.pk}").wait_for(state="visible", timeout=WAIT_MS)
    inbox.wait_for_function(
        "title => document.title.startsWith(title)", arg=title_stop, timeout=WAIT_MS
    )
    assert inbox.evaluate("window.notReloaded") is True, "the inbox was reloaded"
    announced = inbox.locator("#inbox-announce").inner_text()
    assert "6222020000000042" in announced and stop.case.number in announced
    assert inbox.locator("#inbox-announce").get_attribute("aria-live") == "assertive"
    assert inbox.evaluate("window.__desktop") == [{"title": title_stop, "body": announced}]
    assert inbox.evaluate("window.__tones") == 3  # the stop-payment's three notes
    screenshots.take(inbox, "inbox-new-stop-payment")

    # Back at the tab (a key pressed), the title is the page's own again.
    inbox.keyboard.press("Shift")
    inbox.wait_for_function("title => document.title === title", arg=titled, timeout=WAIT_MS)

    # The sound switched off stays off after a reload; the next request is silent.
    inbox.locator("#inbox-sound").uncheck()
    inbox.reload()
    assert not inbox.locator("#inbox-sound").is_checked()
    inbox.locator("main h1").click()
    second = a_stop_payment(world["officer_lx"], "6222020000000043")
    inbox.locator(f"#instruction-{second.pk}").wait_for(state="visible", timeout=WAIT_MS)
    inbox.wait_for_function(
        "title => document.title.startsWith(title)", arg=title_stop, timeout=WAIT_MS
    )
    assert "6222020000000043" in inbox.locator("#inbox-announce").inner_text()
    assert inbox.evaluate("window.__tones") == 0
    assert len(inbox.evaluate("window.__desktop")) == 1


def test_the_idle_session_ends_while_the_inbox_polls(
    world: dict[str, User], sessions: Any, settings: Any
) -> None:
    # The bell asks every second and the inbox every 5 s: were the polls to extend the
    # session, an 8 s idle timeout would never be reached.
    settings.NOTICE_POLL_SECONDS = 1
    settings.SESSION_COOKIE_AGE = 8
    liaison = sessions()
    inbox = liaison.page
    polls: list[int] = []
    inbox.on(
        "response",
        lambda r: (
            polls.append(r.status) if re.search(r"/(inbox/rows|notices/bell)/$", r.url) else None
        ),
    )
    liaison.sign_in("liaison_icbc", "/inbox/")

    inbox.wait_for_url(re.compile(r"/login/\?next=/inbox/$"), timeout=WAIT_MS)
    assert inbox.locator("main h1").inner_text() == "登录"
    assert polls.count(200) >= 2 and polls[-1] == 204, polls

    # Signed in again, the liaison is back on the inbox.
    settings.SESSION_COOKIE_AGE = 1800
    inbox.fill("#id_username", "liaison_icbc")
    inbox.fill("#id_password", DEMO_PASSWORD)
    inbox.locator("main").get_by_role("button", name="登录").click()
    inbox.wait_for_url(liaison.base_url + "/inbox/")
