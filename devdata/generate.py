"""Generated provinces for benchmarks and load tests (``manage.py generate_data``).

Builds, under the demo province, a four-level police tree of the size of Shandong's (16
cities, their counties and stations), three more banks, and then ``cases`` cases with their
victims, involved accounts, every instruction of their history and the overdue flags that
history raised, as of ``now``. The spread follows what a provincial anti-fraud centre sees:

* cases through the day, most at stations, more in the big cities, the common fraud types;
* one to three victims, losses from a few hundred yuan to millions (log-normal);
* one to five accounts, layer 1 and 2, at banks and payment platforms;
* stop-payments for most accounts within minutes of the report, answered in minutes (each
  institution at its own pace), most executed, some for nothing, some rejected or cancelled,
  some lapsed; freezes for most filed cases a day or so later, approved within hours,
  answered within a day, renewed or expired after six months; releases; returns weeks later;
* first-stop and bank-answer flags wherever those came late.

Rows are written in bulk (PostgreSQL ``COPY``), chunk by chunk, not
through the services: the history is made consistent here (amounts, stages, clocks), but it
has no audit trail, transfers or notifications. Its durations and deadlines come from the
product's own rules (``funds.durations``: ``settings.FUND_RULES``; ``funds.working_days``: the calendar),
never from literals. The same ``seed`` and ``now`` give the same data. The report triggers
see every chunk like any other statement.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from types import SimpleNamespace
from typing import Any, cast

from django.db import connection, models, transaction
from django.utils import timezone

from accounts.models import Organization, OrganizationKind, Role, UnitLevel, User
from devdata.world import build_demo_world
from funds.durations import add_months, rule
from funds.models import (
    BankAccount,
    Case,
    CaseStatus,
    Deadline,
    DeadlineKind,
    EndReason,
    Flag,
    FlagKind,
    FlagLevel,
    FraudType,
    Instruction,
    InstructionKind,
    InstructionStatus,
    InvolvedAccount,
    Victim,
)
from funds.personal_data import with_check_digit
from funds.services.stages import derive_stage
from funds.working_days import working_deadline

CHUNK = 5_000

# Shandong's cities (code, name, weight by population); 济南 and 青岛 are the demo's own.
CITIES = [
    ("370100", "济南市公安局", 9),
    ("370200", "青岛市公安局", 10),
    ("370300", "淄博市公安局", 5),
    ("370400", "枣庄市公安局", 4),
    ("370500", "东营市公安局", 2),
    ("370600", "烟台市公安局", 7),
    ("370700", "潍坊市公安局", 9),
    ("370800", "济宁市公安局", 8),
    ("370900", "泰安市公安局", 5),
    ("371000", "威海市公安局", 3),
    ("371100", "日照市公安局", 3),
    ("371300", "临沂市公安局", 11),
    ("371400", "德州市公安局", 6),
    ("371500", "聊城市公安局", 6),
    ("371600", "滨州市公安局", 4),
    ("371700", "菏泽市公安局", 9),
]
COUNTY_NAMES = ["城东", "城西", "城南", "城北", "高新", "开发区", "经开", "临港", "新城", "东港"]
COUNTY_NAMES += ["西海岸", "北岸"]
STATION_NAMES = ["人民路", "解放路", "和平路", "建设路", "新华路", "中山路", "文化路", "胜利路"]
STATION_NAMES += ["青年路"]
EXTRA_BANKS = [
    ("PSBC", "中国邮政储蓄银行"),
    ("CMB", "招商银行"),
    ("BOCOM", "交通银行"),
]
# How often each institution holds a mule account, and its median answer to a stop-payment.
INSTITUTIONS = {
    "ICBC": (15, 8),
    "CCB": (14, 9),
    "ABC": (12, 14),
    "BOC": (8, 18),
    "PSBC": (7, 20),
    "CMB": (6, 7),
    "BOCOM": (5, 12),
    "ALIPAY": (18, 3),
    "TENPAY": (15, 4),
}
FRAUD_TYPES = {
    FraudType.REBATE_TASK: 30,
    FraudType.INVESTMENT: 20,
    FraudType.FAKE_LOAN: 12,
    FraudType.IMPERSONATING_CUSTOMER_SERVICE: 10,
    FraudType.IMPERSONATING_OFFICIALS: 8,
    FraudType.ROMANCE: 8,
    FraudType.IMPERSONATING_ACQUAINTANCE: 5,
    FraudType.GAME_TRADE: 4,
    FraudType.CREDIT_REPAIR: 2,
    FraudType.OTHER: 1,
}
TITLES = {
    FraudType.REBATE_TASK: "刷单返利诈骗",
    FraudType.INVESTMENT: "虚假投资理财诈骗",
    FraudType.FAKE_LOAN: "虚假贷款诈骗",
    FraudType.IMPERSONATING_CUSTOMER_SERVICE: "冒充电商物流客服诈骗",
    FraudType.IMPERSONATING_OFFICIALS: "冒充公检法诈骗",
    FraudType.ROMANCE: "网络婚恋交友诈骗",
    FraudType.IMPERSONATING_ACQUAINTANCE: "冒充领导熟人诈骗",
    FraudType.GAME_TRADE: "网络游戏产品虚假交易诈骗",
    FraudType.CREDIT_REPAIR: "虚假征信诈骗",
    FraudType.OTHER: "其他类型诈骗",
}
# Reports by local hour of the day (fraud peaks in the afternoon and evening).
HOURS = [1, 1, 1, 1, 1, 1, 2, 3, 5, 6, 7, 7, 6, 7, 8, 8, 8, 7, 7, 8, 8, 7, 4, 2]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
CENT = Decimal("0.01")
# Each chunk is written in this order, so that every row's references exist.
WRITE_ORDER: tuple[type[models.Model], ...] = (
    Case,
    Victim,
    BankAccount,
    InvolvedAccount,
    Instruction,
    Deadline,
    Flag,
)


@dataclass
class Generated:
    units: int = 0
    cases: int = 0
    counts: Counter[str] = field(default_factory=Counter)

    def __str__(self) -> str:
        parts = ", ".join(f"{n:,} {name}" for name, n in sorted(self.counts.items()))
        return f"{self.cases:,} cases ({parts}); {self.units:,} units created"


@dataclass
class World:
    units: list[Organization]  # the units that log cases: counties and stations
    weights: list[float]  # how many cases each logs, relatively
    officers: dict[int, int]  # unit id -> an officer of its county
    managers: dict[int, int]  # unit id -> a manager of its county
    city_managers: dict[int, int]  # unit id -> a manager of its city
    institutions: dict[str, int]
    liaisons: dict[int, int]  # institution id -> its liaison


def _identity_number(draw: int) -> str:
    """A valid identity number (check digit, a birth day of 1950-2004) from one random draw,
    so that the generated history draws what it always drew."""
    born = date(1950, 1, 1) + timedelta(days=draw % 20_000)
    return with_check_digit(f"370102{born:%Y%m%d}{draw // 20_000 % 1000:03d}")


def _money(value: float) -> Decimal:
    return Decimal(max(value, 0.01)).quantize(CENT)


class Ids:
    """Primary keys handed out in advance, so rows can point at each other before they are
    written: reserved from PostgreSQL's sequence, or counted on from the largest id."""

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model
        self.next = 0
        self.last = -1

    def take(self) -> int:
        if self.next > self.last:
            self._reserve(CHUNK * 8)
        value = self.next
        self.next += 1
        return value

    def _reserve(self, count: int) -> None:
        table = self.model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), "
                "nextval(pg_get_serial_sequence(%s, 'id')) + %s - 1)",
                [table, table, count],
            )
            (last,) = cursor.fetchone()
            self.next, self.last = last - count + 1, last


