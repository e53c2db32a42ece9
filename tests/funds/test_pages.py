"""The pages (issue 5): every page and action, as each role uses them in a browser.

What is checked: the status of each page for each role; what it shows and keeps out (other
units' cases, victims' identities for a liaison); that a form's error is shown beside its field
(or at the top for a refused rule) with everything typed kept and nothing changed; the htmx
fragments of the inbox and the desk; CSRF, the Content Security Policy, assets served only from
/static/, Chinese by default and English on request; a fixed number of queries per list.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from typing import Any
from unittest import mock

from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from funds.errors import RuleViolation
from funds.models import (
    Case,
    Flag,
    Instruction,
    InvolvedAccount,
    Transfer,
    Victim,
)
from tests.funds.helpers import FundsTestCase

ID_NUMBER = "370102199001071234"
ID_MASKED = "370102********1234"
PHONE = "13800138000"
PHONE_MASKED = "138****8000"
VICTIM = "欧阳娜娜"
VICTIM_ACCOUNT, VICTIM_ACCOUNT_MASKED = "6217000099998888", "************8888"

HTMX = {"HTTP_HX_REQUEST": "true"}


# -- reading the HTML ---------------------------------------------------------------------


def text(response: Any) -> str:
    return response.content.decode()


def form_html(html: str, action: str) -> str:
    """The inner HTML of the form posting to ``action``."""
    match = re.search(
        rf'<form[^>]*\saction="{re.escape(action)}"[^>]*>(.*?)</form>', html, flags=re.S
    )
    assert match, f"no form posting to {action}"
    return match.group(1)


def field_block(html: str, name: str) -> str:
    """The ``<p class="field">`` holding the input named ``name``: label, widget, errors."""
    for block in re.findall(r'<p class="field[^"]*">.*?</p>', html, flags=re.S):
        if f'name="{name}"' in block:
            return block
    raise AssertionError(f"no field named {name}")


def assert_error_beside(html: str, name: str, message: str) -> str:
    block = field_block(html, name)
    assert "has-error" in block, block
    assert 'class="error"' in block and message in block, (message, block)
    return block


def top_errors(html: str) -> str:
    match = re.search(r'<div class="errors" role="alert">(.*?)</div>', html, flags=re.S)
    assert match, "no error at the top of the form"
    return match.group(1)


def messages_of(html: str) -> str:
    match = re.search(r'<ul class="messages"[^>]*>(.*?)</ul>', html, flags=re.S)
    return match.group(1) if match else ""


def selected(block: str, value: str) -> bool:
    return re.search(rf'<option value="{re.escape(value)}"[^>]*\sselected', block) is not None


def totals_section(html: str) -> dict[str, str]:
    """The figures of the ``<section class="totals">``: label -> shown value."""
    match = re.search(r'<section class="totals"[^>]*>(.*?)</section>', html, flags=re.S)
    assert match, "no totals"
    return dict(re.findall(r"<span>(.*?)</span><strong>(.*?)</strong>", match.group(1), flags=re.S))


class PageTestCase(FundsTestCase):
    def as_user(self, user: User) -> Client:
        self.client.force_login(user)
        return self.client

    def get(self, user: User, url: str, status: int = 200, **extra: Any) -> str:
        response = self.as_user(user).get(url, **extra)
        assert response.status_code == status, (url, response.status_code)
        return text(response)

    def case_url(self, case_id: int) -> str:
        return reverse("case-detail", args=[case_id])

    def stop(self, case_id: int, account_id: int, amount: str = "5000.00") -> dict[str, Any]:
        return self.ask(case_id, {"kind": "stop_payment", "account": account_id, "amount": amount})

    def freeze(self, case_id: int, account_id: int, amount: str = "6000.00") -> dict[str, Any]:
        return self.ask(
            case_id,
            {
                "kind": "freeze",
                "account": account_id,
                "amount": amount,
            },
        )

    def victim(self, case_id: int) -> dict[str, Any]:
        """A victim with their own account at CCB, where returns are paid (R9)."""
        return self.post(
            self.officer_lx,
            f"/api/v1/cases/{case_id}/victims/",
            {
                "name": VICTIM,
                "id_number": ID_NUMBER,
                "phone": PHONE,
                "loss_amount": "20000.00",
                "account": {"institution": "CCB", "number": VICTIM_ACCOUNT, "holder_name": VICTIM},
            },
            201,
        )

    def late_case(self) -> dict[str, Any]:
        """A case reported an hour ago with no stop yet: the sweep flags it overdue (R13)."""
        case = self.report(
            title="迟报案件", reported_at=(timezone.now() - timedelta(hours=1)).isoformat()
        )
        call_command("sweep_deadlines", stdout=StringIO())
        assert Flag.objects.filter(case_id=case["id"], resolved_at__isnull=True).exists()
        return case


# -- the officer's case list ----------------------------------------------------------------


class CaseListPageTest(PageTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.a = self.report(title="甲案 冒充客服")
        self.b = self.report(title="乙案 刷单返利")
        self.victim(self.b["id"])
        self.c = self.report(title="丙案 虚假贷款")
        self.add_account(self.c["id"], number="6222029988776655")
        self.elsewhere = self.report(self.officer_sn, title="青岛的案件")

    def search(self, user: User | None = None, **query: str) -> str:
        """The list's page as the form shows it: a search term is posted, never in the
        address (PIPL art. 28), and the page it redirects to is read."""
        client = self.as_user(user or self.officer_lx)
        if "q" not in query:
            return self.get(user or self.officer_lx, reverse("case-list"), data=query)
        response = client.post(reverse("case-list"), query)
        assert response.status_code == 302, response.status_code
        assert "q=" not in response["Location"]
        return text(client.get(response["Location"]))

    def listed(self, user: User | None = None, **query: str) -> set[str]:
        """The numbers of the cases in the list's table."""
        html = self.search(user, **query)
        return set(re.findall(r'<td><a href="/cases/\d+/">([^<]+)</a></td>', html))

    def test_it_lists_the_units_cases_and_nothing_of_other_units(self):
        html = self.get(self.officer_lx, reverse("case-list"))
        for case in (self.a, self.b, self.c):
            assert case["number"] in html and case["title"] in html
            assert f'href="{self.case_url(case["id"])}"' in html
        assert self.elsewhere["number"] not in html
        assert self.elsewhere["title"] not in html

    def test_a_city_manager_sees_the_subtree_and_not_another_city(self):
        assert self.listed(self.manager_jn) == {
            self.a["number"],
            self.b["number"],
            self.c["number"],
        }
        assert self.listed(self.officer_sn) == {self.elsewhere["number"]}

    def test_it_searches_by_case_number(self):
        assert self.listed(q=self.a["number"]) == {self.a["number"]}

    def test_it_searches_by_victim_name(self):
        assert self.listed(q=VICTIM) == {self.b["number"]}

    def test_it_searches_by_account_number(self):
        assert self.listed(q="99887766") == {self.c["number"]}

    def test_a_search_of_another_units_case_finds_nothing(self):
        assert self.listed(q=self.elsewhere["number"]) == set()
        html = self.search(q=self.elsewhere["number"])
        assert "没有符合条件的案件。" in html
        assert self.elsewhere["title"] not in html

    def test_it_filters_by_status_and_keeps_the_filter_shown(self):
        self.post(self.officer_lx, f"/api/v1/cases/{self.b['id']}/accept/")
        assert self.listed(status="accepted") == {self.b["number"]}
        assert self.listed(status="reported") == {self.a["number"], self.c["number"]}
        html = self.get(self.officer_lx, reverse("case-list"), data={"status": "accepted"})
        assert selected(html, "accepted")

    def test_it_filters_cases_with_open_flags(self):
        late = self.late_case()
        assert self.listed(flagged="1") == {late["number"]}
        html = self.get(self.officer_lx, reverse("case-list"), data={"flagged": "1"})
        assert 'id="flagged" name="flagged" type="checkbox" value="1" checked' in html

    def test_only_police_roles_see_it_and_a_visitor_is_sent_to_sign_in(self):
        for user in (self.liaison_icbc, self.admin):
            self.get(user, reverse("case-list"), status=403)
        self.client.logout()
        response = self.client.get(reverse("case-list"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


# -- the new report -------------------------------------------------------------------------


class NewReportPageTest(PageTestCase):
    def test_the_form_has_every_field_with_the_time_filled_in(self):
        html = self.get(self.officer_lx, reverse("case-new"))
        for name in ("title", "fraud_type", "reported_at", "description"):
            block = field_block(html, name)
            assert "<label" in block
        assert re.search(r'name="reported_at" value="\d{4}-\d\d-\d\dT\d\d:\d\d"', html)

    def test_only_an_officer_logs_a_report(self):
        for user in (self.manager_lx, self.auditor_sd, self.liaison_icbc):
            self.get(user, reverse("case-new"), status=403)

    def test_a_valid_report_goes_on_to_the_case_file_to_add_the_account(self):
        response = self.as_user(self.officer_lx).post(
            reverse("case-new"),
            intake_form(
                title="冒充客服退款",
                fraud_type="impersonating_customer_service",
                reported_at=timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
                description="受害人接到自称快递客服电话",
            ),
        )
        case = Case.objects.get(title="冒充客服退款")
        assert response.status_code == 302
        assert response["Location"] == self.case_url(case.pk) + "#add-account"
        assert case.unit == self.lixia and case.description == "受害人接到自称快递客服电话"
        assert [v.name for v in case.victims.all()] == ["张三"]
        html = text(self.client.get(response["Location"]))
        assert case.number in messages_of(html)
        # No account was given: the account form is open, ready for the stop-payment.
        assert re.search(r'<details id="add-account"\s+open>', html)

    def test_an_invalid_report_shows_errors_beside_the_fields_and_keeps_the_input(self):
        future = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        response = self.as_user(self.officer_lx).post(
            reverse("case-new"),
            intake_form(
                title="",
                fraud_type="romance",
                reported_at=future,
                description="网恋对象诱导投资",
            ),
        )
        assert response.status_code == 400
        html = text(response)
        assert_error_beside(html, "title", "该字段为必填项。")
        block = assert_error_beside(html, "reported_at", "接警时间不能晚于当前时间。")
        assert f'value="{future}"' in block
        assert selected(field_block(html, "fraud_type"), "romance")
        assert "网恋对象诱导投资</textarea>" in field_block(html, "description")
        assert 'value="张三"' in field_block(html, "victims-0-name")
        assert not Case.objects.exists()


def intake_form(**fields: str) -> dict[str, str]:
    """The new report page's fields: the case, one victim and no account."""
    return {
        "victims-TOTAL_FORMS": "1",
        "victims-INITIAL_FORMS": "0",
        "victims-0-name": "张三",
        "victims-0-id_number": "370102199001011231",
        "victims-0-phone": "13800138000",
        "victims-0-loss_amount": "30000.00",
        "accounts-TOTAL_FORMS": "3",
        "accounts-INITIAL_FORMS": "0",
        **fields,
    }


# -- the case file --------------------------------------------------------------------------


class CaseFilePageTest(PageTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.case = self.filed_case()
        self.victim(self.case["id"])
        self.account = self.add_account(self.case["id"], number="6222020000000777")
        self.other = self.report(title="另一案")
        self.add_account(self.other["id"], number="6222020000000777")
        self.stop(self.case["id"], self.account["id"], "4321.00")
        self.url = self.case_url(self.case["id"])

    def test_police_of_the_subtree_see_it(self):
        for user in (self.officer_lx, self.manager_lx, self.manager_jn, self.auditor_sd):
            html = self.get(user, self.url)
            assert self.case["number"] in html

    def test_it_shows_the_case_accounts_instructions_victims_and_timeline(self):
        html = self.get(self.officer_lx, self.url)
        assert self.case["title"] in html and "已立案" in html
        assert "6222020000000777" in html and "中国工商银行" in html
        assert "已申请止付" in html  # the account's stage
        assert "待机构处理" in html and "¥4,321.00" in html  # the instruction
        assert 'class="clock ok"' in html and "反馈期限" in html  # its clock
        # The same account in another case is pointed out.
        assert f'<span class="badge warning">{self.other["number"]}</span>' in html
        assert VICTIM in html and "¥20,000.00" in html
        timeline = re.search(r'<ol class="timeline">(.*?)</ol>', html, flags=re.S)
        assert timeline and "李明" in timeline.group(1) and "申请 ¥4,321.00" in timeline.group(1)

    def test_the_timeline_is_in_chinese(self):
        html = self.get(self.officer_lx, self.url)
        timeline = re.search(r'<ol class="timeline">(.*?)</ol>', html, flags=re.S)
        assert timeline
        labels = re.findall(r"<strong>(.*?)</strong>", timeline.group(1))
        assert len(labels) == 6, labels  # reported, accepted, filed, victim, account, stop
        english = [label for label in labels if re.search(r"[A-Za-z]", label)]
        assert english == [], f"untranslated timeline labels: {english}"

    def test_every_id_on_the_page_is_unique_so_each_label_names_its_own_field(self):
        repeated = {}
        for user, url in [
            (self.officer_lx, self.url),
            (self.liaison_icbc, reverse("inbox")),
            (self.manager_lx, reverse("desk")),
        ]:
            html = self.get(user, url)
            ids = re.findall(r'\sid="([^"]+)"', html)
            assert ids, url
            twice = sorted({i for i in ids if ids.count(i) > 1})
            if twice:
                repeated[url] = twice
        assert repeated == {}, f"ids used twice on a page: {repeated}"

    def test_victims_identity_numbers_and_phones_are_masked(self):
        for user in (self.officer_lx, self.manager_jn, self.auditor_sd):
            html = self.get(user, self.url)
            assert ID_MASKED in html and PHONE_MASKED in html
            assert ID_NUMBER not in html
            assert PHONE not in html

    def test_another_units_case_and_a_missing_case_are_404(self):
        self.get(self.officer_sn, self.url, status=404)
        self.get(self.manager_lx, self.case_url(self.other["id"]), status=200)
        qingdao = self.report(self.officer_sn)
        self.get(self.manager_lx, self.case_url(qingdao["id"]), status=404)
        self.get(self.officer_lx, self.case_url(999_999), status=404)

    def test_a_station_officer_does_not_see_the_county_case(self):
        self.get(self.officer_station, self.url, status=404)

    def test_liaison_and_admin_are_refused(self):
        for user in (self.liaison_icbc, self.admin):
            self.get(user, self.url, status=403)

    def test_only_the_officer_gets_the_forms(self):
        officer = self.get(self.officer_lx, self.url)
        for action in ("victims", "accounts", "transfers", "instructions"):
            assert f'action="/cases/{self.case["id"]}/{action}/"' in officer
        for user in (self.manager_lx, self.auditor_sd):
            html = self.get(user, self.url)
            assert f'action="/cases/{self.case["id"]}/accounts/"' not in html
            assert "/cancel/" not in html


class CaseFormsTest(PageTestCase):
    """Each POST form of the case file: success redirects and changes the database; an error
    is shown beside its field (or at the top) with the input kept, and changes nothing."""

    def setUp(self) -> None:
        super().setUp()
        self.case = self.report()
        self.url = self.case_url(self.case["id"])

    def post_form(self, path: str, data: dict[str, Any], user: User | None = None) -> Any:
        return self.as_user(user or self.officer_lx).post(f"/cases/{self.case['id']}/{path}/", data)

    def assert_redirect(self, response: Any, anchor: str = "") -> str:
        assert response.status_code == 302, text(response)[:3000]
        assert response["Location"] == self.url + anchor
        return text(self.client.get(self.url))

    # victims

    def victim_data(self, **changes: str) -> dict[str, str]:
        return {
            "name": VICTIM,
            "id_number": ID_NUMBER,
            "phone": PHONE,
            "loss_amount": "12000.50",
            "account_institution": "CCB",
            "account_number": "6217000011112222",
            **changes,
        }

    def test_a_victim_is_added(self):
        html = self.assert_redirect(self.post_form("victims", self.victim_data()), "#victims")
        victim = Victim.objects.get(case_id=self.case["id"])
        assert victim.name == VICTIM and victim.loss_amount == Decimal("12000.50")
        assert victim.account_institution == self.ccb
        assert "已添加被害人。" in messages_of(html)
        assert ID_MASKED in html and ID_NUMBER not in html

    def test_a_bad_identity_number_is_shown_beside_it_and_the_input_kept(self):
        response = self.as_user(self.officer_lx).post(
            f"/cases/{self.case['id']}/victims/",
            self.victim_data(id_number="37010219900101"),
            HTTP_ACCEPT_LANGUAGE="en",
        )
        assert response.status_code == 400
        html = form_html(text(response), f"/cases/{self.case['id']}/victims/")
        block = assert_error_beside(
            html,
            "id_number",
            "Enter the 18-character identity number: 17 digits and a check digit (0-9 or X).",
        )
        assert 'value="37010219900101"' in block
        assert f'value="{VICTIM}"' in field_block(html, "name")
        assert 'value="12000.50"' in field_block(html, "loss_amount")
        assert selected(field_block(html, "account_institution"), "CCB")
        assert not Victim.objects.exists()

    def test_a_victim_cannot_be_added_to_a_closed_case(self):
        self.post(self.manager_lx, f"/api/v1/cases/{self.case['id']}/close/")
        # The officer had the form open when a manager closed the case: the refusal must
        # be said somewhere on the page that comes back (at the top of the form, or as a
        # message), not swallowed.
        response = self.post_form("victims", self.victim_data())
        assert response.status_code == 400
        assert not Victim.objects.exists()
        assert "案件已结案。" in text(response)

    # accounts, with the stop-payment in the same step

    def account_data(self, **changes: str) -> dict[str, str]:
        return {
            "institution": "ICBC",
            "number": "6222021234567890",
            "holder_name": "王某某",
            "layer": "1",
            "ask_stop": "on",
            "stop_amount": "50000.00",
            **changes,
        }

    def test_an_account_is_added_and_stopped_in_one_step(self):
        html = self.assert_redirect(self.post_form("accounts", self.account_data()), "#accounts")
        involved_account = InvolvedAccount.objects.get(case_id=self.case["id"])
        assert involved_account.account.number == "6222021234567890"
        assert involved_account.account.institution == self.icbc
        stop = Instruction.objects.get(involved_account=involved_account)
        assert (stop.kind, stop.status, stop.requested_amount) == (
            "stop_payment",
            "pending",
            Decimal("50000.00"),
        )
        assert stop.institution == self.icbc
        assert "已添加账户并发出止付申请。" in messages_of(html)
        assert "已申请止付" in html and "¥50,000.00" in html

    def test_an_account_can_be_added_without_a_stop(self):
        data = self.account_data()
        del data["ask_stop"]
        self.assert_redirect(self.post_form("accounts", data), "#accounts")
        assert InvolvedAccount.objects.filter(case_id=self.case["id"]).count() == 1
        assert not Instruction.objects.exists()

    def test_a_stop_without_an_amount_is_refused_beside_the_amount(self):
        response = self.post_form("accounts", self.account_data(stop_amount=""))
        assert response.status_code == 400
        html = form_html(text(response), f"/cases/{self.case['id']}/accounts/")
        assert_error_beside(html, "stop_amount", "请填写止付金额。")
        assert 'value="6222021234567890"' in field_block(html, "number")
        assert 'value="王某某"' in field_block(html, "holder_name")
        assert selected(field_block(html, "institution"), "ICBC")
        assert " checked" in field_block(html, "ask_stop")
        assert re.search(r'<details id="add-account"\s+open>', text(response))
        assert not InvolvedAccount.objects.exists() and not Instruction.objects.exists()

    def test_an_account_already_in_the_case_is_refused_beside_its_number(self):
        self.add_account(self.case["id"], number="6222021234567890")
        response = self.post_form("accounts", self.account_data())
        assert response.status_code == 400
        html = form_html(text(response), f"/cases/{self.case['id']}/accounts/")
        assert_error_beside(html, "number", "该账户已在本案中。")
        assert 'value="50000.00"' in field_block(html, "stop_amount")
        assert InvolvedAccount.objects.count() == 1 and not Instruction.objects.exists()

    def test_a_refused_stop_adds_no_account_either(self):
        refusal = RuleViolation("止付被拒", field="stop_amount")
        with mock.patch(
            "funds.views.officer.instruction_services.instruction_request", side_effect=refusal
        ):
            response = self.post_form("accounts", self.account_data())
        assert response.status_code == 400
        html = form_html(text(response), f"/cases/{self.case['id']}/accounts/")
        assert_error_beside(html, "stop_amount", "止付被拒")
        assert not InvolvedAccount.objects.exists()

    # transfers

    def transfer_data(self, **changes: str) -> dict[str, str]:
        return {
            "from_institution": "CCB",
            "from_number": "6217000011112222",
            "from_holder": VICTIM,
            "to_institution": "ICBC",
            "to_number": "6222021234567890",
            "to_holder": "王某某",
            "amount": "9999.99",
            "occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "reference": "TX-20260101-0001",
            **changes,
        }

    def test_a_transfer_is_recorded(self):
        html = self.assert_redirect(self.post_form("transfers", self.transfer_data()), "#transfers")
        transfer = Transfer.objects.get(case_id=self.case["id"])
        assert transfer.amount == Decimal("9999.99") and transfer.reference == "TX-20260101-0001"
        assert "已登记资金流水。" in messages_of(html) and "TX-20260101-0001" in html

    def test_a_bad_transfer_amount_is_shown_beside_it_and_the_input_kept(self):
        response = self.post_form("transfers", self.transfer_data(amount="0"))
        assert response.status_code == 400
        html = form_html(text(response), f"/cases/{self.case['id']}/transfers/")
        assert_error_beside(html, "amount", "0.01")
        assert 'value="TX-20260101-0001"' in field_block(html, "reference")
        assert 'value="6222021234567890"' in field_block(html, "to_number")
        assert not Transfer.objects.exists()

    def test_a_transfer_to_the_same_account_is_refused_at_the_top(self):
        response = self.post_form(
            "transfers",
            self.transfer_data(
                from_institution="ICBC", from_number="6222021234567890", from_holder="王某某"
            ),
        )
        assert response.status_code == 400
        html = form_html(text(response), f"/cases/{self.case['id']}/transfers/")
        assert "资金流水须在两个不同账户之间。" in top_errors(html)
        assert 'value="9999.99"' in field_block(html, "amount")
        assert not Transfer.objects.exists()

    # filing and the case's status

    def test_accept_then_file(self):
        html = self.assert_redirect(self.post_form("accept", {}))
        assert Case.objects.get(pk=self.case["id"]).status == "accepted"
        assert "已完成。" in messages_of(html)
        assert f'action="/cases/{self.case["id"]}/file/"' in html
        self.assert_redirect(self.post_form("file", {"filing_number": "济公立字〔2026〕55号"}))
        case = Case.objects.get(pk=self.case["id"])
        assert (case.status, case.filing_number) == ("filed", "济公立字〔2026〕55号")

    def test_accepting_twice_is_refused_with_a_message(self):
        self.post_form("accept", {})
        html = self.assert_redirect(self.post_form("accept", {}))
        assert 'class="error"' in messages_of(html)
        assert Case.objects.get(pk=self.case["id"]).status == "accepted"

    def test_filing_without_a_number_is_shown_beside_the_field(self):
        self.post_form("accept", {})
        response = self.post_form("file", {"filing_number": "   "})
        assert response.status_code == 400
        html = form_html(text(response), f"/cases/{self.case['id']}/file/")
        assert field_block(html, "filing_number")
        assert "has-error" in field_block(html, "filing_number")
        assert Case.objects.get(pk=self.case["id"]).status == "accepted"

    def test_a_manager_closes_the_case_and_an_officer_may_not(self):
        html = self.assert_redirect(self.post_form("close", {}))
        assert 'class="error"' in messages_of(html)
        assert Case.objects.get(pk=self.case["id"]).status == "reported"
        manager_page = self.get(self.manager_lx, self.url)
        assert f'action="/cases/{self.case["id"]}/close/"' in manager_page
        self.assert_redirect(self.post_form("close", {}, user=self.manager_lx))
        assert Case.objects.get(pk=self.case["id"]).status == "closed"
        officer_page = self.get(self.officer_lx, self.url)
        assert f'action="/cases/{self.case["id"]}/accounts/"' not in officer_page

    def test_a_manager_may_not_accept_and_others_may_not_post_at_all(self):
        self.assert_redirect(self.post_form("accept", {}, user=self.manager_lx))
        assert Case.objects.get(pk=self.case["id"]).status == "reported"
        assert self.post_form("accept", {}, user=self.auditor_sd).status_code == 403
        assert (
            self.post_form("victims", self.victim_data(), user=self.manager_lx).status_code == 403
        )
        assert self.post_form("accept", {}, user=self.officer_sn).status_code == 404
        assert (
            self.post_form("victims", self.victim_data(), user=self.officer_sn).status_code == 404
        )
        assert Case.objects.get(pk=self.case["id"]).status == "reported"
        assert not Victim.objects.exists()

    def test_get_is_not_an_action(self):
        assert self.as_user(self.officer_lx).get(f"{self.url}accept/").status_code == 405
        assert Case.objects.get(pk=self.case["id"]).status == "reported"

    # instructions: freeze, renewal, release, return (and a further stop-payment)

    def freeze_data(self, account_id: int, **changes: str) -> dict[str, str]:
        return {
            "kind": "freeze",
            "account": str(account_id),
            "amount": "7000.00",
            "instrument_number": "济公冻字〔2026〕12号",
            "term_months": "6",
            **changes,
        }

    def test_a_freeze_is_sent_for_approval(self):
        case = self.filed_case()
        self.case = case
        self.url = self.case_url(case["id"])
        account = self.add_account(case["id"])
        html = self.assert_redirect(
            self.post_form("instructions", self.freeze_data(account["id"])), "#instructions"
        )
        freeze = Instruction.objects.get(kind="freeze")
        assert (freeze.status, freeze.requested_amount, freeze.term_months) == (
            "awaiting_approval",
            Decimal("7000.00"),
            6,
        )
        assert freeze.instrument_number == "济公冻字〔2026〕12号"
        assert "申请已发出。" in messages_of(html) and "待审批" in html

    def test_a_freeze_before_filing_is_refused_at_the_top_with_the_input_kept(self):
        account = self.add_account(self.case["id"])
        response = self.post_form("instructions", self.freeze_data(account["id"]))
        assert response.status_code == 400
        html = form_html(text(response), f"/cases/{self.case['id']}/instructions/")
        assert "立案后方可冻结（R4）。" in top_errors(html)
        assert 'value="济公冻字〔2026〕12号"' in field_block(html, "instrument_number")
        assert 'value="7000.00"' in field_block(html, "amount")
        assert selected(field_block(html, "kind"), "freeze")
        assert selected(field_block(html, "account"), str(account["id"]))
        assert not Instruction.objects.exists()

    def test_a_freeze_whose_number_the_unit_used_already_is_refused_beside_it(self):
        case = self.filed_case()
        self.case = case
        first = self.add_account(case["id"], number="6222020000000011")
        second = self.add_account(case["id"], number="6222020000000012")
        response = self.post_form("instructions", self.freeze_data(first["id"]))
        assert response.status_code == 302
        response = self.post_form("instructions", self.freeze_data(second["id"]))
        assert response.status_code == 400
        html = form_html(text(response), f"/cases/{case['id']}/instructions/")
        assert_error_beside(
            html, "instrument_number", "文书编号济公冻字〔2026〕12号已被本单位使用。"
        )
        assert Instruction.objects.count() == 1

    def test_a_third_stop_payment_is_refused_and_changes_nothing(self):
        account = self.add_account(self.case["id"])
        for _ in range(2):
            stop = self.stop(self.case["id"], account["id"], "100.00")
            self.execute(stop["id"], "100.00")
        before = Instruction.objects.count()
        response = self.post_form(
            "instructions",
            {"kind": "stop_payment", "account": str(account["id"]), "amount": "123.45"},
        )
        assert response.status_code == 400
        html = form_html(text(response), f"/cases/{self.case['id']}/instructions/")
        assert "该账户在本案中已止付 2 次（R3）。" in top_errors(html)
        assert 'value="123.45"' in field_block(html, "amount")
        assert Instruction.objects.count() == before

    def test_a_return_names_a_freeze_and_a_victim(self):
        case, _account, freeze = self.frozen_account("8000.00")
        self.case = case
        self.url = self.case_url(case["id"])
        victim = self.victim(case["id"])
        page = self.get(self.officer_lx, self.url)
        assert f'<option value="{freeze["id"]}">' in field_block(
            form_html(page, f"/cases/{case['id']}/instructions/"), "freeze"
        )
        data = {
            "kind": "return",
            "freeze": str(freeze["id"]),
            "victim": str(victim["id"]),
            "amount": "9000.00",
        }
        response = self.post_form("instructions", data)
        assert response.status_code == 400
        html = form_html(text(response), f"/cases/{case['id']}/instructions/")
        assert_error_beside(html, "amount", "尚在冻结且未被申请的金额最多为 8000.00。")
        assert selected(field_block(html, "victim"), str(victim["id"]))
        assert not Instruction.objects.filter(kind="return").exists()
        data["amount"] = "3000.00"
        self.assert_redirect(self.post_form("instructions", data), "#instructions")
        returned = Instruction.objects.get(kind="return")
        assert returned.victim_id == victim["id"] and returned.freeze_id == freeze["id"]

    def test_money_still_frozen_in_a_closed_case_can_still_be_released_from_the_page(self):
        # DOMAIN.md: money still held must still be released or returned in time after the
        # case is closed, and the services allow a release or a return on a closed case.
        case, _account, freeze = self.frozen_account("8000.00")
        self.case = case
        self.url = self.case_url(case["id"])
        self.post(self.manager_lx, f"/api/v1/cases/{case['id']}/close/")
        data = {"kind": "release", "freeze": str(freeze["id"]), "amount": "500.00"}
        data["reason"] = "查明与本案无关"
        self.assert_redirect(self.post_form("instructions", data), "#instructions")
        assert Instruction.objects.get(kind="release").status == "awaiting_approval"
        page = self.get(self.officer_lx, self.url)
        assert f'action="/cases/{case["id"]}/instructions/"' in page, (
            "the closed case's page offers no form to ask for a release or a return"
        )

    # cancel and verify

    def test_a_pending_stop_is_cancelled(self):
        account = self.add_account(self.case["id"])
        stop = self.stop(self.case["id"], account["id"])
        html = self.get(self.officer_lx, self.url)
        assert f'action="/instructions/{stop["id"]}/cancel/"' in html
        response = self.as_user(self.officer_lx).post(f"/instructions/{stop['id']}/cancel/")
        self.assert_redirect(response, "#instructions")
        assert Instruction.objects.get(pk=stop["id"]).status == "cancelled"

    def test_an_answered_instruction_cannot_be_cancelled(self):
        account = self.add_account(self.case["id"])
        stop = self.stop(self.case["id"], account["id"])
        self.execute(stop["id"], "100.00")
        response = self.as_user(self.officer_lx).post(f"/instructions/{stop['id']}/cancel/")
        html = self.assert_redirect(response, "#instructions")
        assert 'class="error"' in messages_of(html)
        assert Instruction.objects.get(pk=stop["id"]).status == "executed"

    def test_an_executed_freeze_is_verified(self):
        case, _account, freeze = self.frozen_account()
        self.case = case
        self.url = self.case_url(case["id"])
        html = self.get(self.officer_lx, self.url)
        assert f'action="/instructions/{freeze["id"]}/verify/"' in html
        response = self.as_user(self.officer_lx).post(f"/instructions/{freeze['id']}/verify/")
        html = self.assert_redirect(response, "#instructions")
        assert Instruction.objects.get(pk=freeze["id"]).verified_at is not None
        assert f'action="/instructions/{freeze["id"]}/verify/"' not in html

    def test_another_units_officer_cannot_cancel(self):
        account = self.add_account(self.case["id"])
        stop = self.stop(self.case["id"], account["id"])
        response = self.as_user(self.officer_sn).post(f"/instructions/{stop['id']}/cancel/")
        assert response.status_code == 404
        assert Instruction.objects.get(pk=stop["id"]).status == "pending"


# -- the liaison's inbox --------------------------------------------------------------------


class InboxPageTest(PageTestCase):
    def setUp(self) -> None:
        super().setUp()
        # A filed case with a victim; at ICBC: a return (due in working days), a freeze
        # (due in a day) and a stop-payment (due in minutes); a freeze not yet approved.
        self.case, self.frozen, self.held = self.frozen_account("8000.00")
        victim = self.victim(self.case["id"])
        self.return_ = self.ask(
            self.case["id"],
            {
                "kind": "return",
                "freeze": self.held["id"],
                "victim": victim["id"],
                "amount": "1000.00",
            },
        )
        self.approve(self.return_["id"], user=self.manager_jn)
        second = self.add_account(self.case["id"], number="6222020000000002")
        self.freeze_ = self.approve(self.freeze(self.case["id"], second["id"])["id"])
        third = self.add_account(self.case["id"], number="6222020000000003")
        self.stop_ = self.stop(self.case["id"], third["id"], "5000.00")
        fourth = self.add_account(self.case["id"], number="6222020000000004")
        self.unapproved = self.freeze(self.case["id"], fourth["id"])
        ccb = self.add_account(self.case["id"], number="6217000000000005", institution="CCB")
        self.ccb_stop = self.stop(self.case["id"], ccb["id"])

    def row(self, html: str, pk: int) -> str:
        match = re.search(rf'<tr id="instruction-{pk}".*?</tr>', html, flags=re.S)
        assert match, f"no row for instruction {pk}"
        return match.group(0)

    def test_it_lists_the_institutions_pending_instructions_most_urgent_first(self):
        html = self.get(self.liaison_icbc, reverse("inbox"))
        order = [self.stop_["id"], self.freeze_["id"], self.return_["id"]]
        positions = [html.index(f'id="instruction-{pk}"') for pk in order]
        assert positions == sorted(positions)
        assert f'id="instruction-{self.unapproved["id"]}"' not in html
        assert f'id="instruction-{self.ccb_stop["id"]}"' not in html
        assert "6217000000000005" not in html
        stop = self.row(html, self.stop_["id"])
        assert "6222020000000003" in stop and "¥5,000.00" in stop and self.case["number"] in stop
        assert 'class="clock' in stop
        number = self.freeze_["instrument_number"]
        assert number and number in self.row(html, self.freeze_["id"])

    def test_the_liaison_sees_nothing_of_the_victims(self):
        self.execute(self.stop_["id"], "10.00")  # something in "answered lately" too
        for url in (reverse("inbox"), reverse("inbox-rows")):
            html = self.get(self.liaison_icbc, url)
            # The return to the victim is there, and still nothing of who the victim is.
            assert f'id="instruction-{self.return_["id"]}"' in html
            for secret in (VICTIM, ID_NUMBER, ID_MASKED, PHONE, PHONE_MASKED, "张三"):
                assert secret not in html, (url, secret)

    def test_only_liaisons_have_an_inbox(self):
        for user in (self.officer_lx, self.manager_lx, self.auditor_sd, self.admin):
            self.get(user, reverse("inbox"), status=403)
            self.get(user, reverse("inbox-rows"), status=403)

    def test_the_polled_fragment_is_the_rows_alone_and_polls_again(self):
        html = self.get(self.liaison_icbc, reverse("inbox-rows"))
        assert html.lstrip().startswith('<tbody id="inbox-rows"')
        assert "<html" not in html and "<body" not in html
        assert 'hx-get="/inbox/rows/"' in html and 'hx-trigger="every 5s"' in html
        assert f'id="instruction-{self.stop_["id"]}"' in html
        # What the liaison is typing survives the poll.
        assert f'id="answer-{self.stop_["id"]}" hx-preserve' in html
        inbox = self.get(self.liaison_icbc, reverse("inbox"))
        assert 'hx-get="/inbox/rows/"' in inbox and 'hx-trigger="every 5s"' in inbox

    def test_a_new_instruction_shows_up_in_the_next_poll(self):
        before = self.get(self.liaison_icbc, reverse("inbox-rows"))
        account = self.add_account(self.case["id"], number="6222020000000099")
        stop = self.stop(self.case["id"], account["id"])
        after = self.get(self.liaison_icbc, reverse("inbox-rows"))
        assert f'id="instruction-{stop["id"]}"' not in before
        assert f'id="instruction-{stop["id"]}"' in after

    def execute_data(self, pk: int, amount: str, reference: str = "ICBC-ZF-001") -> dict:
        return {f"x{pk}-executed_amount": amount, f"x{pk}-bank_reference": reference}

    def test_executing_in_place_answers_the_row(self):
        pk = self.stop_["id"]
        response = self.as_user(self.liaison_icbc).post(
            f"/inbox/{pk}/execute/", self.execute_data(pk, "3000.00"), **HTMX
        )
        assert response.status_code == 200
        html = text(response)
        assert html.lstrip().startswith(f'<tr id="instruction-{pk}"')
        assert "<html" not in html
        assert "已执行" in html and "¥3,000.00" in html
        stop = Instruction.objects.get(pk=pk)
        assert (stop.status, stop.executed_amount, stop.bank_reference) == (
            "executed",
            Decimal("3000.00"),
            "ICBC-ZF-001",
        )
        assert InvolvedAccount.objects.get(pk=stop.involved_account_id).stopped_amount == Decimal(
            "3000.00"
        )
        inbox = self.get(self.liaison_icbc, reverse("inbox"))
        assert f'id="instruction-{pk}"' not in inbox  # no longer waiting
        assert "ICBC-ZF-001" in inbox  # answered lately

    def test_executing_without_htmx_redirects_with_a_message(self):
        pk = self.freeze_["id"]
        response = self.as_user(self.liaison_icbc).post(
            f"/inbox/{pk}/execute/", self.execute_data(pk, "6000.00")
        )
        assert response.status_code == 302 and response["Location"] == reverse("inbox")
        assert "反馈已记录。" in messages_of(text(self.client.get(reverse("inbox"))))
        assert Instruction.objects.get(pk=pk).status == "executed"

    def test_more_than_asked_is_shown_in_the_row_and_changes_nothing(self):
        pk = self.stop_["id"]
        response = self.as_user(self.liaison_icbc).post(
            f"/inbox/{pk}/execute/", self.execute_data(pk, "5000.01", "ICBC-TYPED"), **HTMX
        )
        assert response.status_code == 200
        html = text(response)
        assert html.lstrip().startswith(f'<tr id="instruction-{pk}"')
        assert_error_beside(html, f"x{pk}-executed_amount", "执行金额不能超过申请金额 5000.00。")
        assert 'value="5000.01"' in field_block(html, f"x{pk}-executed_amount")
        assert 'value="ICBC-TYPED"' in field_block(html, f"x{pk}-bank_reference")
        stop = Instruction.objects.get(pk=pk)
        assert stop.status == "pending" and stop.executed_amount is None

    def test_a_missing_reference_is_shown_in_the_row(self):
        pk = self.stop_["id"]
        response = self.as_user(self.liaison_icbc).post(
            f"/inbox/{pk}/execute/", self.execute_data(pk, "100.00", ""), **HTMX
        )
        html = text(response)
        assert_error_beside(html, f"x{pk}-bank_reference", "该字段为必填项。")
        assert 'value="100.00"' in field_block(html, f"x{pk}-executed_amount")
        assert Instruction.objects.get(pk=pk).status == "pending"

    def test_an_error_without_htmx_redirects_with_the_error(self):
        pk = self.stop_["id"]
        response = self.as_user(self.liaison_icbc).post(
            f"/inbox/{pk}/execute/", self.execute_data(pk, "9999.00")
        )
        assert response.status_code == 302
        assert "执行金额不能超过申请金额" in messages_of(text(self.client.get(reverse("inbox"))))
        assert Instruction.objects.get(pk=pk).status == "pending"

    def test_executing_twice_has_no_second_effect(self):
        pk = self.stop_["id"]
        client = self.as_user(self.liaison_icbc)
        client.post(f"/inbox/{pk}/execute/", self.execute_data(pk, "3000.00"), **HTMX)
        response = client.post(
            f"/inbox/{pk}/execute/", self.execute_data(pk, "4000.00", "AGAIN"), **HTMX
        )
        assert response.status_code == 200
        assert "已执行" in text(response)
        stop = Instruction.objects.get(pk=pk)
        assert (stop.executed_amount, stop.bank_reference) == (Decimal("3000.00"), "ICBC-ZF-001")
        assert InvolvedAccount.objects.get(pk=stop.involved_account_id).stopped_amount == Decimal(
            "3000.00"
        )

    def test_rejecting_in_place_and_without_htmx(self):
        pk = self.stop_["id"]
        client = self.as_user(self.liaison_icbc)
        response = client.post(f"/inbox/{pk}/reject/", {f"r{pk}-reason": ""}, **HTMX)
        html = text(response)
        assert_error_beside(html, f"r{pk}-reason", "该字段为必填项。")
        assert "<details open>" in html
        assert Instruction.objects.get(pk=pk).status == "pending"
        response = client.post(f"/inbox/{pk}/reject/", {f"r{pk}-reason": "户名不符"}, **HTMX)
        assert "已拒绝" in text(response)
        stop = Instruction.objects.get(pk=pk)
        assert (stop.status, stop.reject_reason) == ("rejected", "户名不符")
        pk = self.freeze_["id"]
        response = client.post(f"/inbox/{pk}/reject/", {f"r{pk}-reason": "账户已销户"})
        assert response.status_code == 302
        assert Instruction.objects.get(pk=pk).status == "rejected"

    def test_another_banks_instruction_is_404_and_untouched(self):
        pk = self.stop_["id"]
        client = self.as_user(self.liaison_ccb)
        assert (
            client.post(f"/inbox/{pk}/execute/", self.execute_data(pk, "1.00")).status_code == 404
        )
        assert client.post(f"/inbox/{pk}/reject/", {f"r{pk}-reason": "x"}).status_code == 404
        pk = self.unapproved["id"]
        client = self.as_user(self.liaison_icbc)
        assert (
            client.post(f"/inbox/{pk}/execute/", self.execute_data(pk, "1.00")).status_code == 404
        )
        assert Instruction.objects.get(pk=self.stop_["id"]).status == "pending"
        assert Instruction.objects.get(pk=pk).status == "awaiting_approval"


# -- the manager's desk ---------------------------------------------------------------------


class DeskPageTest(PageTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.case, _account, self.held = self.frozen_account("8000.00")
        victim = self.victim(self.case["id"])
        self.return_ = self.ask(
            self.case["id"],
            {
                "kind": "return",
                "freeze": self.held["id"],
                "victim": victim["id"],
                "amount": "1000.00",
            },
        )
        second = self.add_account(self.case["id"], number="6222020000000002")
        self.freeze_ = self.freeze(self.case["id"], second["id"], "6000.00")
        third = self.add_account(self.case["id"], number="6222020000000003")
        stop = self.stop(self.case["id"], third["id"], "5000.00")
        self.execute(stop["id"], "3000.00")
        self.late = self.late_case()
        qingdao = self.filed_case(self.officer_sn)
        account = self.add_account(qingdao["id"], user=self.officer_sn)
        self.qingdao_freeze = self.ask(
            qingdao["id"],
            {
                "kind": "freeze",
                "account": account["id"],
                "amount": "100.00",
            },
            user=self.officer_sn,
        )

    def approval_row(self, html: str, pk: int) -> str:
        match = re.search(rf'<tr id="approval-{pk}".*?</tr>', html, flags=re.S)
        assert match, f"no approval row for {pk}"
        return match.group(0)

    def test_approvals_offer_approve_only_where_the_level_suffices(self):
        html = self.get(self.manager_lx, reverse("desk"))
        freeze = self.approval_row(html, self.freeze_["id"])
        assert f'action="/desk/{self.freeze_["id"]}/approve/"' in freeze
        assert "审批通过" in freeze and "¥6,000.00" in freeze and "6 个月" in freeze
        returned = self.approval_row(html, self.return_["id"])
        assert "/approve/" not in returned and "需更高层级审批" in returned
        assert f'id="approval-{self.qingdao_freeze["id"]}"' not in html
        city = self.get(self.manager_jn, reverse("desk"))
        assert f'action="/desk/{self.return_["id"]}/approve/"' in city

    def test_an_auditor_sees_the_approvals_without_an_approve_button(self):
        html = self.get(self.auditor_sd, reverse("desk"))
        for pk in (self.freeze_["id"], self.return_["id"], self.qingdao_freeze["id"]):
            assert "/approve/" not in self.approval_row(html, pk)
        assert "/approve/" not in html

    def test_open_flags_and_totals_are_shown(self):
        html = self.get(self.manager_lx, reverse("desk"))
        flags = re.search(r'<section class="card" id="flags">(.*?)</section>', html, flags=re.S)
        assert flags and self.late["number"] in flags.group(1)
        totals = totals_section(html)
        assert totals["已止付"] == "¥3,000.00"
        assert totals["已冻结"] == "¥8,000.00"
        assert totals["案件"] == "2"
        assert '<canvas id="funnel-chart"' in html and 'id="chart-data"' in html
        assert self.lixia.name in html

    def test_the_period_selector_changes_the_totals(self):
        html = self.get(self.manager_lx, reverse("desk"))
        today = timezone.localdate()
        assert f'id="from" name="from" type="date" value="{today:%Y-%m}-01"' in html
        assert f'id="to" name="to" type="date" value="{today:%Y-%m-%d}"' in html
        old = self.get(
            self.manager_lx, reverse("desk"), data={"from": "2020-01-01", "to": "2020-01-31"}
        )
        assert 'name="from" type="date" value="2020-01-01"' in old
        assert 'name="to" type="date" value="2020-01-31"' in old
        totals = totals_section(old)
        assert totals["案件"] == "0" and totals["已止付"] == "¥0.00" and totals["已冻结"] == "¥0.00"

    def test_the_desk_of_a_unit_in_the_subtree_and_404_for_one_outside_it(self):
        html = self.get(self.manager_jn, reverse("desk"), data={"unit": "370102"})
        assert "历下区分局" in html
        # 市南 (Qingdao) lies outside 济南's subtree; an unknown code is the same 404.
        self.get(self.manager_jn, reverse("desk"), data={"unit": "370202"}, status=404)
        self.get(self.manager_jn, reverse("desk"), data={"unit": "999999"}, status=404)
        self.get(self.manager_lx, reverse("desk"), data={"unit": "370100"}, status=404)

    def test_only_managers_and_auditors_have_a_desk(self):
        for user in (self.officer_lx, self.liaison_icbc, self.admin):
            self.get(user, reverse("desk"), status=403)

    def test_approving_in_place(self):
        pk = self.freeze_["id"]
        response = self.as_user(self.manager_lx).post(f"/desk/{pk}/approve/", **HTMX)
        assert response.status_code == 200
        html = text(response)
        assert html.lstrip().startswith(f'<tr id="approval-{pk}"') and "<html" not in html
        assert "待机构处理" in html and "/approve/" not in html
        freeze = Instruction.objects.get(pk=pk)
        assert (freeze.status, freeze.approved_by) == ("pending", self.manager_lx)
        assert f'id="instruction-{pk}"' in self.get(self.liaison_icbc, reverse("inbox"))

    def test_approving_without_htmx_redirects_with_a_message(self):
        pk = self.freeze_["id"]
        response = self.as_user(self.manager_lx).post(f"/desk/{pk}/approve/")
        assert response.status_code == 302 and response["Location"] == reverse("desk")
        html = text(self.client.get(reverse("desk")))
        assert "已审批并发送至机构。" in messages_of(html)
        assert f'id="approval-{pk}"' not in html
        assert Instruction.objects.get(pk=pk).status == "pending"

    def test_a_county_manager_approving_a_return_sees_the_error_and_nothing_changes(self):
        pk = self.return_["id"]
        response = self.as_user(self.manager_lx).post(f"/desk/{pk}/approve/", **HTMX)
        assert response.status_code == 200
        html = text(response)
        assert html.lstrip().startswith(f'<tr id="approval-{pk}"')
        error = re.search(r'<span class="error" role="alert">(.*?)</span>', html, flags=re.S)
        assert error and "市级" in error.group(1)
        response = self.as_user(self.manager_lx).post(f"/desk/{pk}/approve/")
        assert response.status_code == 302
        assert "市级" in messages_of(text(self.client.get(reverse("desk"))))
        returned = Instruction.objects.get(pk=pk)
        assert (returned.status, returned.approved_by) == ("awaiting_approval", None)

    def test_approving_out_of_scope_or_by_an_auditor_is_refused(self):
        pk = self.qingdao_freeze["id"]
        assert self.as_user(self.manager_lx).post(f"/desk/{pk}/approve/").status_code == 404
        pk = self.freeze_["id"]
        assert self.as_user(self.auditor_sd).post(f"/desk/{pk}/approve/").status_code == 403
        assert self.as_user(self.officer_lx).post(f"/desk/{pk}/approve/").status_code == 403
        assert Instruction.objects.get(pk=pk).status == "awaiting_approval"
        assert Instruction.objects.get(pk=self.qingdao_freeze["id"]).status == "awaiting_approval"


# -- craft: CSRF, CSP, assets, language -----------------------------------------------------


class CraftTest(PageTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.case, _account, _freeze = self.frozen_account()
        account = self.add_account(self.case["id"], number="6222020000000002")
        self.stop_ = self.stop(self.case["id"], account["id"])

    def pages(self) -> list[tuple[User | None, str]]:
        return [
            (None, reverse("login")),
            (self.officer_lx, reverse("case-list")),
            (self.officer_lx, reverse("case-new")),
            (self.officer_lx, self.case_url(self.case["id"])),
            (self.liaison_icbc, reverse("inbox")),
            (self.manager_lx, reverse("desk")),
        ]

    def fetch(self, user: User | None, url: str, **extra: Any) -> Any:
        self.client.logout()
        if user is not None:
            self.client.force_login(user)
        response = self.client.get(url, **extra)
        assert response.status_code == 200, url
        return response

    def test_a_post_without_the_csrf_token_is_refused(self):
        client = Client(enforce_csrf_checks=True)
        client.force_login(self.officer_lx)
        data = intake_form(
            title="无令牌",
            fraud_type="romance",
            reported_at=timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        )
        assert client.post(reverse("case-new"), data).status_code == 403
        assert not Case.objects.filter(title="无令牌").exists()
        client.force_login(self.liaison_icbc)
        pk = self.stop_["id"]
        answer = {f"x{pk}-executed_amount": "1.00", f"x{pk}-bank_reference": "R"}
        assert client.post(f"/inbox/{pk}/execute/", answer, **HTMX).status_code == 403
        assert Instruction.objects.get(pk=pk).status == "pending"

    def test_htmx_requests_carry_the_token_the_page_gives(self):
        client = Client(enforce_csrf_checks=True)
        client.force_login(self.liaison_icbc)
        html = text(client.get(reverse("inbox")))
        token = re.search(r"hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'", html)
        assert token
        pk = self.stop_["id"]
        answer = {f"x{pk}-executed_amount": "1.00", f"x{pk}-bank_reference": "R"}
        response = client.post(
            f"/inbox/{pk}/execute/", answer, HTTP_X_CSRFTOKEN=token.group(1), **HTMX
        )
        assert response.status_code == 200
        assert Instruction.objects.get(pk=pk).status == "executed"

    def test_the_content_security_policy_forbids_inline_script(self):
        for user, url in self.pages():
            response = self.fetch(user, url)
            policy = response.get("Content-Security-Policy")
            assert policy, url
            directives = {
                part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()
            }
            script = directives.get("script-src", directives.get("default-src"))
            assert script and "'self'" in script, (url, policy)
            assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script, policy
            assert directives["default-src"] == ["'self'"], policy
            assert "'unsafe-inline'" not in directives.get("style-src", []), policy

    def test_pages_have_no_inline_script_style_or_handler(self):
        for user, url in self.pages():
            html = text(self.fetch(user, url))
            for tag in re.findall(r"<script\b[^>]*>", html):
                assert "src=" in tag or 'type="application/json"' in tag, (url, tag)
            assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), url
            assert not re.search(r"<[^>]+\sstyle\s*=", html), url

    def test_every_asset_comes_from_the_own_static_folder(self):
        for user, url in self.pages():
            html = text(self.fetch(user, url))
            links = re.findall(r'\s(?:src|href)\s*=\s*["\']([^"\']*)["\']', html)
            assert links, url
            for link in links:
                assert not re.match(r"(?i)(https?:)?//", link), (url, link)
            assets = re.findall(r'<script[^>]*\ssrc="([^"]+)"', html) + re.findall(
                r'<link[^>]*\shref="([^"]+)"', html
            )
            assert assets, url
            for asset in assets:
                assert asset.startswith("/static/"), (url, asset)
                assert finders.find(asset.removeprefix("/static/")), asset

    def test_pages_are_in_chinese_by_default(self):
        login = self.fetch(None, reverse("login"))
        assert login["Content-Language"] == "zh-hans"
        assert "<h1>登录</h1>" in text(login) and '<html lang="zh-hans">' in text(login)
        cases = text(self.fetch(self.officer_lx, reverse("case-list")))
        assert "<h1>案件</h1>" in cases and "新接警" in cases
        assert "待办" in text(self.fetch(self.liaison_icbc, reverse("inbox")))
        assert "待审批" in text(self.fetch(self.manager_lx, reverse("desk")))

    def test_pages_are_in_english_on_request(self):
        login = self.fetch(None, reverse("login"), HTTP_ACCEPT_LANGUAGE="en")
        assert login["Content-Language"] == "en"
        assert "<h1>Sign in</h1>" in text(login)
        cases = text(self.fetch(self.officer_lx, reverse("case-list"), HTTP_ACCEPT_LANGUAGE="en"))
        assert "<h1>Cases</h1>" in cases and "案件</h1>" not in cases
        desk = text(self.fetch(self.manager_lx, reverse("desk"), HTTP_ACCEPT_LANGUAGE="en"))
        assert "Waiting for approval" in desk


# -- a fixed number of queries per list ------------------------------------------------------


class PageQueryCountTest(PageTestCase):
    N = 3
    # The session and the user, the user's unit (scope and layout), then for the case list
    # the count and the page, for the inbox the pending and the answered instructions, for
    # the polled rows the pending ones; and the session saved again (savepoint, update,
    # release).
    # The full pages count the header bell's unread notices too (one query). Each list of
    # instructions reads its banks, issuing units, approvers and victims' banks by one
    # query each where it has any (funds.selectors.instruction_list).
    CASE_LIST = 9
    INBOX = 14
    INBOX_ROWS = 7  # a passive poll: no session saved (accounts.middleware.passive)

    def grow_cases(self, count: int) -> None:
        for _ in range(count):
            case = self.report()
            self.victim(case["id"])
            account = self.add_account(case["id"], number=f"62220{Case.objects.count():011d}")
            self.stop(case["id"], account["id"])
            self.post(self.officer_lx, f"/api/v1/cases/{case['id']}/accept/")

    def count(self, user: User, url: str) -> int:
        self.client.force_login(user)
        with CaptureQueriesContext(connection) as queries:
            response = self.client.get(url)
        assert response.status_code == 200
        return len(queries)

    def test_the_case_list_costs_the_same_for_n_and_3n_cases(self):
        self.late_case()
        self.grow_cases(self.N)
        small = self.count(self.officer_lx, reverse("case-list"))
        self.grow_cases(2 * self.N)
        assert Case.objects.count() == 3 * self.N + 1
        large = self.count(self.officer_lx, reverse("case-list"))
        assert (small, large) == (self.CASE_LIST, self.CASE_LIST)

    def grow_inbox(self, count: int) -> None:
        for _ in range(count):
            case = self.filed_case()
            pending = self.add_account(
                case["id"], number=f"6222A{Instruction.objects.count():011d}"
            )
            self.stop(case["id"], pending["id"])
            answered = self.add_account(
                case["id"], number=f"6222B{Instruction.objects.count():011d}"
            )
            stop = self.stop(case["id"], answered["id"])
            self.execute(stop["id"], "100.00")
            freeze = self.freeze(case["id"], answered["id"])
            self.approve(freeze["id"])

    def test_the_inbox_costs_the_same_for_n_and_3n_instructions(self):
        self.grow_inbox(self.N)
        small = self.count(self.liaison_icbc, reverse("inbox"))
        small_rows = self.count(self.liaison_icbc, reverse("inbox-rows"))
        self.grow_inbox(2 * self.N)
        large = self.count(self.liaison_icbc, reverse("inbox"))
        large_rows = self.count(self.liaison_icbc, reverse("inbox-rows"))
        assert (small, large) == (self.INBOX, self.INBOX)
        assert (small_rows, large_rows) == (self.INBOX_ROWS, self.INBOX_ROWS)
