"""One account, one identity (issue 10; DOMAIN.md, "Money across cases").

A bank account is its institution and its normalised number, whichever way in the number
came and however it was typed; holder names are kept per case, as each unit recorded them.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from funds.account_numbers import normalise_account_number
from funds.errors import RuleViolation
from funds.models import BankAccount, Event, EventType, InvolvedAccount, Transfer
from funds.services.cases import bank_account_get_or_create
from tests.funds.helpers import FundsTestCase
from tests.funds.test_pages import PageTestCase, assert_error_beside, form_html, text

CARD = "6222021234567890"
EMPTY_ERROR = "请填写账号（空格、连字符和不可见字符不计）。"


# -- the normaliser -------------------------------------------------------------------------


def test_it_removes_spaces_tabs_and_line_breaks():
    assert normalise_account_number(" 6222 0212\t3456\n7890 ") == CARD


def test_it_removes_ascii_hyphens():
    assert normalise_account_number("6222-0212-3456-7890") == CARD


@pytest.mark.parametrize(
    "dash",
    [
        "\u2010",  # hyphen
        "\u2011",  # non-breaking hyphen
        "\u2012",  # figure dash
        "\u2013",  # en dash
        "\u2014",  # em dash
        "\u2015",  # horizontal bar
        "\u2212",  # minus sign
        "\uff0d",  # full-width hyphen-minus
        "\ufe58",  # small em dash
        "\ufe63",  # small hyphen-minus
    ],
)
def test_it_removes_unicode_dashes(dash):
    assert normalise_account_number(f"6222{dash}0212{dash}3456{dash}7890") == CARD


def test_it_turns_full_width_digits_into_ascii():
    assert normalise_account_number("６２２２０２１２３４５６７８９０") == CARD


def test_it_turns_full_width_letters_into_ascii_and_keeps_their_case():
    assert normalise_account_number("Ａｂ１２") == "Ab12"


@pytest.mark.parametrize(
    "invisible",
    [
        "\u200b",  # zero-width space
        "\u200c",  # zero-width non-joiner
        "\u200d",  # zero-width joiner
        "\u2060",  # word joiner
        "\ufeff",  # byte-order mark
        "\u200e",  # left-to-right mark
        "\u202e",  # right-to-left override
        "\u00ad",  # soft hyphen
        "\u3164",  # Hangul filler
        "\u034f",  # combining grapheme joiner
    ],
)
def test_it_removes_zero_width_and_other_invisible_characters(invisible):
    assert normalise_account_number(f"{invisible}6222{invisible}021234567890{invisible}") == CARD


@pytest.mark.parametrize(
    "space",
    [
        "\u3000",  # ideographic space
        "\u00a0",  # no-break space
        "\u2009",  # thin space
        "\u202f",  # narrow no-break space
    ],
)
def test_it_removes_the_ideographic_and_other_unicode_spaces(space):
    assert normalise_account_number(f"6222{space}0212{space}3456{space}7890") == CARD


def test_it_keeps_what_identifies_a_payment_account():
    assert normalise_account_number("Wang.Li@Example.com") == "Wang.Li@Example.com"


def test_a_number_of_separators_and_invisible_characters_becomes_empty():
    assert normalise_account_number(" \u3000-－\u200b\ufeff ") == ""


def test_applying_it_twice_changes_nothing():
    # A zero-width space between a letter and its combining accent: once it is gone, the
    # two compose, which the second NFKC does at once.
    for raw in ("e\u200b\u0301", "６２２２ ０２１２", "a\u00ad\u0308b"):
        once = normalise_account_number(raw)
        assert normalise_account_number(once) == once


def test_the_migrations_copy_answers_like_the_function_character_by_character():
    """Migration funds 0015 holds a copy of the function; both agree on every character of
    the basic plane, the mathematical letters and digits (which NFKC folds) and the tags
    and variation selectors (invisible)."""
    migration = importlib.import_module("funds.migrations.0015_bank_account_merge_duplicates")
    codes = [*range(0x10000), *range(0x1D400, 0x1D800), *range(0xE0000, 0xE01F0)]
    for code in codes:
        raw = f"6{chr(code)}2"
        assert migration.normalise_account_number(raw) == normalise_account_number(raw), hex(code)


# -- through the API ------------------------------------------------------------------------


class AccountIdentityTest(FundsTestCase):
    def add(
        self, case: dict[str, Any], number: str, holder_name: str, user=None, status: int = 201
    ) -> dict[str, Any]:
        return self.ok(
            self.api(user or self.officer_lx).post(
                f"/api/v1/cases/{case['id']}/accounts/",
                {"institution": "ICBC", "number": number, "holder_name": holder_name, "layer": 1},
                format="json",
            ),
            status,
        )

    def accounts_of(self, case: dict[str, Any], user=None) -> list[dict[str, Any]]:
        response = self.api(user or self.officer_lx).get(f"/api/v1/cases/{case['id']}/accounts/")
        return self.ok(response)["results"]

    def test_a_card_typed_with_spaces_in_one_case_and_hyphens_in_another_is_one_account(self):
        a = self.report()
        b = self.report(self.officer_sn, title="青岛的案件")
        in_a = self.add(a, "6222 0212 3456 7890", "王某")
        in_b = self.add(b, "6222-0212-3456-7890", "王小某", user=self.officer_sn)
        assert BankAccount.objects.get().number == CARD
        assert (in_a["number"], in_b["number"]) == (CARD, CARD)
        assert in_b["other_cases"] == [a["number"]]
        [listed_a] = self.accounts_of(a)
        assert listed_a["other_cases"] == [b["number"]]
        [listed_b] = self.accounts_of(b, self.officer_sn)
        assert listed_b["other_cases"] == [a["number"]]
        accounts = InvolvedAccount.objects.values_list("account_id", flat=True)
        assert len(set(accounts)) == 1

    def test_full_width_digits_and_invisible_characters_find_the_same_account(self):
        a = self.report()
        b = self.report(self.officer_sn)
        self.add(a, CARD, "王某")
        in_b = self.add(
            b, "６２２２\u200b０２１２\u3000３４５６\ufeff７８９０", "王某", user=self.officer_sn
        )
        assert in_b["number"] == CARD
        assert in_b["other_cases"] == [a["number"]]
        assert BankAccount.objects.count() == 1

    def test_each_case_keeps_the_holder_name_its_unit_recorded(self):
        a = self.report()
        b = self.report(self.officer_sn)
        in_a = self.add(a, "6222 0212 3456 7890", "王某")
        in_b = self.add(b, "6222-0212-3456-7890", "王小某", user=self.officer_sn)
        assert (in_a["holder_name"], in_b["holder_name"]) == ("王某", "王小某")
        assert [x["holder_name"] for x in self.accounts_of(a)] == ["王某"]
        assert [x["holder_name"] for x in self.accounts_of(b, self.officer_sn)] == ["王小某"]
        involved_a = InvolvedAccount.objects.get(pk=in_a["id"])
        involved_a.refresh_from_db()
        assert involved_a.holder_name == "王某"
        added = Event.objects.filter(type=EventType.ACCOUNT_ADDED).order_by("id")
        assert [
            (e.data["number"], e.data["holder_name"], e.data["other_cases"]) for e in added
        ] == [
            (CARD, "王某", []),
            (CARD, "王小某", [a["number"]]),
        ]

    def test_each_instruction_shows_the_holder_name_of_its_own_case(self):
        a = self.report()
        b = self.report(self.officer_sn)
        in_a = self.add(a, "6222 0212 3456 7890", "王某")
        in_b = self.add(b, "6222-0212-3456-7890", "王小某", user=self.officer_sn)
        stop = {"kind": "stop_payment", "amount": "1000.00"}
        stop_a = self.ask(a["id"], {**stop, "account": in_a["id"]})
        stop_b = self.ask(b["id"], {**stop, "account": in_b["id"]}, user=self.officer_sn)
        listed = self.ok(self.api(self.liaison_icbc).get("/api/v1/instructions/"))["results"]
        names = {i["id"]: (i["account_number"], i["holder_name"]) for i in listed}
        assert names == {stop_a["id"]: (CARD, "王某"), stop_b["id"]: (CARD, "王小某")}

    def test_the_same_account_typed_another_way_in_the_same_case_is_refused(self):
        a = self.report()
        self.add(a, CARD, "王某")
        refused = self.add(a, "6222 0212-3456 7890", "王某某", status=400)
        assert refused == {"number": ["该账户已在本案中。"]}
        assert InvolvedAccount.objects.count() == 1

    def test_a_number_of_which_nothing_is_left_is_refused_and_changes_nothing(self):
        a = self.report()
        events = Event.objects.count()
        for number in ("\u200b", "－ －", "\u3000\ufeff"):
            refused = self.add(a, number, "王某", status=400)
            assert refused == {"number": [EMPTY_ERROR]}
        assert not BankAccount.objects.exists()
        assert not InvolvedAccount.objects.exists()
        assert Event.objects.count() == events

    def test_the_service_refuses_such_a_number_beside_the_field_it_is_told(self):
        with pytest.raises(RuleViolation) as refused:
            bank_account_get_or_create(
                institution_code="ICBC", number="\u200d", field="to_account", number_field="x"
            )
        assert refused.value.field == "x"
        assert not BankAccount.objects.exists()

    def test_a_search_for_a_card_typed_with_spaces_finds_its_case(self):
        a = self.report()
        self.report(title="另一个案件")
        self.add(a, CARD, "王某")
        found = self.ok(
            self.api(self.officer_lx).post(
                "/api/v1/cases/search/", {"q": "6222 0212 3456"}, format="json"
            )
        )
        assert [c["number"] for c in found["results"]] == [a["number"]]

    # transfers

    def transfer(
        self, case: dict[str, Any], source: tuple[str, str], target: tuple[str, str], ref: str
    ) -> Any:
        return self.api(self.officer_lx).post(
            f"/api/v1/cases/{case['id']}/transfers/",
            {
                "from_account": {
                    "institution": "ICBC",
                    "number": source[0],
                    "holder_name": source[1],
                },
                "to_account": {"institution": "CCB", "number": target[0], "holder_name": target[1]},
                "amount": "5000.00",
                "occurred_at": timezone.now().isoformat(),
                "reference": ref,
            },
            format="json",
        )

    def test_transfers_with_numbers_typed_differently_reach_the_same_accounts(self):
        a = self.report()
        involved = self.add(a, "6222 0212 3456 7890", "王某")
        first = self.ok(
            self.transfer(
                a, ("6222-0212-3456-7890", "王某某"), ("6217 0000 1111 2222", "李四"), "T1"
            ),
            201,
        )
        second = self.ok(
            self.transfer(
                a,
                ("６２２２０２１２３４５６７８９０", "王某"),
                ("6217-0000-1111-2222", "李小四"),
                "T2",
            ),
            201,
        )
        transfers = list(Transfer.objects.order_by("id"))
        assert {t.from_account_id for t in transfers} == {
            InvolvedAccount.objects.get(pk=involved["id"]).account_id
        }
        assert len({t.to_account_id for t in transfers}) == 1
        assert BankAccount.objects.count() == 2
        assert first["from_account"] == {
            "institution": "ICBC",
            "number": CARD,
            "holder_name": "王某某",
        }
        assert second["to_account"] == {
            "institution": "CCB",
            "number": "6217000011112222",
            "holder_name": "李小四",
        }
        listed = self.ok(self.api(self.officer_lx).get(f"/api/v1/cases/{a['id']}/transfers/"))
        assert [
            (t["from_account"]["holder_name"], t["to_account"]["holder_name"])
            for t in listed["results"]
        ] == [("王某某", "李四"), ("王某", "李小四")]
        # Each side's holder is the transfer's own: the involved account keeps its name; the
        # receiver joins the case at its derived layer (funds.services.layers) under the name
        # its first transfer recorded.
        assert [(x["holder_name"], x["layer"]) for x in self.accounts_of(a)] == [
            ("王某", 1),
            ("李四", 2),
        ]

    def test_a_transfer_between_one_account_typed_two_ways_is_refused(self):
        a = self.report()
        response = self.api(self.officer_lx).post(
            f"/api/v1/cases/{a['id']}/transfers/",
            {
                "from_account": {"institution": "ICBC", "number": "6222 0212", "holder_name": "甲"},
                "to_account": {"institution": "ICBC", "number": "6222-0212", "holder_name": "乙"},
                "amount": "5000.00",
                "occurred_at": timezone.now().isoformat(),
                "reference": "T1",
            },
            format="json",
        )
        assert self.ok(response, 400) == {"to_account": ["资金流水须在两个不同账户之间。"]}
        assert not Transfer.objects.exists()

    def test_a_transfer_from_a_number_of_which_nothing_is_left_is_refused(self):
        a = self.report()
        refused = self.ok(self.transfer(a, ("\u200b\u200b", "王某"), ("6217", "李四"), "T1"), 400)
        assert refused == {"from_account": [EMPTY_ERROR]}
        refused = self.ok(self.transfer(a, (CARD, "王某"), ("\ufeff－", "李四"), "T1"), 400)
        assert refused == {"to_account": [EMPTY_ERROR]}
        assert not Transfer.objects.exists()
        assert not BankAccount.objects.exists()


# -- through the pages ----------------------------------------------------------------------


class AccountIdentityPageTest(PageTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.case = self.report()

    def post_form(self, path: str, data: dict[str, str]) -> Any:
        self.client.force_login(self.officer_lx)
        return self.client.post(f"/cases/{self.case['id']}/{path}/", data)

    def account_data(self, number: str, holder_name: str = "王某某") -> dict[str, str]:
        return {"institution": "ICBC", "number": number, "holder_name": holder_name, "layer": "1"}

    def test_the_page_form_finds_the_account_another_case_typed_another_way(self):
        elsewhere = self.report(self.officer_sn)
        self.add_account(elsewhere["id"], number="6222-0212-3456-7890", user=self.officer_sn)
        response = self.post_form("accounts", self.account_data("6222 0212 3456 7890"))
        assert response.status_code == 302
        involved = InvolvedAccount.objects.get(case_id=self.case["id"])
        assert involved.account.number == CARD and involved.holder_name == "王某某"
        assert BankAccount.objects.count() == 1

    def test_the_page_form_refuses_a_number_of_which_nothing_is_left_beside_it(self):
        response = self.post_form("accounts", self.account_data("\u200b\u3000"))
        assert response.status_code == 400
        html = form_html(text(response), f"/cases/{self.case['id']}/accounts/")
        assert_error_beside(html, "number", EMPTY_ERROR)
        assert not BankAccount.objects.exists() and not InvolvedAccount.objects.exists()

    def test_the_transfer_form_refuses_such_a_number_beside_it(self):
        data = {
            "from_institution": "ICBC",
            "from_number": "－－",
            "from_holder": "王某",
            "to_institution": "CCB",
            "to_number": "6217000011112222",
            "to_holder": "李四",
            "amount": "100.00",
            "occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "reference": "T1",
        }
        response = self.post_form("transfers", data)
        assert response.status_code == 400
        html = form_html(text(response), f"/cases/{self.case['id']}/transfers/")
        assert_error_beside(html, "from_number", EMPTY_ERROR)
        assert not Transfer.objects.exists() and not BankAccount.objects.exists()

    def test_the_case_page_shows_each_cases_own_holder_and_others_only_within_scope(self):
        self.post_form("accounts", self.account_data("6222 0212 3456 7890", "王某某"))
        station_case = self.report(self.officer_station, title="派出所的案件")
        qingdao_case = self.report(self.officer_sn, title="青岛的案件")
        for case, user, holder in (
            (station_case, self.officer_station, "王小某"),
            (qingdao_case, self.officer_sn, "王大某"),
        ):
            self.post(
                user,
                f"/api/v1/cases/{case['id']}/accounts/",
                {"institution": "ICBC", "number": CARD, "holder_name": holder, "layer": 1},
                201,
            )
        html = self.get(self.officer_lx, reverse("case-detail", args=[self.case["id"]]))
        accounts = html.split('id="accounts"', 1)[1].split("</table>", 1)[0]
        assert "<td>王某某</td>" in accounts
        # A station under 历下 lies in the officer's subtree: its number and its holder name.
        assert station_case["number"] in accounts and "王小某" in accounts
        # Qingdao does not: its number only (API.md, other_cases), never what it recorded.
        assert qingdao_case["number"] in accounts and "王大某" not in accounts
        # The Qingdao officer sees 历下's case number, not its holder name.
        html = self.get(self.officer_sn, reverse("case-detail", args=[qingdao_case["id"]]))
        accounts = html.split('id="accounts"', 1)[1].split("</table>", 1)[0]
        assert self.case["number"] in accounts and "王某某" not in accounts
        assert "<td>王大某</td>" in accounts
