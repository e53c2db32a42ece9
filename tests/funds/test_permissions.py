"""The permission matrix of API v1: every endpoint x every role x in scope / out of scope.

The contract (API.md, "Conventions"): 401 without credentials; 403 when the user's role may
not do the action at all; 404 when the object does not exist or lies outside the user's
scope, the same answer for both. Police roles see their unit's subtree (DOMAIN.md, "Every
unit sees its own subtree and nothing else"); a liaison sees only what is addressed to its
institution; an administrator sees no case data.

Each test is a table of (persona, expected status), None being a caller without
credentials. Every row runs and a test reports all the rows that disagree at once. For the
POST actions, every refused row must leave the database exactly as it was, and every
allowed row must have its effect; each row acts on a fresh object so rows do not interfere.

The world, besides the demo personas of tests/base.py:

    case  unit                   instructions
    lx    历下区分局 (county)      ICBC freeze executed, CCB stop pending, ALIPAY stop pending,
                                 ALIPAY freeze awaiting approval
    st    解放路派出所 (station     ICBC freeze executed, ICBC stop pending
          under 历下)
    sz    市中区分局 (county,      ICBC freeze executed, ICBC stop pending
          Jinan, not 历下)
    sn    市南区分局 (county,      ICBC freeze executed, CCB stop pending
          Qingdao)

with two extra personas: officer_sz (officer of 市中) and manager_station (manager of the
station 解放路派出所, below county level, so it may approve nothing).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from accounts.models import Role, User
from funds import acting_time
from funds.durations import rule
from funds.models import (
    AllocationObjection,
    AllocationRound,
    AllocationShare,
    BankAccount,
    Case,
    CaseNumberCounter,
    Event,
    Instruction,
    InstructionKind,
    InstructionStatus,
    InvolvedAccount,
    Transfer,
    Victim,
)
from funds.services import cases as case_services
from funds.services import instructions as instruction_services
from funds.services import rounds as round_services
from funds.services.instructions import InstructionRequest
from tests.funds.helpers import FundsTestCase

Rows = list[tuple[str | None, int]]

_numbers = itertools.count(1)

ALL_CASES = {"lx", "st", "sz", "sn"}

# Which of the world's cases each police persona may see (its unit's subtree).
VISIBLE_CASES: dict[str, set[str]] = {
    "officer_lx": {"lx", "st"},
    "officer_station": {"st"},
    "officer_sn": {"sn"},
    "manager_lx": {"lx", "st"},
    "manager_jn": {"lx", "st", "sz"},
    "manager_sd": ALL_CASES,
    "auditor_sd": ALL_CASES,
}
POLICE = list(VISIBLE_CASES)
LIAISONS = ["liaison_icbc", "liaison_ccb", "liaison_alipay"]
# Whoever may not touch case data at all: liaisons, the administrator, and nobody signed in.
NO_CASE_ROLE: Rows = [*((name, 403) for name in LIAISONS), ("admin", 403), (None, 401)]

CASE_READ_ENDPOINTS = [
    "",
    "victims/",
    "accounts/",
    "transfers/",
    "instructions/",
    "events/",
    "allocation/?freeze={freeze}",
]


def officer_action(*, lixia: int, station: int, shinan: int) -> Rows:
    """An officers-only action: police officers by scope, every other role refused."""
    return [
        ("officer_lx", lixia),
        ("officer_station", station),
        ("officer_sn", shinan),
        ("manager_lx", 403),
        ("manager_jn", 403),
        ("manager_sd", 403),
        ("manager_station", 403),
        ("auditor_sd", 403),
        *NO_CASE_ROLE,
    ]


def officer_action_on(unit: str, ok: int) -> Rows:
    """Rows for an officers-only action on a case of ``unit`` (``lx``, ``st`` or ``sn``)."""
    return officer_action(
        lixia=ok if unit in ("lx", "st") else 404,
        station=ok if unit == "st" else 404,
        shinan=ok if unit == "sn" else 404,
    )


def world_state() -> tuple[Any, ...]:
    """Everything a refused call must leave alone."""
    return (
        list(Case.objects.order_by("pk").values()),
        list(CaseNumberCounter.objects.order_by("pk").values()),
        list(Victim.objects.order_by("pk").values()),
        list(BankAccount.objects.order_by("pk").values()),
        list(InvolvedAccount.objects.order_by("pk").values()),
        list(Transfer.objects.order_by("pk").values()),
        list(Instruction.objects.order_by("pk").values()),
        list(AllocationRound.objects.order_by("pk").values()),
        list(AllocationShare.objects.order_by("pk").values()),
        list(AllocationObjection.objects.order_by("pk").values()),
        list(Event.objects.order_by("pk").values_list("pk", flat=True)),
    )


class PermissionMatrixTest(FundsTestCase):
    officer_sz: User
    manager_station: User

    # -- the world ---------------------------------------------------------------------------

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.officer_sz = User.objects.create_user(
            "officer_sz", password="sz-pass-2026", role=Role.OFFICER, organization=cls.shizhong
        )
        cls.manager_station = User.objects.create_user(
            "manager_station",
            password="station-pass-2026",
            role=Role.MANAGER,
            organization=cls.orgs["370102001"],
        )
        owners = {
            "lx": cls.officer_lx,
            "st": cls.officer_station,
            "sz": cls.officer_sz,
            "sn": cls.officer_sn,
        }
        cls.case_id: dict[str, int] = {}
        cls.freeze_id: dict[str, int] = {}
        cls.instructions_of: dict[str, set[int]] = {}
        # Instructions sent to each institution (pending or answered), by the world's name.
        cls.sent_to: dict[str, set[int]] = {"ICBC": set(), "CCB": set(), "ALIPAY": set()}
        cls.named: dict[str, int] = {}
        for name, officer in owners.items():
            case = cls.new_case(officer)
            case_services.victim_add(
                actor=officer,
                case=case,
                name="张三",
                id_number="370102199001071234",
                phone="13800138000",
                loss_amount=Decimal("10000.00"),
                account_institution_code="CCB",
                account_number="6217009900001234",
                account_holder_name="张三",
            )
            case_services.transfer_add(
                actor=officer,
                case=case,
                from_account={"institution": "ICBC", "number": cls.number(), "holder_name": "张三"},
                to_account={"institution": "CCB", "number": cls.number(), "holder_name": "王某"},
                amount=Decimal("10000.00"),
                occurred_at=timezone.now(),
                reference=f"T-{name}",
            )
            freeze = cls.new_freeze(officer, case=case, executed=True)
            cls.case_id[name] = case.pk
            cls.freeze_id[name] = freeze.pk
            cls.instructions_of[name] = {freeze.pk}
            cls.sent_to["ICBC"].add(freeze.pk)
            cls.named[f"{name}_freeze"] = freeze.pk

        def stop(case_name: str, institution: str) -> None:
            case = Case.objects.get(pk=cls.case_id[case_name])
            instruction = cls.new_stop(owners[case_name], institution, case=case)
            cls.instructions_of[case_name].add(instruction.pk)
            cls.sent_to[institution].add(instruction.pk)
            cls.named[f"{case_name}_stop_{institution.lower()}"] = instruction.pk

        stop("lx", "CCB")
        stop("lx", "ALIPAY")
        stop("st", "ICBC")
        stop("sz", "ICBC")
        stop("sn", "CCB")
        awaiting = cls.new_freeze(
            cls.officer_lx, "ALIPAY", case=Case.objects.get(pk=cls.case_id["lx"])
        )
        cls.instructions_of["lx"].add(awaiting.pk)
        cls.named["lx_awaiting_alipay"] = awaiting.pk

    @staticmethod
    def number() -> str:
        return f"6222{next(_numbers):012d}"

    @classmethod
    def new_case(cls, officer: User, status: str = "filed") -> Case:
        case = case_services.case_report(
            actor=officer,
            title="冒充客服退款诈骗",
            fraud_type="impersonating_customer_service",
            reported_at=timezone.now(),
        )
        if status in ("accepted", "filed"):
            case = case_services.case_accept(actor=officer, case=case)
        if status == "filed":
            case = case_services.case_file(
                actor=officer, case=case, filing_number="济公立字〔2026〕101号"
            )
        return case

    @classmethod
    def new_account(cls, officer: User, case: Case, institution: str = "ICBC") -> InvolvedAccount:
        return case_services.account_add(
            actor=officer,
            case=case,
            institution_code=institution,
            number=cls.number(),
            holder_name="王某",
            layer=1,
        )

    @classmethod
    def new_stop(
        cls, officer: User, institution: str = "ICBC", *, case: Case | None = None
    ) -> Instruction:
        """A stop-payment pending at ``institution``."""
        case = case or cls.new_case(officer, "reported")
        involved_account = cls.new_account(officer, case, institution)
        return instruction_services.instruction_request(
            actor=officer,
            case=case,
            request=InstructionRequest(
                kind=InstructionKind.STOP_PAYMENT,
                involved_account_id=involved_account.pk,
                amount=Decimal("5000.00"),
            ),
        )

    @classmethod
    def liaison_of(cls, institution: str) -> User:
        return {"ICBC": cls.liaison_icbc, "CCB": cls.liaison_ccb, "ALIPAY": cls.liaison_alipay}[
            institution
        ]

    @classmethod
    def new_freeze(
        cls,
        officer: User,
        institution: str = "ICBC",
        *,
        case: Case | None = None,
        executed: bool = False,
    ) -> Instruction:
        """A freeze awaiting approval, or approved and executed for 8000.00."""
        case = case or cls.new_case(officer)
        involved_account = cls.new_account(officer, case, institution)
        freeze = instruction_services.instruction_request(
            actor=officer,
            case=case,
            request=InstructionRequest(
                kind=InstructionKind.FREEZE,
                involved_account_id=involved_account.pk,
                amount=Decimal("8000.00"),
            ),
        )
        if executed:
            freeze = instruction_services.instruction_approve(
                actor=cls.manager_sd, instruction=freeze
            )
            freeze = instruction_services.instruction_execute(
                actor=cls.liaison_of(institution),
                instruction=freeze,
                executed_amount=Decimal("8000.00"),
                bank_reference=f"FRZ-{freeze.pk}",
            )
        return freeze

    @classmethod
    def new_awaiting(cls, officer: User, kind: str) -> Instruction:
        """An instruction of ``kind`` awaiting approval, in a new case of the officer's unit."""
        if kind == InstructionKind.FREEZE:
            return cls.new_freeze(officer)
        freeze = cls.new_freeze(officer, executed=True)
        case = freeze.case
        victim = case_services.victim_add(
            actor=officer,
            case=case,
            name="李四",
            id_number="370102199202012345",
            phone="13900139000",
            loss_amount=Decimal("9000.00"),
            account_institution_code="CCB",
            account_number="6217009900002345",
            account_holder_name="李四",
        )
        return instruction_services.instruction_request(
            actor=officer,
            case=case,
            request=InstructionRequest(
                kind=kind,
                involved_account_id=None,
                amount=None if kind == InstructionKind.RENEWAL else Decimal("2000.00"),
                term_months=6 if kind == InstructionKind.RENEWAL else None,
                freeze_id=freeze.pk,
                victim_id=victim.pk if kind == InstructionKind.RETURN else None,
                reason="经查与本案无关" if kind == InstructionKind.RELEASE else "",
            ),
        )

    # -- the matrix runner -------------------------------------------------------------------

    def persona(self, name: str | None) -> User | None:
        return None if name is None else getattr(self, name)

    def check(
        self,
        rows: Rows,
        path: str | Callable[[Any], str],
        *,
        method: str = "get",
        body: dict[str, Any] | Callable[[Any], dict[str, Any]] | None = None,
        fresh: Callable[[], Any] | None = None,
        effect: Callable[[Any, User, Any], bool] | None = None,
    ) -> None:
        """Run every row; fail once, listing every row that disagrees with the table.

        ``fresh`` makes a new target for each row; ``effect(target, user, response)`` must
        hold after each allowed call (the right data read, or the action done); a refused
        POST must leave ``world_state()`` unchanged.
        """
        problems: list[str] = []
        for who, expected in rows:
            target = fresh() if fresh is not None else None
            url = path(target) if callable(path) else path
            data = body(target) if callable(body) else body
            before = world_state() if method == "post" else None
            client = self.api(self.persona(who))
            if method == "post":
                response = client.post(url, data or {}, format="json")
            else:
                response = client.get(url)
            label = f"{who or 'anonymous'} {method.upper()} {url}"
            got = response.status_code
            if got != expected:
                problems.append(
                    f"{label}: expected {expected}, got {got} {response.content.decode()[:160]}"
                )
            if method == "post" and got >= 400 and world_state() != before:
                problems.append(f"{label}: refused with {got} but changed the data")
            if (
                got == expected < 300
                and effect is not None
                and not effect(target, self.persona(who), response)
            ):
                problems.append(f"{label}: answered {got} but without the expected data or effect")
        assert not problems, "\n" + "\n".join(problems)

    def case_path(self, name: str, endpoint: str = "") -> str:
        suffix = endpoint.format(freeze=self.freeze_id[name])
        return f"/api/v1/cases/{self.case_id[name]}/{suffix}"

    def ids(self, response: Any) -> set[int]:
        data = self.ok(response)
        assert data["next"] is None, "the world fits on one page"
        return {row["id"] for row in data["results"]}

    # -- without credentials -----------------------------------------------------------------

    def every_endpoint(self) -> list[tuple[str, str]]:
        case = self.case_id["lx"]
        instruction = self.named["lx_stop_ccb"]
        gets = [
            "/api/v1/me/",
            "/api/v1/institutions/",
            "/api/v1/cases/",
            *(self.case_path("lx", endpoint) for endpoint in CASE_READ_ENDPOINTS),
            "/api/v1/instructions/",
            f"/api/v1/instructions/{instruction}/",
            self.case_path("lx", "allocations/"),
            "/api/v1/allocations/",
            "/api/v1/allocations/1/",
        ]
        posts = [
            "/api/v1/cases/",
            *(
                f"/api/v1/cases/{case}/{action}/"
                for action in (
                    "accept",
                    "file",
                    "close",
                    "victims",
                    "accounts",
                    "transfers",
                    "instructions",
                )
            ),
            *(
                f"/api/v1/instructions/{instruction}/{action}/"
                for action in ("approve", "execute", "reject", "cancel")
            ),
            f"/api/v1/cases/{case}/allocations/",
            *(
                f"/api/v1/allocations/1/{action}/"
                for action in ("objections", "withdraw", "confirm")
            ),
        ]
        return [("get", url) for url in gets] + [("post", url) for url in posts]

    def test_without_credentials_every_endpoint_answers_401_and_changes_nothing(self):
        before = world_state()
        bad_token = self.api()
        bad_token.credentials(HTTP_AUTHORIZATION="Token not-a-real-token-0123456789abcdef")
        problems = []
        for client_name, client in (("no credentials", self.api()), ("a bad token", bad_token)):
            for method, url in self.every_endpoint():
                response = getattr(client, method)(url, {}, format="json")
                if response.status_code != 401:
                    problems.append(f"{client_name} {method.upper()} {url}: {response.status_code}")
        assert not problems, problems
        assert world_state() == before

    # -- identity ----------------------------------------------------------------------------

    def test_anyone_signed_in_may_read_who_they_are(self):
        expected = {
            "officer_lx": ("officer", "370102"),
            "officer_station": ("officer", "370102001"),
            "officer_sn": ("officer", "370202"),
            "manager_lx": ("manager", "370102"),
            "manager_jn": ("manager", "370100"),
            "manager_sd": ("manager", "370000"),
            "auditor_sd": ("auditor", "370000"),
            "liaison_icbc": ("liaison", "ICBC"),
            "liaison_ccb": ("liaison", "CCB"),
            "liaison_alipay": ("liaison", "ALIPAY"),
            "admin": ("admin", None),
        }
        self.check([(name, 200) for name in expected] + [(None, 401)], "/api/v1/me/")
        for name, (role, code) in expected.items():
            me = self.ok(self.api(self.persona(name)).get("/api/v1/me/"))
            organization = me["organization"]
            assert (me["username"], me["role"]) == (name, role)
            assert (organization and organization["code"]) == code, (name, organization)

    def test_anyone_signed_in_may_list_the_institutions_and_only_those(self):
        signed_in = [*POLICE, *LIAISONS, "admin"]
        self.check([(name, 200) for name in signed_in] + [(None, 401)], "/api/v1/institutions/")
        for name in signed_in:
            data = self.ok(self.api(self.persona(name)).get("/api/v1/institutions/"))
            codes = {row["code"] for row in data["results"]}
            assert codes == {"ABC", "ALIPAY", "BOC", "CCB", "ICBC", "TENPAY"}, (name, codes)

    # -- reading cases -----------------------------------------------------------------------

    def test_police_read_a_case_and_everything_in_it_only_inside_their_subtree(self):
        for name in sorted(ALL_CASES):
            rows: Rows = [
                (persona, 200 if name in seen else 404) for persona, seen in VISIBLE_CASES.items()
            ]
            for endpoint in CASE_READ_ENDPOINTS:
                self.check(rows, self.case_path(name, endpoint), effect=self.shows_case(name))

    def shows_case(self, name: str) -> Callable[[Any, User, Any], bool]:
        """An allowed read answers that case's own data, not someone else's."""
        case_id = self.case_id[name]

        def check(_target: Any, _user: User, response: Any) -> bool:
            data = response.json()
            url = response.wsgi_request.get_full_path()
            if url.endswith(f"/cases/{case_id}/"):
                return data["id"] == case_id
            if "/allocation/" in url:
                return data["available"] == "8000.00" and len(data["shares"]) == 1
            if "/instructions/" in url:
                return {row["id"] for row in data["results"]} == self.instructions_of[name]
            if "/events/" in url:
                return data["count"] == Event.objects.filter(case_id=case_id).count() > 0
            model = {"victims": Victim, "accounts": InvolvedAccount, "transfers": Transfer}[
                url.rstrip("/").rsplit("/", 1)[-1]
            ]
            ids = set(model.objects.filter(case_id=case_id).values_list("pk", flat=True))
            return {row["id"] for row in data["results"]} == ids != set()

        return check

    def test_a_station_manager_reads_only_its_own_stations_cases(self):
        for name in sorted(ALL_CASES):
            for endpoint in CASE_READ_ENDPOINTS:
                self.check(
                    [("manager_station", 200 if name == "st" else 404)],
                    self.case_path(name, endpoint),
                )

    def test_a_liaison_or_the_admin_cannot_read_cases(self):
        self.check(NO_CASE_ROLE, "/api/v1/cases/")
        for name in sorted(ALL_CASES):
            for endpoint in CASE_READ_ENDPOINTS:
                self.check(NO_CASE_ROLE, self.case_path(name, endpoint))

    def test_a_case_out_of_scope_gets_the_same_404_as_a_missing_one(self):
        missing = Case.objects.order_by("-pk").first().pk + 1000
        for endpoint in CASE_READ_ENDPOINTS:
            suffix = endpoint.format(freeze=self.freeze_id["lx"])
            absent = self.api(self.officer_sn).get(f"/api/v1/cases/{missing}/{suffix}")
            hidden = self.api(self.officer_sn).get(self.case_path("lx", endpoint))
            assert absent.status_code == hidden.status_code == 404, endpoint
            assert absent.json() == hidden.json(), endpoint
        self.check(
            [(persona, 404) for persona in POLICE] + NO_CASE_ROLE,
            f"/api/v1/cases/{missing}/",
        )

    def test_the_case_list_holds_only_the_cases_of_the_subtree(self):
        self.check([(persona, 200) for persona in POLICE] + NO_CASE_ROLE, "/api/v1/cases/")
        for persona, seen in VISIBLE_CASES.items():
            got = self.ids(self.api(self.persona(persona)).get("/api/v1/cases/"))
            assert got == {self.case_id[name] for name in seen}, persona

    def test_searching_the_case_list_does_not_reach_outside_the_subtree(self):
        lx = Case.objects.get(pk=self.case_id["lx"])
        number = InvolvedAccount.objects.filter(case=lx).first().account.number
        for query in (lx.number, number, "冒充客服"):
            for persona, seen in VISIBLE_CASES.items():
                client = self.api(self.persona(persona))
                got = self.ids(client.post("/api/v1/cases/search/", {"q": query}, format="json"))
                assert got <= {self.case_id[name] for name in seen}, (persona, query)
                assert (lx.pk in got) == ("lx" in seen), (persona, query)

    # -- acting on cases ---------------------------------------------------------------------

    def test_acting_on_a_missing_case_or_instruction_is_404_for_a_role_that_may_act(self):
        case = Case.objects.order_by("-pk").first().pk + 1000
        instruction = Instruction.objects.order_by("-pk").first().pk + 1000
        officers_only = officer_action(lixia=404, station=404, shinan=404)
        managers_only: Rows = [
            ("manager_lx", 404),
            ("manager_jn", 404),
            ("manager_sd", 404),
            ("manager_station", 404),
            ("officer_lx", 403),
            ("officer_station", 403),
            ("officer_sn", 403),
            ("auditor_sd", 403),
            *NO_CASE_ROLE,
        ]
        for action in ("accept", "file", "victims", "accounts", "transfers", "instructions"):
            self.check(officers_only, f"/api/v1/cases/{case}/{action}/", method="post")
        self.check(managers_only, f"/api/v1/cases/{case}/close/", method="post")
        self.check(officers_only, f"/api/v1/instructions/{instruction}/cancel/", method="post")
        self.check(managers_only, f"/api/v1/instructions/{instruction}/approve/", method="post")
        for action in ("execute", "reject"):
            self.check(
                self.liaison_rows(institution="none"),
                f"/api/v1/instructions/{instruction}/{action}/",
                method="post",
            )

    def test_only_an_officer_may_report_a_case_and_it_lands_in_the_officers_unit(self):
        rows: Rows = [
            ("officer_lx", 201),
            ("officer_station", 201),
            ("officer_sn", 201),
            ("manager_lx", 403),
            ("manager_jn", 403),
            ("manager_sd", 403),
            ("auditor_sd", 403),
            *NO_CASE_ROLE,
        ]
        body = {
            "title": "刷单返利诈骗",
            "fraud_type": "rebate_task",
            "reported_at": timezone.now().isoformat(),
        }

        def effect(_target: Any, user: User, response: Any) -> bool:
            case = Case.objects.get(pk=response.json()["id"])
            return case.unit_id == user.organization_id and case.status == "reported"

        self.check(rows, "/api/v1/cases/", method="post", body=body, effect=effect)

    def case_action(
        self,
        action: str,
        ok: int,
        body: Callable[[Case], dict[str, Any]] | dict[str, Any] | None,
        fresh: Callable[[User], Case],
        effect: Callable[[Case, User, Any], bool],
    ) -> None:
        """An officers-only POST on a case, checked on cases of 历下, of its station, of 市南."""
        owners = {"lx": self.officer_lx, "st": self.officer_station, "sn": self.officer_sn}
        for unit, owner in owners.items():
            self.check(
                officer_action_on(unit, ok),
                lambda case: f"/api/v1/cases/{case.pk}/{action}/",
                method="post",
                body=body,
                fresh=lambda owner=owner: fresh(owner),
                effect=effect,
            )

    def test_only_an_officer_in_scope_may_accept_a_case(self):
        self.case_action(
            "accept",
            200,
            None,
            lambda owner: self.new_case(owner, "reported"),
            lambda case, _user, _response: Case.objects.get(pk=case.pk).status == "accepted",
        )

    def test_only_an_officer_in_scope_may_file_a_case(self):
        self.case_action(
            "file",
            200,
            {"filing_number": "济公立字〔2026〕202号"},
            lambda owner: self.new_case(owner, "accepted"),
            lambda case, _user, _response: Case.objects.get(pk=case.pk).status == "filed",
        )

    def test_only_an_officer_in_scope_may_add_a_victim(self):
        self.case_action(
            "victims",
            201,
            {
                "name": "赵六",
                "id_number": "370102199302203456",
                "phone": "13700137000",
                "loss_amount": "500.00",
            },
            lambda owner: self.new_case(owner, "reported"),
            lambda case, _user, _response: Victim.objects.filter(case=case).count() == 1,
        )

    def test_only_an_officer_in_scope_may_add_an_involved_account(self):
        self.case_action(
            "accounts",
            201,
            lambda _case: {
                "institution": "CCB",
                "number": self.number(),
                "holder_name": "钱七",
                "layer": 1,
            },
            lambda owner: self.new_case(owner, "reported"),
            lambda case, _user, _response: InvolvedAccount.objects.filter(case=case).count() == 1,
        )

    def test_only_an_officer_in_scope_may_record_a_transfer(self):
        self.case_action(
            "transfers",
            201,
            lambda case: {
                "from_account": {
                    "institution": "ICBC",
                    "number": self.number(),
                    "holder_name": "赵六",
                },
                "to_account": {
                    "institution": "CCB",
                    "number": self.number(),
                    "holder_name": "钱七",
                },
                "amount": "500.00",
                "occurred_at": timezone.now().isoformat(),
                "reference": f"TX-{case.pk}",
            },
            lambda owner: self.new_case(owner, "reported"),
            lambda case, _user, _response: Transfer.objects.filter(case=case).count() == 1,
        )

    def test_only_an_officer_in_scope_may_ask_an_institution_for_an_instruction(self):
        def fresh(owner: User) -> Case:
            case = self.new_case(owner, "reported")
            self.new_account(owner, case)
            return case

        self.case_action(
            "instructions",
            201,
            lambda case: {
                "kind": "stop_payment",
                "account": InvolvedAccount.objects.get(case=case).pk,
                "amount": "1000.00",
            },
            fresh,
            lambda case, _user, _response: (
                list(Instruction.objects.filter(case=case).values_list("status", flat=True))
                == [InstructionStatus.PENDING]
            ),
        )

    def test_only_a_manager_in_scope_may_close_a_case(self):
        not_managers: Rows = [
            ("officer_lx", 403),
            ("officer_station", 403),
            ("officer_sn", 403),
            ("auditor_sd", 403),
            *NO_CASE_ROLE,
        ]
        managers_by_unit: dict[str, Rows] = {
            "lx": [
                ("manager_lx", 200),
                ("manager_jn", 200),
                ("manager_sd", 200),
                ("manager_station", 404),
            ],
            "st": [
                ("manager_lx", 200),
                ("manager_jn", 200),
                ("manager_sd", 200),
                ("manager_station", 200),
            ],
            "sn": [
                ("manager_lx", 404),
                ("manager_jn", 404),
                ("manager_sd", 200),
                ("manager_station", 404),
            ],
        }
        owners = {"lx": self.officer_lx, "st": self.officer_station, "sn": self.officer_sn}
        for unit, managers in managers_by_unit.items():
            self.check(
                managers + not_managers,
                lambda case: f"/api/v1/cases/{case.pk}/close/",
                method="post",
                fresh=lambda owner=owners[unit]: self.new_case(owner),
                effect=lambda case, _user, _response: (
                    Case.objects.get(pk=case.pk).status == "closed"
                ),
            )

    # -- reading instructions ----------------------------------------------------------------

    def test_an_instruction_is_read_by_police_in_scope_and_by_its_institutions_liaison_only(self):
        # (instruction, case it belongs to, institution it is addressed to)
        for instruction, case, institution in (
            ("lx_freeze", "lx", "ICBC"),
            ("lx_stop_ccb", "lx", "CCB"),
            ("lx_stop_alipay", "lx", "ALIPAY"),
            ("st_stop_icbc", "st", "ICBC"),
            ("sz_stop_icbc", "sz", "ICBC"),
            ("sn_freeze", "sn", "ICBC"),
            ("sn_stop_ccb", "sn", "CCB"),
        ):
            rows: Rows = [
                *(
                    (persona, 200 if case in seen else 404)
                    for persona, seen in VISIBLE_CASES.items()
                ),
                ("liaison_icbc", 200 if institution == "ICBC" else 404),
                ("liaison_ccb", 200 if institution == "CCB" else 404),
                ("liaison_alipay", 200 if institution == "ALIPAY" else 404),
                ("admin", 403),
                (None, 401),
            ]
            pk = self.named[instruction]
            self.check(
                rows,
                f"/api/v1/instructions/{pk}/",
                effect=lambda _target, _user, response, pk=pk: response.json()["id"] == pk,
            )

    def test_an_instruction_of_another_institution_gets_the_same_404_as_a_missing_one(self):
        missing = Instruction.objects.order_by("-pk").first().pk + 1000
        absent = self.api(self.liaison_ccb).get(f"/api/v1/instructions/{missing}/")
        hidden = self.api(self.liaison_ccb).get(f"/api/v1/instructions/{self.named['lx_freeze']}/")
        assert absent.status_code == hidden.status_code == 404
        assert absent.json() == hidden.json()
        self.check(
            [*((persona, 404) for persona in [*POLICE, *LIAISONS]), ("admin", 403), (None, 401)],
            f"/api/v1/instructions/{missing}/",
        )

    def test_the_instruction_list_shows_police_only_their_subtrees_instructions(self):
        self.check(
            [*((persona, 200) for persona in [*POLICE, *LIAISONS]), ("admin", 403), (None, 401)],
            "/api/v1/instructions/",
        )
        for persona, seen in VISIBLE_CASES.items():
            got = self.ids(self.api(self.persona(persona)).get("/api/v1/instructions/"))
            expected = set().union(*(self.instructions_of[name] for name in seen))
            assert got == expected, persona

    def test_the_instruction_list_shows_a_liaison_only_its_own_institutions_instructions(self):
        everything = set().union(*self.instructions_of.values())
        for persona, code in (
            ("liaison_icbc", "ICBC"),
            ("liaison_ccb", "CCB"),
            ("liaison_alipay", "ALIPAY"),
        ):
            data = self.ok(self.api(self.persona(persona)).get("/api/v1/instructions/"))
            got = {row["id"] for row in data["results"]}
            assert {row["institution"] for row in data["results"]} <= {code}, persona
            assert self.sent_to[code] <= got, persona
            others = everything - set(
                Instruction.objects.filter(institution__code=code).values_list("pk", flat=True)
            )
            assert not (got & others), persona

    def test_filtering_instructions_by_a_case_out_of_scope_shows_nothing(self):
        lx = self.case_id["lx"]
        for persona in ("officer_sn", "officer_station", "liaison_icbc"):
            got = self.ids(
                self.api(self.persona(persona)).get("/api/v1/instructions/", {"case": lx})
            )
            mine = {
                "officer_sn": set(),
                "officer_station": set(),
                "liaison_icbc": {self.named["lx_freeze"]},
            }[persona]
            assert got == mine, persona
        got = self.ids(self.api(self.liaison_ccb).get("/api/v1/instructions/", {"case": lx}))
        assert got == {self.named["lx_stop_ccb"]}

    # -- acting on instructions --------------------------------------------------------------

    def approval_rows(self, unit: str, kind: str) -> Rows:
        """Who may approve a ``kind`` of a case of ``unit``: managers in scope, high enough."""
        city_needed = kind == InstructionKind.RETURN
        in_scope = {
            "manager_lx": unit in ("lx", "st"),
            "manager_jn": unit in ("lx", "st"),
            "manager_sd": True,
            "manager_station": unit == "st",
        }
        high_enough = {
            "manager_lx": not city_needed,  # county
            "manager_jn": True,  # city
            "manager_sd": True,  # province
            "manager_station": False,  # station: below county
        }
        managers: Rows = [
            (name, (200 if high_enough[name] else 403) if in_scope[name] else 404)
            for name in in_scope
        ]
        return [
            *managers,
            ("officer_lx", 403),
            ("officer_station", 403),
            ("officer_sn", 403),
            ("auditor_sd", 403),
            *NO_CASE_ROLE,
        ]

    def check_approval(self, kind: str) -> None:
        owners = {"lx": self.officer_lx, "st": self.officer_station, "sn": self.officer_sn}
        for unit, owner in owners.items():
            self.check(
                self.approval_rows(unit, kind),
                lambda instruction: f"/api/v1/instructions/{instruction.pk}/approve/",
                method="post",
                fresh=lambda owner=owner: self.new_awaiting(owner, kind),
                effect=lambda instruction, user, _response: Instruction.objects.filter(
                    pk=instruction.pk, status=InstructionStatus.PENDING, approved_by=user
                ).exists(),
            )

    def test_a_freeze_needs_a_manager_in_scope_at_county_level_or_above(self):
        self.check_approval(InstructionKind.FREEZE)

    def test_a_renewal_needs_a_manager_in_scope_at_county_level_or_above(self):
        self.check_approval(InstructionKind.RENEWAL)

    def test_a_release_needs_a_manager_in_scope_at_county_level_or_above(self):
        self.check_approval(InstructionKind.RELEASE)

    def test_a_return_needs_a_manager_in_scope_at_city_level_or_above(self):
        self.check_approval(InstructionKind.RETURN)

    def liaison_rows(self, institution: str) -> Rows:
        """Who may answer an instruction addressed to ``institution``: its liaison only."""
        return [
            ("liaison_icbc", 200 if institution == "ICBC" else 404),
            ("liaison_ccb", 200 if institution == "CCB" else 404),
            ("liaison_alipay", 200 if institution == "ALIPAY" else 404),
            *((persona, 403) for persona in [*POLICE, "manager_station"]),
            ("admin", 403),
            (None, 401),
        ]

    def check_answer(self, action: str, body: dict[str, Any], status: str) -> None:
        # A bank's liaison answers whichever police unit asked: its scope is the institution.
        for owner, institution in (
            (self.officer_lx, "ICBC"),
            (self.officer_lx, "CCB"),
            (self.officer_sn, "ICBC"),
            (self.officer_station, "ALIPAY"),
        ):
            self.check(
                self.liaison_rows(institution),
                lambda instruction: f"/api/v1/instructions/{instruction.pk}/{action}/",
                method="post",
                body=body,
                fresh=lambda owner=owner, institution=institution: self.new_stop(
                    owner, institution
                ),
                effect=lambda instruction, user, _response: Instruction.objects.filter(
                    pk=instruction.pk, status=status, responded_by=user
                ).exists(),
            )

    def test_only_the_addressed_institutions_liaison_may_execute(self):
        self.check_answer(
            "execute",
            {"executed_amount": "1000.00", "bank_reference": "ICBC-20260101-0001"},
            InstructionStatus.EXECUTED,
        )

    def test_only_the_addressed_institutions_liaison_may_reject(self):
        self.check_answer("reject", {"reason": "户名与账号不符"}, InstructionStatus.REJECTED)

    def test_a_liaison_cannot_execute_a_freeze_still_awaiting_approval(self):
        freeze = Instruction.objects.get(pk=self.named["lx_awaiting_alipay"])
        before = world_state()
        response = self.api(self.liaison_alipay).post(
            f"/api/v1/instructions/{freeze.pk}/execute/",
            {"executed_amount": "8000.00", "bank_reference": "ALI-1"},
            format="json",
        )
        assert response.status_code in (404, 409), response.content
        assert world_state() == before
        freeze.refresh_from_db()
        assert freeze.status == InstructionStatus.AWAITING_APPROVAL

    def test_only_an_officer_in_scope_may_cancel_an_instruction(self):
        owners = {"lx": self.officer_lx, "st": self.officer_station, "sn": self.officer_sn}
        for unit, owner in owners.items():
            for make in (
                lambda owner=owner: self.new_stop(owner),
                lambda owner=owner: self.new_freeze(owner),
            ):
                self.check(
                    officer_action_on(unit, 200),
                    lambda instruction: f"/api/v1/instructions/{instruction.pk}/cancel/",
                    method="post",
                    fresh=make,
                    effect=lambda instruction, user, _response: Instruction.objects.filter(
                        pk=instruction.pk,
                        status=InstructionStatus.CANCELLED,
                        cancelled_by=user,
                    ).exists(),
                )

    # -- allocation rounds (R10) -------------------------------------------------------------

    @classmethod
    def new_round(cls, officer: User, *, notice_over: bool = False) -> AllocationRound:
        """A round in notice over a new freeze of 8000.00 in a case of the officer's unit,
        with one victim; ``notice_over`` opens it a notice and a minute ago."""
        freeze = cls.new_freeze(officer, executed=True)
        case_services.victim_add(
            actor=officer,
            case=freeze.case,
            name="周八",
            id_number="370102199404184567",
            phone="13600136000",
            loss_amount=Decimal("3000.00"),
            account_institution_code="CCB",
            account_number=cls.number(),
            account_holder_name="周八",
        )
        opened = acting_time.now()
        if notice_over:
            opened -= rule("PUBLIC_NOTICE") + timedelta(minutes=1)
        with acting_time.acting_at(opened):
            return round_services.round_open(actor=officer, case=freeze.case, freeze_id=freeze.pk)

    def test_police_read_the_rounds_only_inside_their_subtree(self):
        owners = {"lx": self.officer_lx, "st": self.officer_station, "sz": self.officer_sz}
        owners["sn"] = self.officer_sn
        rounds = {name: self.new_round(owner) for name, owner in owners.items()}
        for name, allocation_round in rounds.items():
            rows: Rows = [
                (persona, 200 if name in seen else 404) for persona, seen in VISIBLE_CASES.items()
            ]
            self.check(
                rows + NO_CASE_ROLE,
                f"/api/v1/allocations/{allocation_round.pk}/",
                effect=lambda _t, _u, response, pk=allocation_round.pk: response.json()["id"] == pk,
            )
            self.check(
                rows + NO_CASE_ROLE,
                f"/api/v1/cases/{allocation_round.case_id}/allocations/",
                effect=lambda _t, _u, response, pk=allocation_round.pk: (
                    [row["id"] for row in response.json()["results"]] == [pk]
                ),
            )
        for persona, seen in VISIBLE_CASES.items():
            got = self.ids(self.api(self.persona(persona)).get("/api/v1/allocations/"))
            assert got == {rounds[name].pk for name in seen}, persona
        self.check(NO_CASE_ROLE, "/api/v1/allocations/")

    def test_only_an_officer_in_scope_may_open_a_round(self):
        owners = {"lx": self.officer_lx, "st": self.officer_station, "sn": self.officer_sn}
        for unit, owner in owners.items():

            def fresh(owner: User = owner) -> Instruction:
                freeze = self.new_freeze(owner, executed=True)
                case_services.victim_add(
                    actor=owner,
                    case=freeze.case,
                    name="周八",
                    id_number="370102199404184567",
                    phone="13600136000",
                    loss_amount=Decimal("3000.00"),
                    account_institution_code="CCB",
                    account_number=self.number(),
                    account_holder_name="周八",
                )
                return freeze

            self.check(
                officer_action_on(unit, 201),
                lambda freeze: f"/api/v1/cases/{freeze.case_id}/allocations/",
                method="post",
                body=lambda freeze: {"freeze": freeze.pk},
                fresh=fresh,
                effect=lambda freeze, user, _response: AllocationRound.objects.filter(
                    freeze=freeze, opened_by=user, status="notice"
                ).exists(),
            )

    def test_only_an_officer_in_scope_may_object_to_a_round_or_withdraw_it(self):
        owners = {"lx": self.officer_lx, "st": self.officer_station, "sn": self.officer_sn}
        for unit, owner in owners.items():
            self.check(
                officer_action_on(unit, 201),
                lambda r: f"/api/v1/allocations/{r.pk}/objections/",
                method="post",
                body=lambda r: {"victim": r.shares.get().victim_id, "reason": "份额有误"},
                fresh=lambda owner=owner: self.new_round(owner),
                effect=lambda r, user, _response: AllocationObjection.objects.filter(
                    round=r, recorded_by=user
                ).exists(),
            )
            self.check(
                officer_action_on(unit, 200),
                lambda r: f"/api/v1/allocations/{r.pk}/withdraw/",
                method="post",
                body={"reason": "漏列被害人"},
                fresh=lambda owner=owner: self.new_round(owner),
                effect=lambda r, user, _response: AllocationRound.objects.filter(
                    pk=r.pk, status="withdrawn", withdrawn_by=user
                ).exists(),
            )

    def test_a_round_is_confirmed_by_a_manager_in_scope_at_city_level_or_above(self):
        owners = {"lx": self.officer_lx, "st": self.officer_station, "sn": self.officer_sn}
        for unit, owner in owners.items():
            self.check(
                self.approval_rows(unit, InstructionKind.RETURN),
                lambda r: f"/api/v1/allocations/{r.pk}/confirm/",
                method="post",
                fresh=lambda owner=owner: self.new_round(owner, notice_over=True),
                effect=lambda r, user, _response: (
                    AllocationRound.objects.filter(
                        pk=r.pk, status="confirmed", confirmed_by=user
                    ).exists()
                    and Instruction.objects.filter(
                        allocation_share__round=r, approved_by=user, status="pending"
                    ).count()
                    == 1
                ),
            )

    def test_acting_on_a_missing_round_is_404_for_a_role_that_may_act(self):
        missing = (
            AllocationRound.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        ) + 1000
        officers_only = officer_action(lixia=404, station=404, shinan=404)
        for action in ("objections", "withdraw"):
            self.check(officers_only, f"/api/v1/allocations/{missing}/{action}/", method="post")
        self.check(
            [
                ("manager_lx", 404),
                ("manager_jn", 404),
                ("manager_sd", 404),
                ("officer_lx", 403),
                ("auditor_sd", 403),
                *NO_CASE_ROLE,
            ],
            f"/api/v1/allocations/{missing}/confirm/",
            method="post",
        )
