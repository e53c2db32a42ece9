"""Notices in the page (issue 14): the header's bell for every role, the notices page with its
pages, filter and mark-as-read, and polls that are passive: they do not keep an idle session
alive, and once the session has ended they send the browser to sign-in."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import time_machine
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from devdata.world import DEMO_PASSWORD
from funds.models import (
    Case,
    Deadline,
    DeadlineKind,
    Flag,
    FlagKind,
    FlagLevel,
    Notification,
    NotificationReason,
)
from funds.services import cases as case_services
from tests.funds.helpers import FundsTestCase

HTMX = {"HTTP_HX_REQUEST": "true"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def text(response: Any) -> str:
    return response.content.decode()


def listed(html: str) -> list[int]:
    """The ids of the notices a page shows, in order."""
    return [int(pk) for pk in re.findall(r'<li id="notice-(\d+)"', html)]


class NoticeTestCase(FundsTestCase):
    case: Case

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.case = case_services.case_report(
            actor=cls.officer_lx,
            title="冒充客服退款诈骗",
            fraud_type="impersonating_customer_service",
            reported_at=timezone.now(),
        )

    def notice(
        self, recipient: User, *, read: bool = False, at: datetime | None = None
    ) -> Notification:
        """A notice of an overdue flag of its own (each flag tells a person once)."""
        now = timezone.now()
        deadline = Deadline.objects.create(
            kind=DeadlineKind.FIRST_STOP, case=self.case, due_at=now, opened_at=now, met_at=now
        )
        flag = Flag.objects.create(
            deadline=deadline,
            kind=FlagKind.FIRST_STOP_OVERDUE,
            level=FlagLevel.OVERDUE,
            case=self.case,
            due_at=now,
            raised_at=now,
        )
        return Notification.objects.create(
            flag=flag,
            recipient=recipient,
            reason=NotificationReason.RAISED,
            created_at=at or now,
            read_at=now if read else None,
        )

    def as_user(self, user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client


class BellTest(NoticeTestCase):
    # Where each role lands: every one of those pages has the bell in its header.
    LANDING = {
        "officer_lx": "case-list",
        "manager_lx": "desk",
        "auditor_sd": "desk",
        "liaison_icbc": "inbox",
        "admin": "notices",
    }

    def test_every_role_sees_its_own_unread_count_in_the_header_and_the_title(self):
        for unread, username in enumerate(self.LANDING, start=1):
            user = getattr(self, username)
            for _ in range(unread):
                self.notice(user)
            self.notice(user, read=True)
            self.notice(self.officer_sn)  # someone else's never counts
        for unread, (username, landing) in enumerate(self.LANDING.items(), start=1):
            client = self.as_user(getattr(self, username))
            html = text(client.get(reverse(landing), **EN))
            assert f'data-unread="{unread}"' in html, username
            assert f'<span class="count" aria-hidden="true">{unread}</span>' in html, username
            label = f"{unread} unread notice" + ("s" if unread > 1 else "")
            assert f"({label})" in html, username
            assert re.search(rf"<title>\({unread}\) ", html), username
            assert 'hx-get="/notices/bell/"' in html and 'hx-trigger="every 20s' in html

    def test_without_unread_notices_the_bell_shows_no_count_and_the_title_no_prefix(self):
        self.notice(self.officer_lx, read=True)
        html = text(self.as_user(self.officer_lx).get(reverse("case-list"), **EN))
        assert 'data-unread="0"' in html and 'class="count"' not in html
        assert "(0 unread notices)" in html
        assert re.search(r"<title>[^(]", html)

    def test_the_polled_bell_is_the_link_alone_with_the_new_count(self):
        client = self.as_user(self.liaison_icbc)
        before = text(client.get(reverse("notices-bell"), **HTMX))
        self.notice(self.liaison_icbc)
        after = text(client.get(reverse("notices-bell"), **HTMX))
        assert 'data-unread="0"' in before and 'data-unread="1"' in after
        assert after.lstrip().startswith('<a class="bell has-unread" href="/notices/"')
        assert "<html" not in after and "<title" not in after

    def test_the_poll_interval_comes_from_the_settings(self):
        with self.settings(NOTICE_POLL_SECONDS=7):
            html = text(self.as_user(self.officer_lx).get(reverse("notices")))
        assert 'hx-trigger="every 7s, notices-changed from:body"' in html
        assert 'hx-get="/notices/list/?show=all" hx-trigger="every 7s"' in html


class NoticesPageTest(NoticeTestCase):
    def setUp(self) -> None:
        start = timezone.now() - timedelta(days=1)
        # 30 notices a minute apart, every third one read; the newest is the last made.
        self.mine = [
            self.notice(self.officer_lx, at=start + timedelta(minutes=i), read=i % 3 == 0)
            for i in range(30)
        ]
        self.theirs = self.notice(self.officer_sn)
        self.client = self.as_user(self.officer_lx)

    def test_it_lists_ones_own_notices_newest_first_25_to_a_page(self):
        newest_first = [note.pk for note in reversed(self.mine)]
        first = text(self.client.get(reverse("notices")))
        second = text(self.client.get(reverse("notices"), {"page": 2}))
        assert listed(first) == newest_first[:25]
        assert listed(second) == newest_first[25:]
        assert f"notice-{self.theirs.pk}" not in first + second
        assert 'href="/notices/?show=all&amp;page=2"' in first
        assert '<span aria-current="page"><strong>2</strong></span>' in second
        # Only the first page polls: newer notices arrive at its top.
        assert 'hx-get="/notices/list/?show=all"' in first
        assert 'hx-get="/notices/list/' not in second

    def test_a_notice_shows_its_headline_reason_time_in_shanghai_and_link(self):
        note = self.notice(self.officer_lx, at=datetime.fromisoformat("2026-03-01T02:05:00+00:00"))
        html = text(self.client.get(reverse("notices"), {"show": "unread"}, **EN))
        item = html[html.index(f'<li id="notice-{note.pk}"') :]
        item = item[: item.index("</li>")]
        case_url = reverse("case-detail", args=[self.case.pk])
        headline = f"Overdue: First stop-payment late, case {self.case.number}"
        assert f'<a href="{case_url}">{headline}</a>' in item
        assert "Overdue" in item
        assert "2026-03-01 10:05" in item  # Asia/Shanghai, UTC+8
        assert f'action="/notices/{note.pk}/read/"' in item

    def test_the_unread_filter_shows_only_the_unread(self):
        unread = [note.pk for note in reversed(self.mine) if note.read_at is None]
        html = text(self.client.get(reverse("notices"), {"show": "unread"}))
        assert listed(html) == unread  # 20: one page
        assert 'hx-get="/notices/list/?show=unread"' in html
        polled = text(self.client.get(reverse("notices-list"), {"show": "unread"}, **HTMX))
        assert polled.lstrip().startswith('<div id="notice-list"')
        assert listed(polled) == unread and "<html" not in polled

    def test_a_new_notice_shows_up_in_the_next_poll(self):
        before = text(self.client.get(reverse("notices-list"), **HTMX))
        new = self.notice(self.officer_lx)
        after = text(self.client.get(reverse("notices-list"), **HTMX))
        assert new.pk not in listed(before)
        assert listed(after)[0] == new.pk

    def test_marking_a_notice_read_in_place_changes_it_once(self):
        note = self.mine[-1]
        response = self.client.post(reverse("notice-read", args=[note.pk]), **HTMX)
        assert response.status_code == 200
        assert response["HX-Trigger"] == "notices-changed"
        fragment = text(response)
        assert fragment.lstrip().startswith(f'<li id="notice-{note.pk}" class="notice"')
        assert "Mark read" not in text(response) and "<form" not in fragment
        note.refresh_from_db()
        read_at = note.read_at
        assert read_at is not None
        self.client.post(reverse("notice-read", args=[note.pk]), **HTMX)
        note.refresh_from_db()
        assert note.read_at == read_at  # the second call changes nothing

    def test_marking_read_without_javascript_goes_back_to_the_same_page(self):
        note = self.mine[0]  # the oldest: on page 2
        response = self.client.post(
            reverse("notice-read", args=[note.pk]), {"next": "/notices/?show=all&page=2"}
        )
        assert response.status_code == 302 and response["Location"] == "/notices/?show=all&page=2"
        note.refresh_from_db()
        assert note.read_at is not None
        # Anywhere else is refused as a target: back to the notices.
        other = self.mine[1]
        response = self.client.post(
            reverse("notice-read", args=[other.pk]), {"next": "https://evil.example/notices/"}
        )
        assert response["Location"] == "/notices/"

    def test_mark_all_read_marks_ones_own_and_nobody_elses(self):
        response = self.client.post(
            reverse("notices-read-all"), {"next": "/notices/?show=unread&page=1"}, **EN
        )
        assert response.status_code == 302
        assert response["Location"] == "/notices/?show=unread&page=1"
        assert not Notification.objects.filter(recipient=self.officer_lx, read_at=None).exists()
        self.theirs.refresh_from_db()
        assert self.theirs.read_at is None
        page = text(self.client.get(response["Location"], **EN))
        assert "20 notices marked read." in page
        assert "No unread notices." in page and "Mark all read" not in page
        again = self.client.post(reverse("notices-read-all"), **EN)
        assert "0 notices marked read." in text(self.client.get(again["Location"], **EN))

    def test_someone_elses_notice_is_not_found_and_stays_unread(self):
        response = self.client.post(reverse("notice-read", args=[self.theirs.pk]), **HTMX)
        assert response.status_code == 404
        assert self.client.post(reverse("notice-read", args=[999_999])).status_code == 404
        self.theirs.refresh_from_db()
        assert self.theirs.read_at is None

    def test_reading_is_a_post_and_a_visitor_is_sent_to_sign_in(self):
        note = self.mine[-1]
        assert self.client.get(reverse("notice-read", args=[note.pk])).status_code == 405
        visitor = Client()
        for url in (reverse("notices"), reverse("notices-bell"), reverse("notices-list")):
            response = visitor.get(url)
            assert response.status_code == 302 and response["Location"].startswith("/login/")
        response = visitor.post(reverse("notice-read", args=[note.pk]))
        assert response.status_code == 302
        note.refresh_from_db()
        assert note.read_at is None


class InboxAnnouncementTest(NoticeTestCase):
    def test_the_inbox_rows_carry_what_the_script_announces(self):
        case = self.filed_case()
        account = self.add_account(case["id"], number="6222020000000077")
        stop = self.ask(
            case["id"], {"kind": "stop_payment", "account": account["id"], "amount": "5000.00"}
        )
        client = self.as_user(self.liaison_icbc)
        rows = text(client.get(reverse("inbox-rows"), **HTMX, **EN))
        row = re.search(rf'<tr id="instruction-{stop["id"]}"[^>]*>', rows)
        assert row is not None
        assert f'data-instruction-id="{stop["id"]}"' in row.group(0)
        assert 'data-kind="stop_payment"' in row.group(0)
        assert (
            f'data-announce="New Stop-payment: account 6222020000000077, ¥5,000.00, '
            f'case {case["number"]}."' in row.group(0)
        )
        inbox = text(client.get(reverse("inbox"), **EN))
        assert '<script src="/static/js/inbox.js" defer></script>' in inbox
        assert 'id="inbox-announce" class="announce" aria-live="assertive"' in inbox
        assert 'id="inbox-sound" checked' in inbox and 'id="inbox-desktop" hidden' in inbox
        assert 'data-title-stop="[New stop-payment]"' in inbox


class PassivePollTest(NoticeTestCase):
    """The polls neither save the session nor renew its cookie; a page does both."""

    def sign_in(self) -> Client:
        client = Client()
        response = client.post(
            reverse("login"), {"username": "liaison_icbc", "password": DEMO_PASSWORD}
        )
        assert response.status_code == 302
        return client

    def expiry(self, client: Client) -> datetime:
        return Session.objects.get(session_key=client.cookies["sessionid"].value).expire_date

    def test_a_poll_leaves_the_session_expiry_and_the_cookie_alone_and_a_page_renews_them(self):
        start = timezone.now()
        with time_machine.travel(start, tick=False) as traveller:
            client = self.sign_in()
            signed_in = self.expiry(client)
            traveller.shift(timedelta(minutes=5))
            for url in (reverse("notices-bell"), reverse("inbox-rows"), reverse("notices-list")):
                response = client.get(url, **HTMX)
                assert response.status_code == 200, url
                assert "sessionid" not in response.cookies, url
                assert "Cookie" in response["Vary"], url
                assert self.expiry(client) == signed_in, url
            response = client.get(reverse("inbox"))
            assert response.status_code == 200
            assert int(response.cookies["sessionid"]["max-age"]) == settings.SESSION_COOKIE_AGE
            assert self.expiry(client) == signed_in + timedelta(minutes=5)

    def test_an_idle_session_ends_however_long_the_page_polls(self):
        start = timezone.now()
        step = timedelta(seconds=settings.NOTICE_POLL_SECONDS)
        with time_machine.travel(start, tick=False) as traveller:
            client = self.sign_in()
            while timezone.now() - start < timedelta(seconds=settings.SESSION_COOKIE_AGE) - step:
                assert client.get(reverse("notices-bell"), **HTMX).status_code == 200
                assert client.get(reverse("inbox-rows"), **HTMX).status_code == 200
                traveller.shift(step)
            traveller.shift(step)
            response = client.get(
                reverse("inbox-rows"), HTTP_HX_CURRENT_URL="http://testserver/inbox/", **HTMX
            )
        # htmx takes the browser to sign-in, and back to the inbox afterwards.
        assert response.status_code == 204
        assert response["HX-Redirect"] == "/login/?next=/inbox/"
        assert response.content == b""

    def test_after_the_idle_timeout_every_poll_sends_the_browser_to_sign_in(self):
        client = self.sign_in()
        # The session ran out: its expiry is in the past.
        Session.objects.filter(session_key=client.cookies["sessionid"].value).update(
            expire_date=timezone.now() - timedelta(seconds=1)
        )
        page = "http://testserver/notices/?show=unread&page=1"
        for url in (reverse("notices-bell"), reverse("notices-list"), reverse("inbox-rows")):
            response = client.get(url, HTTP_HX_CURRENT_URL=page, **HTMX)
            assert response.status_code == 204, url
            assert response["HX-Redirect"] == "/login/?next=/notices/%3Fshow%3Dunread%26page%3D1"
        # A page of another site is no place to come back to; without htmx, the usual redirect.
        response = client.get(
            reverse("notices-bell"), HTTP_HX_CURRENT_URL="https://evil.example/x", **HTMX
        )
        assert response["HX-Redirect"] == "/login/"
        response = client.get(reverse("notices-bell"))
        assert response.status_code == 302
        assert response["Location"] == "/login/?next=/notices/bell/"

    def test_a_poll_after_the_absolute_maximum_signs_out_and_sends_to_sign_in(self):
        start = timezone.now()
        with time_machine.travel(start, tick=False) as traveller:
            client = self.sign_in()
            traveller.shift(settings.SESSION_MAX_AGE + timedelta(seconds=1))
            # Keep the idle session alive up to here, as an active user would.
            key = client.cookies["sessionid"].value
            Session.objects.filter(session_key=key).update(
                expire_date=timezone.now() + timedelta(minutes=10)
            )
            response = client.get(
                reverse("notices-bell"), HTTP_HX_CURRENT_URL="http://testserver/inbox/", **HTMX
            )
        assert response["HX-Redirect"] == "/login/?next=/inbox/"
        assert response.cookies["sessionid"].value == ""  # the ended session's cookie goes
        assert not Session.objects.filter(session_key=key).exists()


class AdminNoticesLinkTest(NoticeTestCase):
    def test_the_administration_pages_link_to_the_notices_with_the_unread_count(self):
        self.notice(self.admin)
        self.notice(self.admin)
        html = text(self.as_user(self.admin).get(reverse("admin:index"), **EN))
        assert '<a href="/notices/">Notices (2)</a>' in html