def _write(model: type[models.Model], rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    table = model._meta.db_table
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor behind Django's wrapper
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with raw.copy(sql) as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])


def build_world(rng: random.Random, cities: int = len(CITIES)) -> tuple[World, int]:
    """The police tree, institutions and users of the generated province; what is there
    already (the demo world, an earlier run) is kept."""
    orgs, _created = build_demo_world()
    province = orgs["370000"]
    existing = {o.code: o for o in Organization.objects.all()}
    created = 0

    def ensure(code: str, name: str, level: str, parent: Organization | None) -> Organization:
        nonlocal created
        unit = existing.get(code)
        if unit is None:
            kind = OrganizationKind.POLICE if level else OrganizationKind.BANK
            unit = Organization.objects.create(
                code=code, name=name, kind=kind, level=level, parent=parent
            )
            existing[code] = unit
            created += 1
        return unit

    with transaction.atomic():
        units: list[Organization] = []
        weights: list[float] = []
        city_of: dict[int, Organization] = {}
        county_of: dict[int, Organization] = {}
        for city_code, city_name, weight in CITIES[:cities]:
            city = ensure(city_code, city_name, UnitLevel.CITY, province)
            short = city_name.removesuffix("市公安局")
            for index in range(rng.randint(6, 12)):
                code = f"{city_code[:4]}{index + 2:02d}"
                county = ensure(code, f"{short}{COUNTY_NAMES[index]}分局", UnitLevel.COUNTY, city)
                stationed = sorted(
                    (u for u in existing.values() if u.parent_id == county.pk), key=lambda u: u.code
                )
                for number in range(len(stationed), rng.randint(4, 9)):
                    stationed.append(
                        ensure(
                            f"{code}{number + 1:03d}",
                            f"{county.name.removesuffix('分局')}{STATION_NAMES[number]}派出所",
                            UnitLevel.STATION,
                            county,
                        )
                    )
                # Cases are logged at county units and, mostly, at their stations.
                for unit, share in [(county, 0.25)] + [
                    (s, 0.75 / len(stationed)) for s in stationed
                ]:
                    units.append(unit)
                    weights.append(weight * share)
                    city_of[unit.pk] = city
                    county_of[unit.pk] = county
        for code, name in EXTRA_BANKS:
            ensure(code, name, "", None)
        institutions = {code: existing[code].pk for code in INSTITUTIONS}

        people = {u.username: u for u in User.objects.filter(username__startswith="gen_")}

        def person(username: str, role: str, org: Organization) -> int:
            user = people.get(username)
            if user is None:
                user = User(username=username, role=role, organization=org)
                user.set_unusable_password()  # generated people never sign in
                user.save()
                people[username] = user
            return user.pk

        officers: dict[int, int] = {}
        managers: dict[int, int] = {}
        city_managers: dict[int, int] = {}
        for unit_id, county in county_of.items():
            officers[unit_id] = person(f"gen_officer_{county.code}", Role.OFFICER, county)
            managers[unit_id] = person(f"gen_manager_{county.code}", Role.MANAGER, county)
            city = city_of[unit_id]
            city_managers[unit_id] = person(f"gen_manager_{city.code}", Role.MANAGER, city)
        liaisons = {
            pk: person(f"gen_liaison_{code}", Role.LIAISON, existing[code])
            for code, pk in institutions.items()
        }
    world = World(
        units=units,
        weights=weights,
        officers=officers,
        managers=managers,
        city_managers=city_managers,
        institutions=institutions,
        liaisons=liaisons,
    )
    return world, created


