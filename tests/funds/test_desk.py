"""The manager's desk, complete (issue #14): the figures of any unit of the subtree for any
period against an independent sum over the instructions themselves, the trend, the speed
league's order with its best and worst, the open flags paged and filtered, 元 or 万元, the
searchable unit tree, and an Excel download of every table holding what the table shows.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import time_machine
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from accounts.models import Role, User
from funds.models import (
    Deadline,
    DeadlineKind,
    Flag,
    FlagKind,
    FlagLevel,
    Instruction,
    InstructionKind,
    InstructionStatus,
    SpeedMeasure,
    SpeedSample,
)
from funds.reports.desk import Cell, Table, cell_value
from tests.funds.test_pages import PageTestCase

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A fixed month in the past, so that "this month" never straddles the test's own dates.
JUNE = datetime(2026, 6, 10, 10, 0, tzinfo=SHANGHAI)
JULY = datetime(2026, 7, 8, 10, 0, tzinfo=SHANGHAI)
NOW = datetime(2026, 7, 20, 10, 0, tzinfo=SHANGHAI)


def row_of(table: Table, label: str, column: int = 0) -> dict[str, Any]:
    for row in table.rows:
        if cell_value(row[column]) == label:
            return {c.label: cell_value(v) for c, v in zip(table.columns, row, strict=True)}
    raise AssertionError(f"no row {label} in {table.name}")


def total_of(table: Table) -> dict[str, Any]:
    assert table.total is not None
    return {c.label: cell_value(v) for c, v in zip(table.columns, table.total, strict=True)}


class DeskTestCase(PageTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.officer_sz = User.objects.create_user(
            "officer_sz", password="x-pass-2026", role=Role.OFFICER, organization=self.shizhong
        )

    def desk(self, user: User, status: int = 200, **params: str) -> Any:
        response = self.as_user(user).get(reverse("desk"), params)
        assert response.status_code == status, (params, response.status_code)
        return response

    def stopped(self, user: User, amount: str, executed: str, number: str) -> int:
        case = self.filed_case(user)
        account = self.add_account(case["id"], number=number, user=user)
        stop = self.ask(
            case["id"], {"kind": "stop_payment", "account": account["id"], "amount": amount}, user
        )
        self.execute(stop["id"], executed)
        return stop["id"]


class DeskFiguresTest(DeskTestCase):
    def setUp(self) -> None:
        super().setUp()
        # June: one stop in 历下, one at its station; July: two in 历下, one in 市中, one in
        # 市南 (Qingdao, outside 济南).
        with time_machine.travel(JUNE, tick=False):
            self.stopped(self.officer_lx, "5000.00", "4000.00", "6222020000000101")
            self.stopped(self.officer_station, "3000.00", "3000.00", "6222020000000102")
        with time_machine.travel(JULY, tick=False):
            self.stopped(self.officer_lx, "9000.00", "8500.00", "6222020000000103")
            self.stopped(self.officer_lx, "2000.00", "1000.50", "6222020000000104")
            self.stopped(self.officer_sz, "7000.00", "6999.99", "6222020000000105")
            self.stopped(self.officer_sn, "1000.00", "1000.00", "6222020000000106")

    def independent(self, path: str, first: datetime, last: datetime) -> tuple[int, Decimal]:
        """Stop-payments executed with an amount in the period, in the subtree: counted and
        summed straight from the instructions, not from the report tables."""
        rows = Instruction.objects.filter(
            kind=InstructionKind.STOP_PAYMENT,
            status=InstructionStatus.EXECUTED,
            executed_amount__gt=0,
            responded_at__gte=first,
            responded_at__lt=last,
            case__unit__path__startswith=path,
        )
        return rows.count(), rows.aggregate(s=Sum("executed_amount"))["s"] or Decimal("0.00")

    def test_the_figures_of_a_chosen_unit_and_period_match_an_independent_sum(self):
        july = (datetime(2026, 7, 1, tzinfo=SHANGHAI), datetime(2026, 8, 1, tzinfo=SHANGHAI))
        june = (datetime(2026, 6, 1, tzinfo=SHANGHAI), datetime(2026, 7, 1, tzinfo=SHANGHAI))
        with time_machine.travel(NOW, tick=False):
            for unit, (first, last), period in (
                (self.jinan, july, {"from": "2026-07-01", "to": "2026-07-31"}),
                (self.jinan, june, {"from": "2026-06-01", "to": "2026-06-30"}),
                (self.lixia, july, {"from": "2026-07-01", "to": "2026-07-31"}),
                (self.shandong, july, {"from": "2026-07-01", "to": "2026-07-31"}),
            ):
                context = self.desk(self.manager_sd, unit=unit.code, **period).context
                assert context["scope"] == unit
                by_unit: Table = context["by_unit"]
                count, amount = self.independent(unit.path, first, last)
                total = total_of(by_unit)
                assert (total["已止付（笔数）"], total["已止付"]) == (count, amount), unit.code
                for child in unit.children.filter(kind="police"):
                    child_count, child_amount = self.independent(child.path, first, last)
                    row = row_of(by_unit, child.name)
                    assert (row["已止付（笔数）"], row["已止付"]) == (child_count, child_amount)
        # The figures are not trivially zero: July in 济南 is three stops.
        assert self.independent(self.jinan.path, *july) == (3, Decimal("16500.49"))

    def test_the_trend_has_a_point_per_day_week_or_month_summing_to_the_total(self):
        with time_machine.travel(NOW, tick=False):
            period = {"unit": self.jinan.code, "from": "2026-06-01", "to": "2026-07-31"}
            for grain, points in (("day", 61), ("week", 9), ("month", 2)):
                context = self.desk(self.manager_sd, trend=grain, **period).context
                trend: Table = context["trend"]
                assert context["trend_grain"] == grain and len(trend.rows) == points
                amounts = [
                    cell_value(r[trend.columns.index(self.stopped_column(trend))])
                    for r in trend.rows
                ]
                assert sum(amounts) == total_of(trend)["已止付"] == Decimal("23500.49")
                assert context["chart"]["trend"] == [cell_value(r[0]) for r in trend.rows]
            months = self.desk(self.manager_sd, trend="month", **period).context["trend"]
            assert [cell_value(r[0]) for r in months.rows] == ["2026-06", "2026-07"]
            # Ten years by day would be 3,653 points: shown by month, and said so.
            long = self.desk(self.manager_sd, trend="day", **{**period, "from": "2016-08-01"})
            assert long.context["trend_grain"] == "month" and long.context["trend_coarser"]
            assert "粗一级" in long.content.decode()

    @staticmethod
    def stopped_column(table: Table) -> Any:
        return next(c for c in table.columns if c.label == "已止付")

    def test_amounts_in_ten_thousands_and_the_choice_is_kept(self):
        with time_machine.travel(NOW, tick=False):
            period = {"unit": self.jinan.code, "from": "2026-07-01", "to": "2026-07-31"}
            html = self.desk(self.manager_sd, **period).content.decode()
            assert "¥16,500.49" in html
            html = self.desk(self.manager_sd, amounts="wan", **period).content.decode()
            assert "¥1.65万" in html and "¥16,500.49" not in html
            # Kept for the next visit without the parameter.
            html = self.desk(self.manager_sd, **period).content.decode()
            assert "¥1.65万" in html
            workbook = self.xlsx(self.manager_sd, "by_unit", **period)
            headers = [c.value for c in workbook.active[2]]
            assert "已止付（万元）" in headers and "案件" in headers
            total = [c.value for c in workbook.active[workbook.active.max_row]]
            assert total[headers.index("已止付（万元）")] == 1.6500
            html = self.desk(self.manager_sd, amounts="yuan", **period).content.decode()
            assert "¥16,500.49" in html

    def xlsx(self, user: User, table: str, **params: str) -> Any:
        response = self.desk(user, export=table, **params)
        assert response["Content-Type"].startswith(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        assert f"desk-{table}-" in response["Content-Disposition"]
        return load_workbook(io.BytesIO(response.content))

    def test_every_table_downloads_as_excel_with_what_it_shows(self):
        with time_machine.travel(NOW, tick=False):
            period = {"unit": self.jinan.code, "from": "2026-07-01", "to": "2026-07-31"}
            context = self.desk(self.manager_sd, **period).context
            shown = {
                "by_unit": context["by_unit"],
                "by_bank": context["by_bank"],
                "trend": context["trend"],
                "league_unit": context["league_unit"],
                "league_bank": context["league_bank"],
                "flags": context["flags"],
            }
            exports = context["exports"]
            expected = {
                "approvals",
                "rounds_waiting",
                "rounds_notice",
                "flags",
                "by_unit",
                "by_bank",
                "trend",
                "league_unit",
                "league_bank",
            }
            assert set(exports) == expected
            for name in expected:
                sheet = self.xlsx(self.manager_sd, name, **period).active
                caption = sheet["A1"].value
                assert self.jinan.name in caption and "2026-07-01" in caption, name
                if name not in shown:
                    continue
                table = shown[name]
                assert [c.value.split("（")[0] for c in sheet[2]] == [
                    c.label.split("（")[0] for c in table.columns
                ], name
                body = list(sheet.iter_rows(min_row=3, values_only=True))
                rows = table.rows + ([table.total] if table.total and table.rows else [])
                assert len(body) == len(rows), name
                for written, row in zip(body, rows, strict=True):
                    for value, cell, column in zip(written, row, table.columns, strict=True):
                        assert value == self.as_written(cell_value(cell), column.kind), (
                            name,
                            column.label,
                        )
            # The page links each download with the same unit and period.
            html = self.desk(self.manager_sd, **period).content.decode()
            for name in expected:
                assert exports[name].replace("&", "&amp;") in html
                assert "unit=370100" in exports[name] and "from=2026-07-01" in exports[name]
        self.desk(self.manager_sd, export="nothing", status=404)

    @staticmethod
    def as_written(value: Any, kind: str) -> Any:
        if value is None:
            return None
        if kind == "money":
            return float(value)
        if kind == "hours":
            return round(value / 3600, 2)
        if kind == "time":
            return timezone.localtime(value).replace(tzinfo=None, second=0, microsecond=0)
        return value

    def test_a_unit_outside_the_subtree_is_404_and_bad_input_is_named(self):
        self.desk(self.manager_jn, unit=self.shinan.code, status=404)
        response = self.desk(self.manager_jn, **{"from": "1900-01-01", "trend": "century"})
        html = response.content.decode()
        assert 'role="alert"' in html and "2000-01-01" in html
        # The defaults stand in for what was refused.
        assert response.context["start"] == timezone.localdate().replace(day=1)
        assert response.context["trend_grain"] == "day"
        self.desk(self.manager_jn, flag_page="abc")

    def test_the_unit_tree_holds_every_unit_of_the_subtree_and_links_its_desk(self):
        html = self.desk(self.manager_sd).content.decode()
        tree = html.split('id="unit-tree-list"')[1].split("</ul>")[0]
        for unit in (self.jinan, self.lixia, self.orgs["370102001"], self.qingdao, self.shinan):
            assert f'data-name="{unit.name} {unit.code}"' in tree
            assert f"?unit={unit.code}&amp;" in tree
        assert 'class="depth-3"' in tree  # the station, three levels below the province
        city = self.desk(self.manager_jn).content.decode()
        assert self.qingdao.name not in city.split('id="unit-tree-list"')[1].split("</ul>")[0]


class DeskLeagueTest(DeskTestCase):
    def setUp(self) -> None:
        super().setUp()
        case = self.filed_case()
        day = timezone.localdate()
        started = timezone.now()
        # First stop (police): 历下 fast, 市中 slow, 济南's own cases in between.
        samples = {
            self.lixia: [60, 120, 180],
            self.shizhong: [3600, 7200],
            self.jinan: [600],
        }
        subject = 1
        for unit, seconds_list in samples.items():
            for seconds in seconds_list:
                SpeedSample.objects.create(
                    measure=SpeedMeasure.FIRST_STOP,
                    subject_id=subject,
                    case_id=case["id"],
                    unit=unit,
                    started_at=started,
                    day=day,
                    seconds=seconds,
                )
                subject += 1
        # The stop-payment answer: 市中 fast, 历下 slow, so that sorting by it turns around.
        for unit, seconds in ((self.lixia, 9000), (self.shizhong, 30)):
            SpeedSample.objects.create(
                measure=SpeedMeasure.STOP_ANSWER,
                subject_id=subject,
                case_id=case["id"],
                unit=unit,
                institution=self.icbc,
                started_at=started,
                day=day,
                seconds=seconds,
            )
            subject += 1

    def league(self, **params: str) -> Table:
        return self.desk(self.manager_jn, **params).context["league_unit"]

    @staticmethod
    def order(table: Table) -> list[tuple[str, Any, str | None]]:
        return [
            (cell_value(r[1]), cell_value(r[0]), r[1].mark if isinstance(r[1], Cell) else None)
            for r in table.rows
        ]

    def test_ranked_fastest_first_with_the_best_and_worst_marked(self):
        assert self.order(self.league())[:3] == [
            (self.lixia.name, 1, "best"),
            (self.jinan.name, 2, None),
            (self.shizhong.name, 3, "worst"),
        ]

    def test_sorted_by_any_column_either_way(self):
        slowest_first = self.league(dir_unit="desc")
        assert self.order(slowest_first)[:3] == [
            (self.shizhong.name, 3, "worst"),
            (self.jinan.name, 2, None),
            (self.lixia.name, 1, "best"),
        ]
        by_answer = self.league(sort_unit="stop_answer.p90")
        assert self.order(by_answer)[:2] == [
            (self.shizhong.name, 1, "best"),
            (self.lixia.name, 2, "worst"),
        ]
        # 济南's own row has no answer measured: it comes last, unranked and unmarked.
        assert self.order(by_answer)[2] == (self.jinan.name, None, None)
        html = self.desk(self.manager_jn, sort_unit="stop_answer.p90").content.decode()
        assert 'aria-sort="ascending"' in html
        assert "sort_unit=stop_answer.p90&amp;dir_unit=desc" in html

    def test_the_median_and_90th_percentile_are_those_of_the_samples(self):
        lixia = row_of(self.league(), self.lixia.name, column=1)
        median = next(v for k, v in lixia.items() if k.endswith("：中位数") and "首次申请止付" in k)
        p90 = next(v for k, v in lixia.items() if k.endswith("：90分位") and "首次申请止付" in k)
        assert (median, p90) == (120, 168)  # percentile_cont over 60, 120, 180

    def test_an_unknown_sort_is_named_and_the_default_used(self):
        response = self.desk(self.manager_jn, sort_unit="first_stop.mean")
        assert 'role="alert"' in response.content.decode()
        assert self.order(response.context["league_unit"])[0][0] == self.lixia.name
        # The institutions' league has no police measure to sort by.
        assert (
            'role="alert"'
            in self.desk(self.manager_jn, sort_bank="first_stop.median").content.decode()
        )


class DeskFlagsTest(DeskTestCase):
    def setUp(self) -> None:
        super().setUp()
        now = timezone.now()
        self.cases = [self.filed_case() for _ in range(3)]
        qingdao = self.filed_case(self.officer_sn)
        # 60 open flags on 历下's cases (a mix of kinds and levels), 1 resolved, 1 in 青岛.
        for n in range(60):
            case_id = self.cases[n % 3]["id"]
            deadline = Deadline.objects.create(
                kind=DeadlineKind.FIRST_STOP,
                case_id=case_id,
                due_at=now + timedelta(minutes=n),
                opened_at=now,
                met_at=now,
            )
            Flag.objects.create(
                deadline=deadline,
                kind=FlagKind.RENEWAL_DUE if n % 4 == 0 else FlagKind.FIRST_STOP_OVERDUE,
                level=FlagLevel.WARNING if n % 2 else FlagLevel.OVERDUE,
                case_id=case_id,
                due_at=now + timedelta(minutes=n),
                raised_at=now,
            )
        for case_id, resolved in ((self.cases[0]["id"], now), (qingdao["id"], None)):
            deadline = Deadline.objects.create(
                kind=DeadlineKind.FIRST_STOP, case_id=case_id, due_at=now, opened_at=now, met_at=now
            )
            Flag.objects.create(
                deadline=deadline,
                kind=FlagKind.FIRST_STOP_OVERDUE,
                level=FlagLevel.OVERDUE,
                case_id=case_id,
                due_at=now,
                raised_at=now,
                resolved_at=resolved,
            )

    def test_all_open_flags_are_paged_not_capped(self):
        seen: list[int] = []
        for page in (1, 2, 3):
            context = self.desk(self.manager_lx, flag_page=str(page)).context
            flags: Table = context["flags"]
            assert flags.count == 60
            seen += [id(r) for r in flags.rows]
            assert len(flags.rows) == (25 if page < 3 else 10)
        html = self.desk(self.manager_lx, flag_page="2").content.decode()
        assert 'aria-current="page">2<' in html and "26–50" in html
        # Past the last page: the last page.
        assert len(self.desk(self.manager_lx, flag_page="9").context["flags"].rows) == 10
        # Overdue before warnings, then by due time.
        first = self.desk(self.manager_lx).context["flags"].rows
        assert {cell_value(r[0]) for r in first} == {"超时"}

    def test_filters_by_kind_level_and_case(self):
        renewal = self.desk(self.manager_lx, flag_kind=FlagKind.RENEWAL_DUE).context["flags"]
        assert renewal.count == 15
        warnings = self.desk(self.manager_lx, flag_level=FlagLevel.WARNING).context["flags"]
        assert warnings.count == 30
        number = self.cases[1]["number"]
        one_case = self.desk(self.manager_lx, flag_case=number[-6:]).context["flags"]
        assert one_case.count == 20 and {cell_value(r[2]) for r in one_case.rows} == {number}
        # The province sees 青岛's flag too; the export holds every filtered flag.
        assert self.desk(self.manager_sd).context["flags"].count == 61
        sheet = load_workbook(
            io.BytesIO(self.desk(self.manager_lx, export="flags", flag_level="warning").content)
        ).active
        assert sheet.max_row == 2 + 30

    def test_the_filter_answers_the_section_alone_to_htmx(self):
        response = self.as_user(self.manager_lx).get(
            reverse("desk"),
            {"flag_level": "warning", "flag_page": "2"},
            HTTP_HX_REQUEST="true",
            HTTP_HX_TARGET="flags",
        )
        html = response.content.decode()
        assert html.startswith('<section class="card" id="flags">')
        assert "<html" not in html and "26–30" in html


class DeskQueryCountTest(DeskTestCase):
    """The desk costs a fixed number of queries however many approvals, flags and units it
    shows (no N+1), and an Excel download builds only its own table."""

    def grow(self, count: int) -> None:
        for _ in range(count):
            case = self.filed_case()
            account = self.add_account(case["id"], number=f"62220200{Flag.objects.count():08d}")
            self.freeze(case["id"], account["id"], "100.00")
            deadline = Deadline.objects.create(
                kind=DeadlineKind.FIRST_STOP,
                case_id=case["id"],
                due_at=timezone.now(),
                opened_at=timezone.now(),
                met_at=timezone.now(),
            )
            Flag.objects.create(
                deadline=deadline,
                kind=FlagKind.FIRST_STOP_OVERDUE,
                level=FlagLevel.OVERDUE,
                case_id=case["id"],
                due_at=timezone.now(),
                raised_at=timezone.now(),
            )

    def queries(self, **params: str) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        self.as_user(self.manager_lx)
        with CaptureQueriesContext(connection) as captured:
            response = self.client.get(reverse("desk"), params)
        assert response.status_code == 200
        return len(captured)

    def test_the_same_cost_for_three_rows_and_for_nine(self):
        self.grow(3)
        self.queries()  # the calendar's coverage is cached from the first page on
        page, export = self.queries(), self.queries(export="flags")
        assert len(self.desk(self.manager_lx).context["approvals"]) == 3
        self.grow(6)
        assert len(self.desk(self.manager_lx).context["approvals"]) == 9
        assert self.queries() == page
        assert self.queries(export="flags") == export < page


class DeskReportsTest(DeskTestCase):
    def test_the_desk_lists_the_units_latest_reports_linking_their_pages(self):
        from funds.reports.periodic import periodic_reports_generate

        self.stopped(self.officer_lx, "100.00", "100.00", "6222020000000901")
        assert periodic_reports_generate(kind="daily", today=timezone.localdate()) > 0
        reports = self.desk(self.manager_jn).context["reports"]
        assert reports and {r.unit_id for r in reports} == {self.jinan.pk}
        html = self.desk(self.manager_jn).content.decode()
        section = html.split('id="periodic-reports"')[1].split("</section>")[0]
        for report in reports:
            assert f'href="/desk/reports/{report.pk}/"' in section
            assert f'href="/desk/reports/{report.pk}.xlsx"' in section
        assert "/desk/reports/?unit=370100" in section
        lixia = self.desk(self.manager_jn, unit=self.lixia.code).context["reports"]
        assert {r.unit_id for r in lixia} <= {self.lixia.pk}
