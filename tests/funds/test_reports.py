"""The totals and speed reports: figures that reconcile with the rows, scope, query counts.

Every figure is checked against a recomputation written here from scratch, in plain Python
over the cases, victims, instructions and flags themselves (``expected_totals``,
``expected_speed``), on a generated province and on a case driven through the API step by
step, before and after the maintained totals are folded and rebuilt.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import time_machine
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Organization, User
from devdata.generate import generate
from funds.models import (
    Case,
    Flag,
    Instruction,
    PeriodicReport,
    ReportKind,
    ReportTotal,
    SpeedSample,
    TotalsChange,
)
from funds.reports.folding import report_totals_rebuild, report_totals_refresh
from funds.services.freeze_queue import ahead
from funds.services.instructions import (
    InstructionRequest,
    freeze_confirm_hold,
    instruction_approve,
    instruction_execute,
    instruction_request,
)
from funds.services.sweep import sweep
from tests.base import UnitLevel
from tests.funds.helpers import FundsTestCase

ZONE = ZoneInfo("Asia/Shanghai")
ZERO = Decimal("0.00")
NOW = datetime(2026, 3, 20, 18, 0, tzinfo=ZONE)
FIGURES = ("stop_requested", "stopped", "frozen", "released", "returned", "queued")
DONE = {"stop_payment": "stopped", "freeze": "frozen", "release": "released", "return": "returned"}
MEASURES = (
    "first_stop",
    "stop_answer",
    "freeze_answer",
    "return_answer",
    "stop_to_freeze",
    "freeze_to_return",
)
# Ranges that start and end inside months, cross month and year ends, or are one day.
RANGES = [
    (None, None),
    (date(2025, 12, 15), date(2026, 2, 10)),
    (date(2026, 1, 31), date(2026, 3, 1)),
    (date(2026, 2, 1), date(2026, 2, 28)),
    (date(2026, 3, 2), date(2026, 3, 2)),
    (None, date(2026, 1, 15)),
    (date(2026, 2, 20), None),
]


# -- the recomputation --------------------------------------------------------------------


def local_day(moment: datetime) -> date:
    return moment.astimezone(ZONE).date()


def period_label(day: date, group_by: str) -> str:
    if group_by == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if group_by == "month":
        return f"{day:%Y-%m}"
    return day.isoformat()


def blank() -> dict[str, Any]:
    figures: dict[str, Any] = {"cases": 0, "loss": ZERO, "held": ZERO}
    for name in FIGURES:
        figures[name] = (0, ZERO)
    return figures


def bump(figures: dict[str, Any], name: str, amount: Decimal) -> None:
    count, total = figures[name]
    figures[name] = (count + 1, total + amount)


class Tree:
    """Where every unit sits relative to a scope."""

    def __init__(self, scope: Organization) -> None:
        self.scope = scope
        self.units = {u.pk: u for u in Organization.objects.all()}
        self.children = [u for u in self.units.values() if u.parent_id == scope.pk]

    def inside(self, unit_id: int) -> bool:
        return self.units[unit_id].path.startswith(self.scope.path)

    def child_code(self, unit_id: int) -> str:
        path = self.units[unit_id].path
        for child in self.children:
            if path.startswith(child.path):
                return child.code
        return self.scope.code

    def code(self, org_id: int) -> str:
        return self.units[org_id].code


def within(day: date, first: date | None, last: date | None) -> bool:
    return (first is None or day >= first) and (last is None or day <= last)


def expected_totals(
    scope: Organization, group_by: str, first: date | None = None, last: date | None = None
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The totals report, from the rows: key -> figures (rows with anything), and the total."""
    tree = Tree(scope)
    cases = {c.pk: c for c in Case.objects.prefetch_related("victims", "instructions")}
    rows: dict[str, dict[str, Any]] = defaultdict(blank)
    total = blank()

    def key(case: Case, institution_id: int, moment: datetime) -> str:
        if group_by == "unit":
            return tree.child_code(case.unit_id)
        if group_by == "institution":
            return tree.code(institution_id)
        return period_label(local_day(moment), group_by)

    for case in cases.values():
        if not tree.inside(case.unit_id) or not within(local_day(case.reported_at), first, last):
            continue
        loss = sum((v.loss_amount for v in case.victims.all()), ZERO)
        total["cases"] += 1
        total["loss"] += loss
        if group_by == "institution":
            for institution_id in {i.institution_id for i in case.instructions.all()}:
                rows[tree.code(institution_id)]["cases"] += 1
        else:
            row = rows[key(case, 0, case.reported_at)]
            row["cases"] += 1
            row["loss"] += loss
    for i in Instruction.objects.all():
        case = cases[i.case_id]
        if not tree.inside(case.unit_id):
            continue
        asked = local_day(i.requested_at)
        if i.kind == "stop_payment" and i.status != "cancelled" and within(asked, first, last):
            for figures in (rows[key(case, i.institution_id, i.requested_at)], total):
                bump(figures, "stop_requested", i.requested_amount)
        if i.waiting_in_queue and within(asked, first, last):
            # R12: in line behind another case's freeze, with what it waits for.
            for figures in (rows[key(case, i.institution_id, i.requested_at)], total):
                bump(figures, "queued", i.executed_amount or i.requested_amount)
        if i.status != "executed" or not i.executed_amount or i.kind not in DONE:
            continue
        assert i.responded_at is not None
        # A freeze counts once the bank confirmed what it holds: at its answer, or for a
        # queued freeze when it took effect.
        done_at = i.hold_confirmed_at if i.kind == "freeze" else i.responded_at
        if done_at is None or not within(local_day(done_at), first, last):
            continue
        for figures in (rows[key(case, i.institution_id, done_at)], total):
            bump(figures, DONE[i.kind], i.executed_amount)
            if i.kind == "freeze":
                figures["held"] += i.executed_amount - i.released_amount - i.returned_amount
    return {k: v for k, v in rows.items() if v != blank()}, total


