"""The periodic reports in the pages (issue 14): listed by kind, unit and period for the
subtree, viewed with the figures they kept, downloaded as CSV and XLSX; and the report mail
linking to the page."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import time_machine
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from accounts.models import User
from devdata.generate import generate
from funds.models import PeriodicReport
from funds.reports.export import HEADERS
from funds.reports.periodic import periodic_report_mail, periodic_reports_generate
from funds.services.mail import mail_deliver
from funds.templatetags.funds_tags import duration, yuan
from tests.funds.helpers import FundsTestCase
from tests.funds.test_reports import ZONE

NOW = datetime(2026, 3, 2, 1, 5, tzinfo=ZONE)  # a Monday, the day after February ended
AMOUNTS = ("stop_requested", "stopped", "frozen", "released", "returned", "queued")
# The export's Chinese headers of each kept figure (funds.reports.export).
CHINESE = {
    "stop_requested": "止付申请",
    "stopped": "止付",
    "frozen": "冻结",
    "released": "解冻",
    "returned": "返还",
    "queued": "轮候冻结",
}


def text(response: Any) -> str:
    return response.content.decode()


def _plain(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def section_rows(html: str, section: str) -> list[list[str]]:
    """The rows of the table in ``<section id=section>``, each as its cells' plain text."""
    match = re.search(rf'<section[^>]*id="{section}"[^>]*>(.*?)</section>', html, flags=re.S)
    assert match, section
    body = match.group(1)
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)
    return [
        [_plain(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)]
        for row in rows[1:]  # the header row aside
    ]


def listed(response: Any) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-report="(\d+)"', text(response))]


def figure_cells(row: dict[str, Any], *, loss: bool = True) -> list[str]:
    """A kept figures row as the page should show it."""
    cells = [str(row["cases"])]
    if loss:
        cells.append(yuan(row["loss"]))
    cells += [f"{yuan(row[name]['amount'])} ({row[name]['count']})" for name in AMOUNTS]
    return [*cells, yuan(row["held"])]