def _close_connection() -> None:
    connection.close()  # the writer thread's own connection


def write_chunk(rows: dict[type[models.Model], list[dict[str, Any]]], *, analyze: bool) -> None:
    """Write one chunk in one transaction, in an order that satisfies every reference."""
    if analyze:
        # The report triggers plan their lookups from the tables' statistics: keep them
        # current while the tables grow (each time they have doubled).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE funds_case, funds_instruction, funds_involvedaccount")
    with transaction.atomic():
        for model in WRITE_ORDER:
            _write(model, rows.get(model, []))


class Province:
    """Writes cases chunk by chunk, each with its whole history as of ``now``."""

    def __init__(self, world: World, rng: random.Random, now: datetime, days: int) -> None:
        self.world = world
        self.rng = rng
        self.now = now
        self.days = days
        self.ids: dict[type[models.Model], Ids] = {model: Ids(model) for model in WRITE_ORDER}
        self.rows: dict[type[models.Model], list[dict[str, Any]]] = {}
        self.counts: Counter[str] = Counter()
        self.codes = {pk: code for code, pk in world.institutions.items()}
        # (account id, institution id, holder name as the first case recorded it)
        self.recent_accounts: list[tuple[int, int, str]] = []
        # R12: per bank account, when its last freeze stopped holding its place (None: it
        # still does at ``now``), so that another case's freeze on it queues behind.
        self.freeze_holds: dict[int, datetime | None] = {}
        # Returns still waiting for approval or the bank, per victim id (R9's "asked").
        self.open_returns: dict[int, Decimal] = {}

    def return_left_open(self, victim: dict[str, Any], amount: Decimal) -> None:
        """A return to ``victim`` still waiting: it counts against what the victim is owed."""
        self.open_returns[victim["id"]] = (
            self.open_returns.get(victim["id"], Decimal("0.00")) + amount
        )

    # -- random helpers ---------------------------------------------------------------

    def lognormal(self, median: float, sigma: float) -> float:
        return median * math.exp(self.rng.gauss(0, sigma))

    def after(self, start: datetime, median_minutes: float, sigma: float = 0.9) -> datetime:
        return start + timedelta(minutes=self.lognormal(median_minutes, sigma))

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, weights: dict[Any, int]) -> Any:
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]

    def add(
        self, model: type[models.Model], row: dict[str, Any], pk: int | None = None
    ) -> dict[str, Any]:
        """Queue a row for writing; answer it, with its primary key."""
        stored = {"id": self.ids[model].take() if pk is None else pk, **row}
        self.rows.setdefault(model, []).append(stored)
        return stored

    # -- a chunk ----------------------------------------------------------------------

    def build_chunk(self, count: int) -> dict[type[models.Model], list[dict[str, Any]]]:
        self.rows = {}
        for _ in range(count):
            self.case()
        for model in WRITE_ORDER:
            self.counts[model.__name__] += len(self.rows.get(model, []))
        return self.rows

    def case(self) -> None:
        rng = self.rng
        unit = rng.choices(self.world.units, weights=self.world.weights)[0]
        day = self.now - timedelta(days=rng.random() * self.days)
        local = timezone.localtime(day)
        hour = rng.choices(range(24), weights=HOURS)[0]
        reported = local.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60))
        if reported > self.now:
            reported -= timedelta(days=1)
        fraud = self.pick(FRAUD_TYPES)
        officer = self.world.officers[unit.pk]
        accepted = self.after(reported, 30, 0.6)
        filed = self.after(accepted, 20 * 60, 0.8)
        status = CaseStatus.REPORTED
        if accepted < self.now:
            status = CaseStatus.ACCEPTED
        if filed < self.now and self.chance(0.85):
            status = CaseStatus.FILED
        closed = filed + timedelta(days=self.lognormal(120, 0.5))
        if status == CaseStatus.FILED and closed < self.now and self.chance(0.5):
            status = CaseStatus.CLOSED
        case_id = self.ids[Case].take()
        self.add(
            Case,
            {
                "number": f"GEN-{unit.code}-{case_id}",
                "unit_id": unit.pk,
                "title": TITLES[fraud],
                "fraud_type": fraud,
                "status": status,
                "description": "",
                "reported_at": reported,
                "filing_number": f"鲁公立字〔{filed:%Y}〕{case_id}号"
                if status in (CaseStatus.FILED, CaseStatus.CLOSED)
                else "",
                "accepted_at": accepted if status != CaseStatus.REPORTED else None,
                "filed_at": filed if status in (CaseStatus.FILED, CaseStatus.CLOSED) else None,
                "closed_at": closed if status == CaseStatus.CLOSED else None,
                "created_by_id": officer,
                "created_at": reported,
            },
            pk=case_id,
        )
        victims = []
        banks = sorted(self.world.institutions.items())
        for index in range(rng.choices([1, 2, 3], weights=[88, 9, 3])[0]):
            loss = _money(min(self.lognormal(15_000, 1.3), 5_000_000))
            name = rng.choice(SURNAMES) + "某"
            # The victim's own account, where returns are paid (R9); derived from the ids,
            # so that the random draws, and so the generated history, stay as they were.
            _code, bank = banks[(case_id + index) % len(banks)]
            victim = self.add(
                Victim,
                {
                    "case_id": case_id,
                    "name": name,
                    "id_number": _identity_number(rng.randrange(10**14)),
                    "phone": f"13{rng.randrange(10**9):09d}",
                    "loss_amount": loss,
                    "account_institution_id": bank,
                    "account_number": f"6217{case_id:010d}{index:02d}",
                    "account_holder_name": name,
                    "returned_amount": Decimal("0.00"),
                    "created_at": reported,
                },
            )
            victims.append(victim)
        loss = sum((v["loss_amount"] for v in victims), Decimal(0))
        filed_at = filed if status in (CaseStatus.FILED, CaseStatus.CLOSED) else None
        first_stop: datetime | None = None
        accounts = rng.choices([1, 2, 3, 4, 5], weights=[30, 30, 20, 12, 8])[0]
        used: set[int] = set()
        for index in range(accounts):
            layer = 1 if index < max(1, accounts // 2) else 2
            share = loss * Decimal(rng.uniform(0.3, 1.0) if layer == 1 else rng.uniform(0.1, 0.6))
            stop_at = self.account(
                case_id, unit.pk, reported, layer, share, filed_at, victims, used, first_stop
            )
            if stop_at is not None and (first_stop is None or stop_at < first_stop):
                first_stop = stop_at
        self.first_stop_flag(case_id, reported, first_stop)

    def account(
        self,
        case_id: int,
        unit_id: int,
        reported: datetime,
        layer: int,
        share: Decimal,
        filed_at: datetime | None,
        victims: list[dict[str, Any]],
        used: set[int],
        first_stop: datetime | None,
    ) -> datetime | None:
        """One involved account and its instructions; answer when its stop was asked for."""
        rng, world = self.rng, self.world
        if self.recent_accounts and self.chance(0.08):
            # Another case's account: the units usually record its holder alike.
            account_id, institution, holder_name = rng.choice(self.recent_accounts)
        else:
            code = self.pick({c: w for c, (w, _median) in INSTITUTIONS.items()})
            institution = world.institutions[code]
            account_id = self.ids[BankAccount].take()
            prefix = "62" if code not in ("ALIPAY", "TENPAY") else "A"
            # Generated numbers are digits only, the normalised form (funds.account_numbers).
            self.rows.setdefault(BankAccount, []).append(
                {
                    "id": account_id,
                    "institution_id": institution,
                    "number": f"{prefix}{account_id:017d}",
                }
            )
            holder_name = rng.choice(SURNAMES) + "某某"
            self.recent_accounts.append((account_id, institution, holder_name))
            self.recent_accounts = self.recent_accounts[-5_000:]
        if account_id in used:
            return None
        used.add(account_id)
        involved_account = self.add(
            InvolvedAccount,
            {
                "case_id": case_id,
                "account_id": account_id,
                "holder_name": holder_name,
                "layer": layer,
                "stage": "identified",
                "stopped_amount": Decimal("0.00"),
                "frozen_amount": Decimal("0.00"),
                "released_amount": Decimal("0.00"),
                "returned_amount": Decimal("0.00"),
                "created_by_id": world.officers[unit_id],
                "created_at": reported,
            },
        )
        history = History(self, case_id, unit_id, involved_account, institution, victims)
        history.bank_account_id = account_id
        requested = _money(float(share) * rng.uniform(0.8, 1.0))
        # Layer 1 is stopped within minutes of the report (R13); layer 2 once traced.
        if layer == 1:
            start = (first_stop or reported) + timedelta(
                minutes=self.lognormal(9 if first_stop is None else 3, 0.9)
            )
        else:
            start = self.after(reported, 6 * 60, 1.0)
        stop_at = None
        if self.chance(0.9 if layer == 1 else 0.75):
            stop_at = start
            stop = history.stop(start, requested)
            if stop is not None and history.lapsed(stop) and self.chance(0.1):
                history.stop(stop["effective_until"] - timedelta(minutes=30), requested)
        stopped = history.stopped_amount()
        frozen_next = stopped > 0 or (layer == 2 and self.chance(0.1))
        if filed_at is not None and frozen_next and self.chance(0.8):
            # R4: frozen only once filed; usually about a day after the stop.
            asked = max(filed_at, history.last_answer() or filed_at) + timedelta(
                minutes=self.lognormal(18 * 60, 0.8)
            )
            history.freeze(asked, stopped if stopped > 0 else requested)
        history.finish()
        return stop_at

    def first_stop_flag(self, case_id: int, reported: datetime, first: datetime | None) -> None:
        """R13: an overdue flag wherever the first stop-payment came late (or not yet)."""
        due = reported + rule("FIRST_STOP_WITHIN")
        if due >= self.now or (first is not None and first <= due):
            return
        met = first if first is not None and first <= self.now else None
        self.flag(
            case_id, None, DeadlineKind.FIRST_STOP, FlagKind.FIRST_STOP_OVERDUE, reported, due, met
        )

    def flag(
        self,
        case_id: int,
        instruction_id: int | None,
        deadline_kind: str,
        flag_kind: str,
        opened: datetime,
        due: datetime,
        met: datetime | None,
    ) -> None:
        raised = due + timedelta(seconds=self.rng.randrange(5, 60))
        if raised > self.now or (met is not None and met <= raised):
            return
        deadline = self.add(
            Deadline,
            {
                "kind": deadline_kind,
                "case_id": case_id,
                "instruction_id": instruction_id,
                "warn_at": None,
                "due_at": due,
                "opened_at": opened,
                "met_at": met,
                "lapsed_at": None,
                "warning_raised_at": None,
                "overdue_raised_at": raised,
            },
        )
        self.add(
            Flag,
            {
                "deadline_id": deadline["id"],
                "kind": flag_kind,
                "level": FlagLevel.OVERDUE,
                "case_id": case_id,
                "instruction_id": instruction_id,
                "due_at": due,
                "raised_at": raised,
                "resolved_at": met,
                # History's escalations are left to the first sweep: its first step is due.
                "escalation_step": 0,
                "escalated_at": None,
                "reached_unit_id": None,
                "next_escalation_at": None if met else raised + rule("ESCALATION_STEPS")[0],
            },
        )


class History:
    """The instructions on one involved account, built in time order."""

    def __init__(
        self,
        province: Province,
        case_id: int,
        unit_id: int,
        involved_account: dict[str, Any],
        institution: int,
        victims: list[dict[str, Any]],
    ) -> None:
        self.p = province
        self.case_id = case_id
        self.unit_id = unit_id
        self.involved_account = involved_account
        self.institution = institution
        self.victims = victims
        self.instructions: list[dict[str, Any]] = []
        self.answer_median = INSTITUTIONS[province.codes[institution]][1]
        self.bank_account_id = 0

    def new(self, kind: str, at: datetime, amount: Decimal, **extra: Any) -> dict[str, Any]:
        world = self.p.world
        # Keys are the table's columns (COPY): involved_id is Instruction.involved_account's.
        row: dict[str, Any] = {
            "case_id": self.case_id,
            "involved_id": self.involved_account["id"],
            "institution_id": self.institution,
            "kind": kind,
            "status": InstructionStatus.PENDING,
            "requested_amount": amount,
            "executed_amount": None,
            "requested_by_id": world.officers[self.unit_id],
            "requested_at": at,
            "approved_by_id": None,
            "approved_at": None,
            "response_due_at": None,
            "deadline_provisional": False,
            "responded_by_id": None,
            "responded_at": None,
            "bank_reference": "",
            "reject_reason": "",
            "cancelled_by_id": None,
            "cancelled_at": None,
            "instrument_number": "",
            # Generated rows carry free-text numbers, unique by row id, as if typed before
            # casetracker issued numbers (funds 0031).
            "instrument_source": "legacy",
            "issuing_unit_id": None,
            "term_months": None,
            "freeze_id": None,
            "victim_id": None,
            "reason": "",
            "queued": False,
            "effective_from": None,
            "effective_until": None,
            "hold_confirmed_at": None,
            "hold_reference": "",
            "effect_notified_at": None,
            "ended_at": None,
            "end_reason": "",
            "verified_at": None,
            "verified_by_id": None,
            "unrelated_found_at": None,
            "institution_notified_at": at,
            "released_amount": Decimal("0.00"),
            "returned_amount": Decimal("0.00"),
            **extra,
        }
        row = self.p.add(Instruction, row)
        self.instructions.append(row)
        return row

    def approve(self, row: dict[str, Any], median_minutes: float, city: bool = False) -> bool:
        """Approval by a county (or city) manager; False while it still waits."""
        row["status"] = InstructionStatus.AWAITING_APPROVAL
        approved = self.p.after(row["requested_at"], median_minutes, 0.8)
        if approved > self.p.now:
            row["institution_notified_at"] = None
            return False
        managers = self.p.world.city_managers if city else self.p.world.managers
        row.update(status=InstructionStatus.PENDING, approved_at=approved)
        row.update(approved_by_id=managers[self.unit_id], institution_notified_at=approved)
        return True

    def answer(
        self, row: dict[str, Any], median_minutes: float, amount: Decimal, reject: float
    ) -> bool:
        """The institution's answer, late or on time; False while it is still pending."""
        p = self.p
        sent = row["approved_at"] or row["requested_at"]
        answered = p.after(sent, median_minutes, 0.9)
        due = row["response_due_at"]
        if due is not None and min(answered, p.now) > due:
            met = answered if answered <= p.now else None
            p.flag(
                self.case_id,
                row["id"],
                DeadlineKind.BANK_RESPONSE,
                FlagKind.BANK_RESPONSE_OVERDUE,
                sent,
                due,
                met,
            )
        if answered > p.now:
            return False
        row.update(responded_at=answered, responded_by_id=p.world.liaisons[self.institution])
        if p.chance(reject):
            row.update(status=InstructionStatus.REJECTED, reject_reason="户名与账号不符")
            return True
        row.update(
            status=InstructionStatus.EXECUTED,
            executed_amount=min(amount, row["requested_amount"]),
            bank_reference=f"B{row['id']}",
        )
        return True

    def stop(self, at: datetime, amount: Decimal) -> dict[str, Any] | None:
        p = self.p
        if at > p.now:
            return None
        row = self.new(InstructionKind.STOP_PAYMENT, at, amount)
        row["response_due_at"] = at + rule("STOP_RESPONSE")
        if p.chance(0.03) and at + timedelta(minutes=2) < p.now:
            row.update(
                status=InstructionStatus.CANCELLED,
                cancelled_at=at + timedelta(minutes=2),
                cancelled_by_id=row["requested_by_id"],
            )
            return row
        found = Decimal(0) if p.chance(0.12) else _money(float(amount) * p.rng.uniform(0.05, 1))
        answered = self.answer(row, self.answer_median, found, reject=0.1)
        if answered and row["status"] == InstructionStatus.EXECUTED and row["executed_amount"] > 0:
            row["effective_from"] = row["responded_at"]
            row["effective_until"] = row["responded_at"] + rule("STOP_DURATION")  # R2
        return row

    def lapsed(self, stop: dict[str, Any]) -> bool:
        until = stop.get("effective_until")
        return until is not None and until <= self.p.now

    def stopped_amount(self) -> Decimal:
        return sum(
            (
                r["executed_amount"]
                for r in self.instructions
                if r["kind"] == InstructionKind.STOP_PAYMENT
                and r["status"] == InstructionStatus.EXECUTED
            ),
            Decimal(0),
        )

    def last_answer(self) -> datetime | None:
        return max(
            (r["responded_at"] for r in self.instructions if r["responded_at"]), default=None
        )

    def freeze(self, at: datetime, amount: Decimal) -> None:
        p = self.p
        if at > p.now:
            return
        # R12: another case's freeze on the bank account still holds its place.
        ahead_until = p.freeze_holds.get(self.bank_account_id, at)
        row = self.new(
            InstructionKind.FREEZE,
            at,
            amount,
            instrument_number=f"鲁公（刑）冻财字〔{at:%Y}〕{self.involved_account['id']}号",
            term_months=rule("FREEZE_MAX_MONTHS"),
            queued=ahead_until is None or ahead_until > at,
        )
        try:
            self._freeze(row, amount, ahead_until)
        finally:
            p.freeze_holds[self.bank_account_id] = _place_held_until(row)

    def _freeze(self, row: dict[str, Any], amount: Decimal, ahead_until: datetime | None) -> None:
        p = self.p
        if not self.approve(row, 120):
            return
        row["response_due_at"] = row["approved_at"] + rule("BANK_RESPONSE")
        found = _money(float(amount) * p.rng.uniform(0.6, 1.0))
        if not self.answer(row, self.answer_median * 50, found, reject=0.07):
            return
        if row["status"] != InstructionStatus.EXECUTED:
            return
        responded = row["responded_at"]
        if row["queued"] and row["executed_amount"] > 0:
            # The answer registered it in line; it takes effect when the one ahead ends,
            # and holds what the bank confirms then (less, if money left meanwhile).
            if ahead_until is None or ahead_until > p.now:
                return
            start = max(responded, ahead_until)
            term_end = add_months(start, row["term_months"])
            row.update(effective_from=start, effective_until=term_end, effect_notified_at=start)
            row["response_due_at"] = start + rule("BANK_RESPONSE")
            confirmed = p.after(start, self.answer_median * 50, 0.9)
            if confirmed > p.now:
                return
            held = _money(float(row["executed_amount"]) * p.rng.uniform(0.0, 1.0))
            row.update(executed_amount=held, hold_confirmed_at=confirmed)
            row["hold_reference"] = f"H{row['id']}"
            if held == 0:
                row.update(ended_at=confirmed, end_reason=EndReason.NOTHING_LEFT)
                return
            responded = confirmed
        elif row["executed_amount"] > 0:
            # Not queued: it holds what the bank found from its answer on.
            row.update(
                effective_from=responded,
                hold_confirmed_at=responded,
                hold_reference=row["bank_reference"],
                effect_notified_at=responded,
            )
        else:
            return
        # The freeze takes over from the stop-payments on the account.
        for stop in self.instructions:
            held_on = stop["kind"] == InstructionKind.STOP_PAYMENT and stop["effective_until"]
            if held_on and stop["effective_until"] > responded:
                stop.update(ended_at=responded, end_reason=EndReason.SUPERSEDED)
        until = add_months(row["effective_from"], row["term_months"])
        # R5, R6: most freezes about to run out are renewed in time.
        while until <= p.now and p.chance(0.6):
            renewal = self.new(
                InstructionKind.RENEWAL,
                # R6: filed at least the notice before expiry, up to ten days earlier.
                until - rule("RENEWAL_NOTICE") - timedelta(days=p.rng.uniform(0, 10)),
                row["executed_amount"],
                freeze_id=row["id"],
                instrument_number=f"鲁公（刑）续冻字〔{until:%Y}〕{row['id']}号",
                term_months=rule("FREEZE_MAX_MONTHS"),
            )
            renewal.update(
                status=InstructionStatus.EXECUTED,
                approved_at=renewal["requested_at"] + timedelta(hours=2),
                approved_by_id=p.world.managers[self.unit_id],
                responded_at=renewal["requested_at"] + timedelta(hours=20),
                responded_by_id=p.world.liaisons[self.institution],
                executed_amount=renewal["requested_amount"],
                bank_reference=f"B{renewal['id']}",
            )
            until = add_months(until, row["term_months"])
            renewal["effective_until"] = until
        row["effective_until"] = until
        row["verified_at"] = responded + timedelta(days=p.rng.uniform(5, 60))
        if row["verified_at"] > p.now:
            row["verified_at"] = None
        else:
            row["verified_by_id"] = row["requested_by_id"]
        self.follow_ups(row)

    def follow_ups(self, freeze: dict[str, Any]) -> None:
        """Releases and returns that take money out of an executed freeze."""
        p = self.p
        held = freeze["executed_amount"]
        end = min(freeze["effective_until"], p.now)
        # What it holds is known from the bank's confirmation: its answer, or for a queued
        # freeze the confirmation once it took effect.
        start = last = freeze["hold_confirmed_at"]
        if p.chance(0.06):
            at = p.after(start, 20 * 24 * 60, 0.6)
            amount = _money(float(held) * p.rng.uniform(0.2, 1.0))
            if at < end and amount <= held:
                row = self.new(
                    InstructionKind.RELEASE,
                    at,
                    amount,
                    freeze_id=freeze["id"],
                    reason="经核查与本案无关",
                )
                if self.approve(row, 180):
                    row["response_due_at"] = row["approved_at"] + rule("BANK_RESPONSE")
                    if self.answer(row, 600, amount, reject=0) and row["executed_amount"] > 0:
                        held -= row["executed_amount"]
                        freeze["released_amount"] += row["executed_amount"]
                        last = row["responded_at"]
        if held > 0 and p.chance(0.45):
            at = p.after(start, 40 * 24 * 60, 0.5)
            for victim in self.victims[: p.rng.randint(1, 2)]:
                amount = _money(float(held) * p.rng.uniform(0.3, 1.0))
                # R9: never beyond what the victim is still owed (less returns still open).
                owed = (
                    victim["loss_amount"]
                    - victim["returned_amount"]
                    - p.open_returns.get(victim["id"], Decimal("0.00"))
                )
                amount = min(amount, owed)
                if at >= end or amount > held or amount <= 0:
                    break
                row = self.new(
                    InstructionKind.RETURN,
                    at,
                    amount,
                    freeze_id=freeze["id"],
                    victim_id=victim["id"],
                )
                if not self.approve(row, 24 * 60, city=True):
                    p.return_left_open(victim, amount)
                    break
                # R11, as instruction_approve: provisional over a year not yet entered.
                due = working_deadline(row["approved_at"], rule("RETURN_WORKING_DAYS"))
                row["response_due_at"] = due.due_at
                row["deadline_provisional"] = due.provisional
                if not self.answer(row, 36 * 60, amount, reject=0.02):
                    p.return_left_open(victim, amount)
                    break
                if row["status"] == InstructionStatus.EXECUTED:
                    held -= row["executed_amount"]
                    freeze["returned_amount"] += row["executed_amount"]
                    victim["returned_amount"] += row["executed_amount"]
                    last = row["responded_at"]
                at = p.after(at, 3 * 24 * 60, 0.5)
        if held == 0:
            freeze.update(ended_at=last, end_reason=EndReason.EMPTIED)
        elif freeze["effective_until"] <= p.now:
            freeze.update(ended_at=freeze["effective_until"], end_reason=EndReason.EXPIRED)

    def finish(self) -> None:
        """The account's amounts and stage, from its instructions (funds.services.stages)."""
        p, involved_account = self.p, self.involved_account
        for row in self.instructions:
            until = row["effective_until"] if row["kind"] == InstructionKind.STOP_PAYMENT else None
            if until and not row["ended_at"] and until <= p.now:
                row.update(ended_at=row["effective_until"], end_reason=EndReason.LAPSED)
        executed = [
            r
            for r in self.instructions
            if r["status"] == InstructionStatus.EXECUTED
            # R12: a queued freeze holds nothing until the bank confirms its hold.
            and not (r["kind"] == InstructionKind.FREEZE and r["hold_confirmed_at"] is None)
        ]
        for kind, column in (
            (InstructionKind.STOP_PAYMENT, "stopped_amount"),
            (InstructionKind.FREEZE, "frozen_amount"),
            (InstructionKind.RELEASE, "released_amount"),
            (InstructionKind.RETURN, "returned_amount"),
        ):
            involved_account[column] = sum(
                (r["executed_amount"] for r in executed if r["kind"] == kind), Decimal("0.00")
            )
        # derive_stage reads attributes only: plain namespaces stand in for the models, at a
        # fraction of the cost of building model instances.
        held = (
            involved_account["frozen_amount"]
            - involved_account["released_amount"]
            - involved_account["returned_amount"]
        )
        account = SimpleNamespace(**involved_account, held_amount=held)
        relevant = [
            SimpleNamespace(pk=r["id"], **r)
            for r in self.instructions
            if r["kind"] in (InstructionKind.STOP_PAYMENT, InstructionKind.FREEZE)
            and r["status"] != InstructionStatus.CANCELLED
        ]
        involved_account["stage"] = derive_stage(
            cast(InvolvedAccount, account), cast(list[Instruction], relevant), p.now
        )


def _place_held_until(freeze: dict[str, Any]) -> datetime | None:
    """R12: until when a generated freeze held its place on the bank account (None: it
    still does), as funds.services.freeze_queue.live tells."""
    if freeze["status"] in (InstructionStatus.AWAITING_APPROVAL, InstructionStatus.PENDING):
        return None
    if freeze["status"] != InstructionStatus.EXECUTED or not freeze["executed_amount"]:
        return freeze["responded_at"] or freeze["cancelled_at"]
    if freeze["ended_at"] is not None:
        return freeze["ended_at"]
    return freeze["effective_until"]  # None while in line, else its expiry (maybe ahead)


def generate(
    *,
    cases: int,
    seed: int = 1,
    days: int = 365,
    now: datetime | None = None,
    cities: int = len(CITIES),
    progress: Callable[[str], None] | None = None,
) -> Generated:
    """Add ``cases`` generated cases (and their units, users and history) to the database,
    in the first ``cities`` cities of the province (all 16 by default)."""
    rng = random.Random(seed)  # noqa: S311 - made-up data, not secrets
    now = now or timezone.now()
    # The tree has the same shape whatever the seed: runs with several seeds add to one
    # province.
    world, created = build_world(random.Random(0), cities)  # noqa: S311 - made-up data
    province = Province(world, rng, now, days)
    # Inside a caller's transaction (tests) everything is written there; otherwise a second
    # thread, on its own connection, writes each chunk while the next one is made up.
    overlap = not connection.in_atomic_block
    writer = ThreadPoolExecutor(max_workers=1) if overlap else None
    pending: Future[None] | None = None
    done = 0
    analyzed = 0
    present = Case.objects.count()
    try:
        while done < cases:
            size = min(CHUNK, cases - done)
            rows = province.build_chunk(size)
            if pending is not None:
                pending.result()
            analyze = present + done >= 2 * analyzed
            if analyze:
                analyzed = present + done + size
            if writer is not None:
                pending = writer.submit(partial(write_chunk, rows, analyze=analyze))
            else:
                write_chunk(rows, analyze=analyze)
            done += size
            if progress:
                progress(f"{done:,} / {cases:,} cases")
        if pending is not None:
            pending.result()
    finally:
        if writer is not None:
            writer.submit(_close_connection).result()
            writer.shutdown()
    return Generated(units=created, cases=cases, counts=province.counts)