def as_figures(row: dict[str, Any]) -> dict[str, Any]:
    """An API row in the form of ``blank()``."""
    figures = {"cases": row["cases"], "loss": Decimal(row["loss"]), "held": Decimal(row["held"])}
    for name in FIGURES:
        figures[name] = (row[name]["count"], Decimal(row[name]["amount"]))
    return figures


def percentile(values: list[int], fraction: float) -> float:
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def seconds(end: datetime, start: datetime) -> int:
    return max(0, math.floor((end - start).total_seconds()))


def expected_speed(
    scope: Organization, group_by: str, first: date, last: date
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The speed report, from the rows: key -> {measure: (count, median, p90), overdue}."""
    tree = Tree(scope)
    cases = {c.pk: c for c in Case.objects.all() if tree.inside(c.unit_id)}
    instructions = [i for i in Instruction.objects.order_by("pk") if i.case_id in cases]
    samples: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))

    def sample(measure: str, case_id: int, institution_id: int | None, start: datetime, s: int):
        if not within(local_day(start), first, last):
            return
        samples["total"][measure].append(s)
        if group_by == "unit":
            samples[tree.child_code(cases[case_id].unit_id)][measure].append(s)
        elif measure != "first_stop":
            samples[tree.code(institution_id or 0)][measure].append(s)

    first_stop: dict[int, datetime] = {}
    for i in instructions:
        if i.kind == "stop_payment":
            first_stop[i.case_id] = min(first_stop.get(i.case_id, i.requested_at), i.requested_at)
    for case_id, asked in first_stop.items():
        reported = cases[case_id].reported_at
        sample("first_stop", case_id, None, reported, seconds(asked, reported))
    for i in instructions:
        if i.status in ("executed", "rejected") and i.kind in ("stop_payment", "freeze", "return"):
            sent = i.requested_at if i.kind == "stop_payment" else i.approved_at
            if sent is not None and i.responded_at is not None:
                measure = {"stop_payment": "stop", "freeze": "freeze", "return": "return"}[i.kind]
                sample(
                    f"{measure}_answer",
                    i.case_id,
                    i.institution_id,
                    sent,
                    seconds(i.responded_at, sent),
                )
    done = sorted(
        (i for i in instructions if i.status == "executed" and i.executed_amount),
        key=lambda i: (i.responded_at, i.pk),
    )
    freezes = {i.pk: i for i in done if i.kind == "freeze"}
    seen: set[tuple[str, int]] = set()
    for i in done:
        if i.kind == "freeze" and ("freeze", i.involved_account_id) not in seen:
            seen.add(("freeze", i.involved_account_id))
            stops = [
                s.responded_at
                for s in done
                if s.kind == "stop_payment"
                and s.involved_account_id == i.involved_account_id
                and s.responded_at <= i.responded_at
            ]
            if stops:
                sample(
                    "stop_to_freeze",
                    i.case_id,
                    i.institution_id,
                    min(stops),
                    seconds(i.responded_at, min(stops)),
                )
        if i.kind == "return" and ("return", i.freeze_id) not in seen:
            seen.add(("return", i.freeze_id))
            frozen = freezes[i.freeze_id].responded_at
            sample(
                "freeze_to_return",
                i.case_id,
                i.institution_id,
                frozen,
                seconds(i.responded_at, frozen),
            )

    overdue: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for flag in Flag.objects.filter(level="overdue").select_related("instruction"):
        if flag.case_id not in cases or not within(local_day(flag.raised_at), first, last):
            continue
        keys = ["total"]
        if group_by == "unit":
            keys.append(tree.child_code(cases[flag.case_id].unit_id))
        elif flag.kind == "bank_response_overdue" and flag.instruction:
            keys.append(tree.code(flag.instruction.institution_id))
        for k in keys:
            overdue[k][0] += 1
            overdue[k][1] += flag.resolved_at is None

    def measured(k: str) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for measure in MEASURES:
            values = samples[k][measure]
            result[measure] = (
                (len(values), round(percentile(values, 0.5), 1), round(percentile(values, 0.9), 1))
                if values
                else (0, None, None)
            )
        result["overdue"] = tuple(overdue[k])
        return result

    keys = (set(samples) | set(overdue)) - {"total"}
    rows = {k: measured(k) for k in keys}
    return {k: v for k, v in rows.items() if v != measured("none")}, measured("total")


def as_speed(row: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {
        m: (row[m]["count"], row[m]["median"], row[m]["p90"]) for m in MEASURES
    }
    result["overdue"] = (row["overdue_flags"], row["overdue_open"])
    return result


# -- tests --------------------------------------------------------------------------------


class ReportTestCase(FundsTestCase):
    def totals(self, user=None, **params: Any) -> dict[str, Any]:
        query = "&".join(f"{k}={v}" for k, v in params.items() if v is not None)
        return self.ok(self.api(user or self.manager_sd).get(f"/api/v1/reports/totals/?{query}"))

    def speed(self, user=None, **params: Any) -> dict[str, Any]:
        query = "&".join(f"{k}={v}" for k, v in params.items() if v is not None)
        return self.ok(self.api(user or self.manager_sd).get(f"/api/v1/reports/speed/?{query}"))

    def assert_totals_reconcile(self, scope: Organization, user, group_by: str, first, last):
        report = self.totals(
            user,
            group_by=group_by,
            unit=scope.code,
            **{"from": first, "to": last},
        )
        rows, total = expected_totals(scope, group_by, first, last)
        got = {r["key"]: as_figures(r) for r in report["rows"]}
        assert {k: v for k, v in got.items() if v != blank()} == rows, (group_by, first, last)
        assert as_figures(report["total"]) == total, (group_by, first, last)
        return report

    def assert_speed_reconciles(self, scope: Organization, user, group_by: str, first, last):
        report = self.speed(user, group_by=group_by, unit=scope.code, **{"from": first, "to": last})
        rows, total = expected_speed(scope, group_by, first, last)
        empty = dict.fromkeys(MEASURES, (0, None, None)) | {"overdue": (0, 0)}
        got = {r["key"]: as_speed(r) for r in report["rows"]}
        assert {k: v for k, v in got.items() if v != empty} == rows, (group_by, first, last)
        assert as_speed(report["total"]) == total, (group_by, first, last)
        return report


class GeneratedProvinceTest(ReportTestCase):
    """A generated province of three cities, with every stage and a unit with no activity."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        # Part of the history folded into the kept totals, part still waiting as changes:
        # every report reads both.
        generate(cases=100, seed=11, days=200, now=NOW, cities=3)
        report_totals_refresh()
        generate(cases=50, seed=12, days=200, now=NOW, cities=3)
        cls.advance_a_queue()
        cls.quiet = cls.make_unit("379900", UnitLevel.CITY, cls.shandong)
        cls.zibo = Organization.objects.get(code="370300")

    @classmethod
    def advance_a_queue(cls) -> None:
        """R12 through the services, on top of the generated history: the freeze ahead of a
        freeze registered in line is released in full, the queued one takes effect and the
        bank confirms part of what it registered."""
        waiting = Instruction.objects.filter(
            kind="freeze", queued=True, status="executed", effective_from__isnull=True
        )
        with time_machine.travel(NOW + timedelta(hours=1), tick=False):
            for queued in waiting.select_related("involved_account").order_by("pk"):
                head = ahead(queued, timezone.now()).filter(hold_confirmed_at__isnull=False)
                head = head.select_related("case", "requested_by__organization").first()
                if head is None or head.case.status == "closed":
                    continue
                release = instruction_request(
                    actor=head.requested_by,
                    case=head.case,
                    request=InstructionRequest(
                        kind="release",
                        involved_account_id=None,
                        freeze_id=head.pk,
                        amount=head.held_amount,
                        reason="查明与本案无关",
                    ),
                )
                instruction_approve(actor=cls.manager_sd, instruction=release)
                liaison = User.objects.filter(role="liaison", organization=head.institution_id)
                instruction_execute(
                    actor=liaison.first(),
                    instruction=release,
                    executed_amount=release.requested_amount,
                    bank_reference="REL-1",
                )
                queued.refresh_from_db()
                assert queued.effective_from is not None
                freeze_confirm_hold(
                    actor=liaison.first(),
                    instruction=queued,
                    held_amount=(queued.executed_amount or Decimal(0)) / 2,
                    bank_reference="HOLD-1",
                )
                return
        raise AssertionError("no queue to advance in the generated province")

    def test_the_generated_province_has_every_stage_and_answer(self):
        kinds = set(Instruction.objects.values_list("kind", "status").distinct())
        for expected in [
            ("stop_payment", "executed"),
            ("stop_payment", "rejected"),
            ("stop_payment", "cancelled"),
            ("freeze", "executed"),
            ("release", "executed"),
            ("return", "executed"),
            ("renewal", "executed"),
        ]:
            assert expected in kinds
        assert Flag.objects.filter(level="overdue").exists()
        assert Instruction.objects.count() > 400
        # R12: freezes waiting in line, and one that took effect and was confirmed.
        queued = Instruction.objects.filter(kind="freeze", queued=True)
        assert queued.filter(status="executed", effective_from__isnull=True).exists()
        assert queued.filter(hold_confirmed_at__gt=F("responded_at")).exists()

    def test_totals_by_unit_reconcile_with_the_rows_over_every_range(self):
        for first, last in RANGES:
            for scope, user in [(self.shandong, self.manager_sd), (self.jinan, self.manager_jn)]:
                with self.subTest(scope=scope.code, first=first, last=last):
                    self.assert_totals_reconcile(scope, user, "unit", first, last)

    def test_totals_by_institution_reconcile_with_the_rows_over_every_range(self):
        for first, last in RANGES:
            with self.subTest(first=first, last=last):
                self.assert_totals_reconcile(
                    self.shandong, self.manager_sd, "institution", first, last
                )
            with self.subTest(scope="370300", first=first, last=last):
                self.assert_totals_reconcile(self.zibo, self.manager_sd, "institution", first, last)

    def test_totals_by_day_week_and_month_reconcile_across_month_and_year_ends(self):
        for group_by in ("day", "week", "month"):
            for first, last in RANGES:
                with self.subTest(group_by=group_by, first=first, last=last):
                    self.assert_totals_reconcile(
                        self.shandong, self.manager_sd, group_by, first, last
                    )

    def test_periods_without_activity_are_listed_between_the_bounds(self):
        report = self.totals(group_by="day", **{"from": "2026-06-29", "to": "2026-07-02"})
        assert [r["key"] for r in report["rows"]] == [
            "2026-06-29",
            "2026-06-30",
            "2026-07-01",
            "2026-07-02",
        ]
        assert all(as_figures(r) == blank() for r in report["rows"])
        months = self.totals(group_by="month", **{"from": "2025-12-15", "to": "2026-02-10"})
        assert [r["key"] for r in months["rows"]] == ["2025-12", "2026-01", "2026-02"]

    def test_a_unit_without_activity_has_a_row_of_zeros(self):
        report = self.totals(group_by="unit")
        quiet = next(r for r in report["rows"] if r["key"] == "379900")
        assert quiet["label"] == "379900"
        assert as_figures(quiet) == blank()
        # Every child is listed, with or without activity.
        children = Organization.objects.filter(parent=self.shandong).order_by("code")
        assert [r["key"] for r in report["rows"]] == [c.code for c in children]

    def test_the_figures_are_the_same_folded_unfolded_rebuilt_and_live(self):
        def everything() -> list[Any]:
            return [
                self.totals(group_by=g, **{"from": f, "to": t})
                for g in ("unit", "institution", "month", "day")
                for f, t in RANGES[:3]
            ]

        assert TotalsChange.objects.exists()
        before = everything()
        report_totals_refresh()
        assert not TotalsChange.objects.exists()
        assert ReportTotal.objects.filter(unit=self.shandong).exists()
        assert everything() == before
        report_totals_refresh()  # nothing left to fold: nothing changes
        assert everything() == before
        report_totals_rebuild()
        assert everything() == before
        # The rebuilt figures against the figures computed live from the rows, here.
        for group_by in ("unit", "institution", "week"):
            self.assert_totals_reconcile(self.shandong, self.manager_sd, group_by, None, None)

    def test_speed_measures_reconcile_with_the_rows(self):
        ranges = [(date(2025, 11, 1), date(2026, 3, 20)), (date(2026, 1, 15), date(2026, 2, 14))]
        for first, last in ranges:
            for group_by in ("unit", "institution"):
                with self.subTest(group_by=group_by, first=first, last=last):
                    self.assert_speed_reconciles(
                        self.shandong, self.manager_sd, group_by, first, last
                    )
            with self.subTest(scope="370100", first=first, last=last):
                self.assert_speed_reconciles(self.jinan, self.manager_jn, "unit", first, last)
        report_totals_rebuild()
        self.assert_speed_reconciles(
            self.shandong, self.manager_sd, "unit", date(2025, 11, 1), date(2026, 3, 20)
        )

    def test_the_league_table_ranks_by_the_median_fastest_first(self):
        report = self.speed(
            group_by="institution",
            rank_by="stop_answer",
            **{"from": "2025-11-01", "to": "2026-03-20"},
        )
        assert report["rank_by"] == "stop_answer"
        ranked = [r for r in report["rows"] if r["rank"] is not None]
        medians = [r["stop_answer"]["median"] for r in ranked]
        assert medians == sorted(medians) and len(ranked) >= 3
        assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
        assert all(r["stop_answer"]["count"] == 0 for r in report["rows"] if r["rank"] is None)
        # Per bank, the police's own measure is not the bank's.
        assert all(r["first_stop"]["count"] == 0 for r in report["rows"])
        assert report["total"]["first_stop"]["count"] > 0

    def test_the_speed_report_defaults_to_the_last_thirty_days(self):
        with time_machine.travel(NOW, tick=False):
            report = self.speed()
        assert (report["from"], report["to"]) == ("2026-02-19", "2026-03-20")
        assert report["group_by"] == "unit" and report["rank_by"] == "first_stop"


class FiguresFollowEveryChangeTest(ReportTestCase):
    """One case through the API, step by step: after each step the reports still reconcile
    (the triggers see inserts, updates, cancellations, and money taken out of a freeze)."""

    def _boc_liaison(self):
        from accounts.models import Role, User

        return User.objects.create_user(
            "liaison_boc", role=Role.LIAISON, organization=Organization.objects.get(code="BOC")
        )

    def check(self) -> None:
        """The reports reconcile with the changes unfolded, and again once folded."""
        today = local_day(datetime.now(ZONE))
        for _fold in range(2):
            for group_by in ("unit", "institution", "day", "month"):
                for scope, user in [
                    (self.shandong, self.manager_sd),
                    (self.lixia, self.manager_lx),
                ]:
                    self.assert_totals_reconcile(scope, user, group_by, None, None)
                    self.assert_totals_reconcile(scope, user, group_by, today, today)
            for group_by in ("unit", "institution"):
                self.assert_speed_reconciles(
                    self.shandong, self.manager_sd, group_by, today - timedelta(days=1), today
                )
            report_totals_refresh()

    def test_the_reports_follow_a_case_from_report_to_return(self):
        start = datetime.now(ZONE).replace(hour=9, minute=0, second=0, microsecond=0)
        with time_machine.travel(start, tick=False) as clock:
            case = self.report(reported_at=(start - timedelta(minutes=40)).isoformat())
            self.check()
            victim = self.add_victim(case["id"], "30000.00")
            self.check()
            first = self.add_account(case["id"], "6222020000000101")
            second = self.add_account(case["id"], "6222020000000102", institution="CCB")
            third = self.add_account(case["id"], "6222020000000103", institution="ALIPAY")
            fourth = self.add_account(case["id"], "6222020000000104", institution="BOC")
            stop = self.ask(
                case["id"], {"kind": "stop_payment", "account": first["id"], "amount": "20000.00"}
            )
            doomed = self.ask(
                case["id"], {"kind": "stop_payment", "account": second["id"], "amount": "5000.00"}
            )
            refused = self.ask(
                case["id"], {"kind": "stop_payment", "account": third["id"], "amount": "3000.00"}
            )
            late = self.ask(
                case["id"], {"kind": "stop_payment", "account": fourth["id"], "amount": "2000.00"}
            )
            self.check()
            clock.shift(timedelta(minutes=12))
            self.execute(stop["id"], "18000.00")
            self.post(self.officer_lx, f"/api/v1/instructions/{doomed['id']}/cancel/")
            self.post(
                self.liaison_alipay,
                f"/api/v1/instructions/{refused['id']}/reject/",
                {"reason": "户名不符"},
            )
            self.check()
            # BOC has not answered two hours on: the sweep raises its overdue flag, and its
            # answer resolves it.
            clock.shift(timedelta(hours=2))
            sweep(datetime.now(ZONE))
            assert Flag.objects.filter(level="overdue", resolved_at__isnull=True).count() == 1
            self.check()
            self.execute(late["id"], "0.00", user=self._boc_liaison())
            assert not Flag.objects.filter(resolved_at__isnull=True, level="overdue").exists()
            self.check()
            self.post(self.officer_lx, f"/api/v1/cases/{case['id']}/accept/")
            self.post(
                self.officer_lx,
                f"/api/v1/cases/{case['id']}/file/",
                {"filing_number": "济公立字〔2026〕9号"},
            )
            freeze = self.ask(
                case["id"],
                {
                    "kind": "freeze",
                    "account": first["id"],
                    "amount": "18000.00",
                },
            )
            clock.shift(timedelta(hours=1))
            self.approve(freeze["id"])
            clock.shift(timedelta(hours=3))
            self.execute(freeze["id"], "16000.00")
            self.check()
            release = self.ask(
                case["id"],
                {
                    "kind": "release",
                    "freeze": freeze["id"],
                    "amount": "1000.00",
                    "reason": "经核查与本案无关",
                },
            )
            self.approve(release["id"])
            self.execute(release["id"], "1000.00")
            self.check()
            back = self.ask(
                case["id"],
                {
                    "kind": "return",
                    "freeze": freeze["id"],
                    "victim": victim["id"],
                    "amount": "9000.00",
                },
            )
            self.approve(back["id"], self.manager_jn)
            clock.shift(timedelta(days=1))
            self.execute(back["id"], "9000.00")
            self.check()
            report = self.totals(group_by="unit", unit="370102")
        assert report["total"]["frozen"] == {"count": 1, "amount": "16000.00"}
        assert report["total"]["held"] == "6000.00"
        assert report["total"]["stop_requested"] == {"count": 3, "amount": "25000.00"}
        assert SpeedSample.objects.filter(measure="freeze_to_return").count() == 1


class ReportScopeTest(ReportTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.report_lx = PeriodicReport.objects.create(
            unit=cls.lixia,
            kind=ReportKind.DAILY,
            period_start=date(2026, 3, 1),
            period_end=date(2026, 3, 1),
            generated_at=NOW,
            figures=_empty_figures(cls.lixia),
        )
        cls.report_sn = PeriodicReport.objects.create(
            unit=cls.shinan,
            kind=ReportKind.DAILY,
            period_start=date(2026, 3, 1),
            period_end=date(2026, 3, 1),
            generated_at=NOW,
            figures=_empty_figures(cls.shinan),
        )

    def test_a_county_manager_sees_only_the_county(self):
        report = self.totals(self.manager_lx)
        assert [r["key"] for r in report["rows"]] == ["370102001", "370102002"]
        self.totals(self.manager_lx, unit="370102001")
        for outside in ("370202", "370100", "370000", "NOPE", "ICBC"):
            for path in ("totals", "speed"):
                response = self.api(self.manager_lx).get(f"/api/v1/reports/{path}/?unit={outside}")
                assert response.status_code == 404, (path, outside)
        listed = self.ok(self.api(self.manager_lx).get("/api/v1/reports/periodic/"))
        assert [r["id"] for r in listed["results"]] == [self.report_lx.pk]
        for suffix in ("", "csv/", "xlsx/"):
            path = f"/api/v1/reports/periodic/{self.report_sn.pk}/{suffix}"
            assert self.api(self.manager_lx).get(path).status_code == 404, path
        response = self.api(self.manager_lx).get("/api/v1/reports/periodic/?unit=370202")
        assert response.status_code == 404

    def test_the_city_manager_sees_its_counties_reports(self):
        listed = self.ok(self.api(self.manager_jn).get("/api/v1/reports/periodic/"))
        assert [r["id"] for r in listed["results"]] == [self.report_lx.pk]

    def test_the_auditor_sees_every_report_and_changes_nothing(self):
        self.totals(self.auditor_sd)
        self.speed(self.auditor_sd, group_by="institution")
        listed = self.ok(self.api(self.auditor_sd).get("/api/v1/reports/periodic/"))
        assert {r["id"] for r in listed["results"]} == {self.report_lx.pk, self.report_sn.pk}
        client = self.api(self.auditor_sd)
        for path in ("totals/", "speed/", "periodic/", f"periodic/{self.report_lx.pk}/"):
            for method in (client.post, client.put, client.patch, client.delete):
                assert method(f"/api/v1/reports/{path}").status_code == 405, (path, method)
        case = self.filed_case()
        account = self.add_account(case["id"])
        freeze = self.ask(
            case["id"],
            {
                "kind": "freeze",
                "account": account["id"],
                "amount": "100.00",
            },
        )
        response = client.post(f"/api/v1/instructions/{freeze['id']}/approve/")
        assert response.status_code == 403
        assert Instruction.objects.get(pk=freeze["id"]).status == "awaiting_approval"

    def test_other_roles_may_not_see_reports(self):
        paths = [
            "/api/v1/reports/totals/",
            "/api/v1/reports/speed/",
            "/api/v1/reports/periodic/",
            f"/api/v1/reports/periodic/{self.report_lx.pk}/",
            f"/api/v1/reports/periodic/{self.report_lx.pk}/csv/",
            f"/api/v1/reports/periodic/{self.report_lx.pk}/xlsx/",
        ]
        for user in (self.officer_lx, self.officer_station, self.liaison_icbc, self.admin):
            for path in paths:
                assert self.api(user).get(path).status_code == 403, (user.username, path)
        for path in paths:
            assert self.api().get(path).status_code == 401, path

    def test_it_refuses_a_range_that_ends_before_it_starts(self):
        for path in ("totals", "speed"):
            response = self.api(self.manager_sd).get(
                f"/api/v1/reports/{path}/?from=2026-03-02&to=2026-03-01"
            )
            assert response.status_code == 400
            assert "to" in response.json()
        response = self.api(self.manager_sd).get("/api/v1/reports/speed/?group_by=day")
        assert response.status_code == 400


def _empty_figures(unit: Organization) -> dict[str, Any]:
    from funds.reports.periodic import periodic_report_figures

    return periodic_report_figures(unit, date(2026, 3, 1), date(2026, 3, 1))


# The pinned cost of each report, authentication included.
QUERIES = {
    # token and user, the user's unit, the children, the figures
    "totals_unit": 4,
    # token and user, the user's unit, the institutions, the figures
    "totals_institution": 4,
    # token and user, the user's unit, the figures
    "totals_day": 3,
    "totals_week": 3,
    "totals_month": 3,
    # token and user, the user's unit, the children or institutions, the samples, the flags
    "speed_unit": 5,
    "speed_institution": 5,
    # token and user, the user's unit, the count, the page
    "periodic_list": 4,
    # token and user, the user's unit, the report with its unit
    "periodic_detail": 3,
    "periodic_csv": 3,
    "periodic_xlsx": 3,
}


class ReportQueryCountTest(ReportTestCase):
    """Every report costs a fixed number of queries, whether it sums N rows or 3N."""

    def measure(self) -> dict[str, int]:
        from funds.reports.periodic import periodic_reports_generate

        with time_machine.travel(NOW + timedelta(days=1), tick=False):
            periodic_reports_generate(kind=ReportKind.MONTHLY)
        report = PeriodicReport.objects.filter(unit=self.shandong).latest("generated_at")
        client = self.api(self.manager_sd)
        span = "from=2025-12-01&to=2026-03-20"
        paths = {
            "totals_unit": f"/api/v1/reports/totals/?group_by=unit&{span}",
            "totals_institution": f"/api/v1/reports/totals/?group_by=institution&{span}",
            "totals_day": f"/api/v1/reports/totals/?group_by=day&{span}",
            "totals_week": f"/api/v1/reports/totals/?group_by=week&{span}",
            "totals_month": f"/api/v1/reports/totals/?group_by=month&{span}",
            "speed_unit": f"/api/v1/reports/speed/?group_by=unit&{span}",
            "speed_institution": f"/api/v1/reports/speed/?group_by=institution&{span}",
            "periodic_list": "/api/v1/reports/periodic/",
            "periodic_detail": f"/api/v1/reports/periodic/{report.pk}/",
            "periodic_csv": f"/api/v1/reports/periodic/{report.pk}/csv/",
            "periodic_xlsx": f"/api/v1/reports/periodic/{report.pk}/xlsx/",
        }
        counts = {}
        for name, path in paths.items():
            client.get(path)  # the token is cached after the first request of a client
            with CaptureQueriesContext(connection) as queries:
                response = client.get(path)
            assert response.status_code == 200, (name, response.content[:200])
            counts[name] = len(queries)
        return counts

    def test_each_report_costs_the_same_for_n_and_3n_rows(self):
        generate(cases=20, seed=21, days=100, now=NOW, cities=2)
        small = self.measure()
        rows_small = Instruction.objects.count()
        generate(cases=40, seed=22, days=100, now=NOW, cities=2)
        # More units report too: the list of periodic reports grows with them.
        for code in ("370103", "370203"):
            PeriodicReport.objects.create(
                unit=Organization.objects.get(code=code),
                kind=ReportKind.DAILY,
                period_start=date(2026, 3, 1),
                period_end=date(2026, 3, 1),
                generated_at=NOW,
                figures={},
            )
        large = self.measure()
        assert Instruction.objects.count() >= 2.5 * rows_small
        assert small == large == QUERIES