class ReportPagesTest(FundsTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        generate(cases=40, seed=17, days=40, now=NOW - timedelta(hours=2), cities=2)
        with time_machine.travel(NOW, tick=False):
            for kind in ("daily", "weekly", "monthly"):
                periodic_reports_generate(kind=kind)
        cls.feb_lixia = PeriodicReport.objects.get(
            unit=cls.lixia, kind="monthly", period_start=date(2026, 2, 1)
        )
        cls.feb_province = PeriodicReport.objects.get(
            unit=cls.shandong, kind="monthly", period_start=date(2026, 2, 1)
        )
        cls.feb_shizhong = PeriodicReport.objects.get(
            unit=cls.shizhong, kind="monthly", period_start=date(2026, 2, 1)
        )

    def page(self, user: User, path: str, status: int = 200) -> Any:
        # Read in English, the msgids (Chinese is the default, tested in test_pages).
        client = Client(HTTP_ACCEPT_LANGUAGE="en")
        client.force_login(user)
        response = client.get(path)
        assert response.status_code == status, (response.status_code, path)
        return response

    def every_page(self, user: User, query: str = "") -> list[int]:
        """The ids listed on every page of the list, in order."""
        ids: list[int] = []
        number = 1
        while True:
            response = self.page(user, f"/desk/reports/?{query}&page={number}")
            ids += listed(response)
            if f'page={number + 1}"' not in text(response):
                return ids
            number += 1

    # -- the list -----------------------------------------------------------------------

    def test_a_county_manager_sees_only_the_countys_reports(self):
        ids = self.every_page(self.manager_lx)
        assert set(ids) == set(
            PeriodicReport.objects.filter(unit=self.lixia).values_list("pk", flat=True)
        )
        assert self.feb_lixia.pk in ids
        # Not the sibling county's (市中 of the same city), nor the city's.
        assert self.feb_shizhong.pk not in ids
        assert not PeriodicReport.objects.filter(pk__in=ids).exclude(unit=self.lixia).exists()
        # Nor by naming it.
        self.page(self.manager_lx, "/desk/reports/?unit=370103", 404)
        self.page(self.manager_lx, "/desk/reports/?unit=NOPE", 404)

    def test_a_province_manager_and_auditor_see_every_report_newest_first(self):
        everything = set(PeriodicReport.objects.values_list("pk", flat=True))
        assert len(everything) > 2 * 25
        for user in (self.manager_sd, self.auditor_sd):
            ids = self.every_page(user)
            assert len(ids) == len(set(ids)) == len(everything)
            assert set(ids) == everything
        starts = dict(PeriodicReport.objects.values_list("pk", "period_start"))
        assert [starts[pk] for pk in ids] == sorted((starts[pk] for pk in ids), reverse=True)

    def test_the_list_is_paged_by_25(self):
        total = PeriodicReport.objects.count()
        first = listed(self.page(self.manager_sd, "/desk/reports/"))
        second = listed(self.page(self.manager_sd, "/desk/reports/?page=2"))
        assert len(first) == len(second) == 25
        assert not set(first) & set(second)
        last = (total + 24) // 25
        response = self.page(self.manager_sd, f"/desk/reports/?page={last}")
        assert len(listed(response)) == total - 25 * (last - 1)
        # Past the end, the last page; not a number, the first.
        assert listed(self.page(self.manager_sd, "/desk/reports/?page=999")) == listed(response)
        assert listed(self.page(self.manager_sd, "/desk/reports/?page=x")) == first

    def test_it_filters_by_kind_unit_and_period(self):
        ids = self.every_page(self.manager_sd, "kind=weekly")
        assert set(ids) == set(
            PeriodicReport.objects.filter(kind="weekly").values_list("pk", flat=True)
        )
        ids = self.every_page(self.manager_jn, "unit=370102")
        assert set(ids) == set(
            PeriodicReport.objects.filter(unit=self.lixia).values_list("pk", flat=True)
        )
        # The period: every report covering a day from the first date to the last.
        ids = self.every_page(self.manager_lx, "from=2026-02-25&to=2026-02-26")
        got = {(r.kind, r.period_start) for r in PeriodicReport.objects.filter(pk__in=ids)}
        assert got == {
            ("daily", date(2026, 2, 25)),
            ("daily", date(2026, 2, 26)),
            ("weekly", date(2026, 2, 23)),
            ("monthly", date(2026, 2, 1)),
        }
        ids = self.every_page(self.manager_sd, "kind=monthly&unit=370000&from=2026-02-01")
        assert ids == [self.feb_province.pk]
        # The unit select offers the reporting units of the subtree only.
        html = text(self.page(self.manager_jn, "/desk/reports/"))
        assert '<option value="370102"' in html and '<option value="370100"' in html
        assert '<option value="370202"' not in html and '<option value="370102001"' not in html

    def test_bad_filters_are_refused_with_a_clear_error(self):
        response = self.page(self.manager_sd, "/desk/reports/?from=2026-02-10&to=2026-02-01", 400)
        assert "The last date is before the first." in text(response)
        assert listed(response) == []
        # What was typed is kept.
        assert 'value="2026-02-10"' in text(response)
        response = self.page(self.manager_sd, "/desk/reports/?from=yesterday", 400)
        assert listed(response) == []
        self.page(self.manager_sd, "/desk/reports/?kind=yearly", 400)

    def test_a_row_shows_the_headline_figures_and_links(self):
        html = text(self.page(self.manager_lx, "/desk/reports/?kind=monthly&from=2026-02-01"))
        row = re.search(rf'<tr data-report="{self.feb_lixia.pk}">(.*?)</tr>', html, flags=re.S)
        assert row
        cells = [_plain(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]
        total = self.feb_lixia.figures["by_unit"]["total"]
        assert cells[:9] == [
            "Monthly report",
            "历下区分局",
            "2026-02-01 – 2026-02-28",
            "2026-03-02 01:05",  # generated at, in Asia/Shanghai
            str(total["cases"]),
            yuan(total["stopped"]["amount"]),
            yuan(total["frozen"]["amount"]),
            yuan(total["returned"]["amount"]),
            yuan(total["held"]),
        ]
        assert total["cases"] > 0
        for name in ("desk-report", "desk-report-csv", "desk-report-xlsx"):
            assert f'href="{reverse(name, args=[self.feb_lixia.pk])}"' in row.group(1)

    def test_the_list_costs_the_same_queries_whatever_it_shows(self):
        client = Client()
        client.force_login(self.manager_sd)
        counts = []
        # The first request also reads the calendar's coverage, which later ones find cached.
        client.get("/desk/reports/")
        for query in ("kind=monthly&from=2026-02-01&to=2026-02-01", "", "page=2"):
            with CaptureQueriesContext(connection) as queries:
                assert client.get(f"/desk/reports/?{query}").status_code == 200
            counts.append(len(queries))
        assert counts[0] == counts[1] == counts[2]
        # session and user, the user's unit, the count, the page, the units to choose from,
        # the bell's unread notices
        assert len([q for q in queries if "SAVEPOINT" not in q["sql"]]) <= 8

    # -- one report ---------------------------------------------------------------------

    def test_the_report_shows_the_figures_it_kept(self):
        report = self.feb_province
        figures = report.figures
        html = text(self.page(self.manager_sd, f"/desk/reports/{report.pk}/"))
        header = _plain(re.search(r'id="report-header">(.*?)</dl>', html, re.S).group(1))
        assert header == (
            "Kind Monthly report Unit 山东省公安厅 (370000) "
            "Period 2026-02-01 – 2026-02-28 Generated at 2026-03-02 01:05"
        )
        rows = section_rows(html, "by-unit")
        expected = [[r["label"], *figure_cells(r)] for r in figures["by_unit"]["rows"]]
        expected.append(["Total", *figure_cells(figures["by_unit"]["total"])])
        assert rows == expected
        assert len(expected) > 2
        rows = section_rows(html, "by-institution")
        expected = [
            [r["label"], *figure_cells(r, loss=False)] for r in figures["by_institution"]["rows"]
        ]
        expected.append(["Total", *figure_cells(figures["by_institution"]["total"], loss=False)])
        assert rows == expected
        assert any(r["stopped"]["count"] for r in figures["by_institution"]["rows"])
        for section, key in (
            ("speed-by-unit", "speed_by_unit"),
            ("speed-by-institution", "speed_by_institution"),
        ):
            kept = [*figures[key]["rows"], figures[key]["total"]]
            rows = section_rows(html, section)
            assert [r[0] for r in rows] == [*(r["label"] for r in kept[:-1]), "Total"]
            for row, speeds in zip(rows, kept, strict=True):
                first_stop = speeds["first_stop"]
                if first_stop["count"]:
                    assert row[1] == (
                        f"{duration(first_stop['median'])} "
                        f"(P90 {duration(first_stop['p90'])}; n={first_stop['count']})"
                    )
                else:
                    assert row[1] == "—"
                assert row[-2:] == [str(speeds["overdue_flags"]), str(speeds["overdue_open"])]
        assert figures["speed_by_unit"]["total"]["stop_answer"]["count"] > 0

    def test_a_report_without_speed_figures_shows_its_totals(self):
        report = self.feb_lixia
        kept = {k: v for k, v in report.figures.items() if not k.startswith("speed")}
        PeriodicReport.objects.filter(pk=report.pk).update(figures=kept)
        html = text(self.page(self.manager_lx, f"/desk/reports/{report.pk}/"))
        assert section_rows(html, "by-unit")[-1] == [
            "Total",
            *figure_cells(kept["by_unit"]["total"]),
        ]
        assert 'id="speed-by-unit"' not in html

    def test_the_report_offers_its_downloads(self):
        html = text(self.page(self.manager_lx, f"/desk/reports/{self.feb_lixia.pk}/"))
        assert f'href="/desk/reports/{self.feb_lixia.pk}.csv"' in html
        assert f'href="/desk/reports/{self.feb_lixia.pk}.xlsx"' in html

    def test_the_report_downloads_as_pdf_with_its_figures(self):
        from tests.funds.test_documents import keep_pictures, pdf_fonts, pdf_text

        html = text(self.page(self.manager_lx, f"/desk/reports/{self.feb_lixia.pk}/"))
        assert f'href="/desk/reports/{self.feb_lixia.pk}.pdf"' in html
        client = Client()  # in Chinese, as the managers read it
        client.force_login(self.manager_lx)
        response = client.get(f"/desk/reports/{self.feb_lixia.pk}.pdf")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        pdf = response.content
        words = pdf_text(pdf)
        assert "济南市公安局历下区分局" in words
        assert "2026-02-01" in words
        total = self.feb_lixia.figures["by_unit"]["total"]
        assert yuan(total["frozen"]["amount"]) in words
        assert all(font["emb"] == "yes" for font in pdf_fonts(pdf))
        assert keep_pictures(pdf, "report-monthly")
        # Out of scope, as the page: 404.
        client.force_login(self.manager_lx)
        assert client.get(f"/desk/reports/{self.feb_shizhong.pk}.pdf").status_code == 404

    def download(self, user: User, report: PeriodicReport, extension: str) -> Any:
        response = self.page(user, f"/desk/reports/{report.pk}.{extension}")
        assert response["Content-Disposition"].startswith("attachment")
        assert f".{extension}" in response["Content-Disposition"]
        return response

    def expected_table(self, report: PeriodicReport) -> dict[tuple[str, str], dict[str, Any]]:
        """(category, code) -> the kept figures under the export's Chinese headers."""
        figures = report.figures
        code = figures["unit"]["code"]

        def chinese(row: dict[str, Any], loss: bool = True) -> dict[str, Any]:
            cells: dict[str, Any] = {
                "案件数": row["cases"],
                "报案损失(元)": Decimal(row["loss"]) if loss else None,
                "在冻金额(元)": Decimal(row["held"]),
            }
            for name, header in CHINESE.items():
                cells[f"{header}笔数"] = row[name]["count"]
                cells[f"{header}金额(元)"] = Decimal(row[name]["amount"])
            return cells

        table = {}
        for row in figures["by_unit"]["rows"]:
            category = "本级" if row["key"] == code else "下级单位"
            table[(category, row["key"])] = chinese(row)
        for row in figures["by_institution"]["rows"]:
            table[("金融机构", row["key"])] = chinese(row, loss=False)
        table[("合计", code)] = chinese(figures["by_unit"]["total"])
        return table

    def test_the_csv_download_holds_the_kept_figures(self):
        report = self.feb_province
        response = self.download(self.auditor_sd, report, "csv")
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert lines[0] == HEADERS
        got = {}
        for line in lines[1:]:
            row = dict(zip(HEADERS, line, strict=True))
            got[(row["类别"], row["代码"])] = {
                h: (int(v) if h.endswith(("数", "笔数")) else Decimal(v) if v else None)
                for h, v in row.items()
                if h in self.expected_table(report)[("合计", "370000")]
            }
        assert got == self.expected_table(report)

    def test_the_xlsx_download_holds_the_kept_figures(self):
        report = self.feb_lixia
        response = self.download(self.manager_lx, report, "xlsx")
        assert response["Content-Type"] == (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        book = load_workbook(io.BytesIO(response.content))
        values = list(book["月报"].iter_rows(values_only=True))
        assert list(values[0]) == HEADERS
        expected = self.expected_table(report)
        got = {}
        for line in values[1:]:
            row = dict(zip(HEADERS, line, strict=True))
            got[(row["类别"], row["代码"])] = {
                h: None if row[h] is None else row[h] if "数" in h else Decimal(str(row[h]))
                for h in expected[("合计", "370102")]
            }
        assert got == expected
        assert expected[("合计", "370102")]["案件数"] > 0
        about = dict(book["说明"].iter_rows(values_only=True))
        assert about["单位"] == "历下区分局"
        assert about["生成时间"] == "2026-03-02 01:05"

    def test_a_report_outside_the_subtree_is_not_found(self):
        missing = PeriodicReport.objects.order_by("-pk").first().pk + 1
        for user, report in (
            (self.manager_lx, self.feb_shizhong),
            (self.manager_lx, self.feb_province),
            (self.manager_jn, self.feb_province),
        ):
            for suffix in ("/", ".csv", ".xlsx"):
                self.page(user, f"/desk/reports/{report.pk}{suffix}", 404)
                self.page(user, f"/desk/reports/{missing}{suffix}", 404)
        self.page(self.manager_jn, f"/desk/reports/{self.feb_lixia.pk}/")

    def test_other_roles_are_refused(self):
        paths = [
            "/desk/reports/",
            *(f"/desk/reports/{self.feb_lixia.pk}{s}" for s in ("/", ".csv", ".xlsx")),
        ]
        for user in (self.officer_lx, self.officer_station, self.liaison_icbc, self.admin):
            for path in paths:
                self.page(user, path, 403)
        for path in paths:
            response = Client().get(path)
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("login"))

    def test_the_nav_links_managers_and_auditors_to_the_reports(self):
        for user in (self.manager_lx, self.auditor_sd):
            assert 'href="/desk/reports/"' in text(self.page(user, "/desk/"))
        assert 'href="/desk/reports/"' not in text(self.page(self.officer_lx, "/cases/"))

    # -- the mail -----------------------------------------------------------------------

    def test_the_report_mail_links_to_the_page(self):
        self.manager_lx.email = "lx@police.example"
        self.manager_lx.save(update_fields=["email"])
        report = self.feb_lixia
        assert periodic_report_mail(report_id=report.pk) is True
        assert mail_deliver().sent == 1
        (message,) = mail.outbox
        link = f"{settings.SITE_URL}/desk/reports/{report.pk}/"
        assert link in message.body
        assert "/api/" not in message.body
        self.page(self.manager_lx, link.removeprefix(settings.SITE_URL))
