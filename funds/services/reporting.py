"""Reports kept and sent: folding the maintained totals, and the periodic reports.

1. ``report_totals_refresh`` (Celery beat, every REPORT_REFRESH_SECONDS) folds the changes
   the triggers of migration funds 0005 appended into ReportTotal, rolled up to every unit
   above the case's unit, by day and by month. It rebuilds everything instead when the
   police tree moved or a case changed unit. Both hold one advisory lock, so two workers
   never fold at once; a fold is one statement, so a report never sees half of one.
2. ``periodic_reports_generate`` (Celery beat, daily, weekly and monthly) keeps one report per
   unit at county level and above, per kind and period; a second run for the same period
   finds it and changes nothing. Each new report is mailed to the unit's managers after its
   transaction commits, claimed first (compare-and-set) so that it goes out once.
3. ``report_table``, ``report_csv`` and ``report_xlsx`` lay a kept report out as one table with
   Chinese headers (the exchange format of the provincial centre).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from django.conf import settings
from django.core import mail
from django.db import OperationalError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]

from accounts.models import Organization, Role, UnitLevel, User
from funds import clock
from funds.models import PeriodicReport, ReportKind, ReportSummaryState
from funds.reports.figures import COLUMNS
from funds.reports.periods import report_period
from funds.reports.speed import speed, speed_as_json
from funds.reports.totals import rows_as_json, totals

logger = logging.getLogger(__name__)

# The advisory lock that folds and rebuilds hold (any constant unique to this purpose).
SUMMARY_LOCK = 6_006_001
# Which units get periodic reports: every police unit at county level and above, the levels
# whose managers run a subtree (a station's figures are in its county's report).
REPORTING_LEVELS = (UnitLevel.PROVINCE, UnitLevel.CITY, UnitLevel.COUNTY)
# How many past periods a run looks back over, to make up for runs that were missed (a
# worker down over a weekend); existing reports are never generated again.
CATCH_UP = {ReportKind.DAILY: 7, ReportKind.WEEKLY: 4, ReportKind.MONTHLY: 3}

# -- the maintained totals ------------------------------------------------------------------

_SUMS = ", ".join(f"sum({c}) AS {c}" for c in COLUMNS)
_COLUMNS = ", ".join(COLUMNS)
FOLD = f"""
    WITH moved AS (
        DELETE FROM funds_totalschange RETURNING day, unit_id, institution_id, {_COLUMNS}
    ), base AS (
        SELECT day, unit_id, institution_id, {_SUMS} FROM moved GROUP BY 1, 2, 3
    ), expanded AS (
        SELECT g.grain,
               CASE WHEN g.grain = 'day' THEN b.day
                    ELSE date_trunc('month', b.day::timestamp)::date END AS start,
               a.unit_id, b.institution_id, {", ".join(f"b.{c}" for c in COLUMNS)}
        FROM base b
        JOIN accounts_organization u ON u.id = b.unit_id
        CROSS JOIN LATERAL
            unnest(string_to_array(trim(BOTH '/' FROM u.path), '/')::bigint[]) AS a(unit_id)
        CROSS JOIN (VALUES ('day'), ('month')) AS g(grain)
    )
    INSERT INTO funds_reporttotal (unit_id, grain, start, institution_id, {_COLUMNS})
    SELECT unit_id, grain, start, institution_id, {_SUMS} FROM expanded
    GROUP BY unit_id, grain, start, institution_id
    ORDER BY unit_id, grain, start, institution_id
    ON CONFLICT (unit_id, grain, start, COALESCE(institution_id, 0)) DO UPDATE SET
        {", ".join(f"{c} = funds_reporttotal.{c} + excluded.{c}" for c in COLUMNS)}
"""  # noqa: S608 - built from the constant column list only


@dataclass
class RefreshResult:
    folded: int = 0
    rebuilt: bool = False
    skipped: bool = False


def _unit_paths() -> dict[str, str]:
    return {str(pk): path for pk, path in Organization.objects.values_list("pk", "path")}


def _moved(recorded: dict[str, str], current: dict[str, str]) -> bool:
    """Whether a unit the totals were rolled up along now sits elsewhere in the tree."""
    return any(recorded.get(pk, path) != path for pk, path in current.items())


def report_totals_refresh() -> RefreshResult:
    """Fold the appended changes into the totals; rebuild them if the tree moved."""
    state = ReportSummaryState.objects.filter(pk=1).first()
    paths = _unit_paths()
    if state is None or state.stale or _moved(state.unit_paths, paths):
        report_totals_rebuild()
        return RefreshResult(rebuilt=True)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SUMMARY_LOCK])
        if not cursor.fetchone()[0]:
            return RefreshResult(skipped=True)  # another worker is folding or rebuilding
        cursor.execute(FOLD)
        folded = cursor.rowcount
        # New units join the recorded tree; a moved one was caught above.
        ReportSummaryState.objects.filter(pk=1).update(unit_paths=paths, folded_at=clock.now())
    return RefreshResult(folded=folded)


@contextmanager
def _session_lock() -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [SUMMARY_LOCK])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [SUMMARY_LOCK])


def report_totals_rebuild() -> None:
    """Recompute the totals and the speed samples from the tables (funds_report_replay).

    Runs in one REPEATABLE READ transaction: what it deletes and what it recomputes come
    from the same snapshot, and the triggers' changes of transactions that commit meanwhile
    stay behind to be folded next time. Inside a caller's transaction (tests) it simply
    runs there.
    """
    if connection.in_atomic_block:
        _rebuild()
        return
    with _session_lock():
        for attempt in range(3):
            try:
                with transaction.atomic():
                    with connection.cursor() as cursor:
                        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    _rebuild()
                return
            except OperationalError as error:
                # A speed sample written meanwhile by a trigger collides with the replay's.
                if getattr(error.__cause__, "sqlstate", None) != "40001" or attempt == 2:
                    raise
                logger.info("Report totals rebuild met a concurrent change; trying again.")


def _rebuild() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM funds_totalschange")
        cursor.execute("DELETE FROM funds_reporttotal")
        cursor.execute("DELETE FROM funds_speedsample")
        cursor.execute("SELECT funds_report_replay()")
        cursor.execute(FOLD)
    now = clock.now()
    ReportSummaryState.objects.update_or_create(
        pk=1,
        defaults={"unit_paths": _unit_paths(), "stale": False, "rebuilt_at": now, "folded_at": now},
    )


# -- periodic reports ---------------------------------------------------------------------


def reporting_units() -> QuerySet[Organization]:
    return Organization.objects.police().filter(level__in=REPORTING_LEVELS).order_by("path")


def periodic_report_figures(unit: Organization, start: date, end: date) -> dict[str, Any]:
    """What a periodic report keeps: totals and speed by child unit and by institution."""
    by_unit, total = totals(scope=unit, group_by="unit", date_from=start, date_to=end)
    by_institution, _total = totals(
        scope=unit, group_by="institution", date_from=start, date_to=end
    )
    units, unit_total, _rank = speed(scope=unit, group_by="unit", date_from=start, date_to=end)
    banks, bank_total, _rank = speed(
        scope=unit, group_by="institution", date_from=start, date_to=end
    )
    return {
        "unit": {"code": unit.code, "name": unit.name},
        "from": start.isoformat(),
        "to": end.isoformat(),
        "by_unit": rows_as_json(by_unit, total),
        "by_institution": rows_as_json(by_institution, total),
        "speed_by_unit": speed_as_json(units, unit_total),
        "speed_by_institution": speed_as_json(banks, bank_total),
    }


def periodic_report_generate(
    *, unit: Organization, kind: str, start: date, end: date
) -> tuple[PeriodicReport, bool]:
    """Keep the unit's report for the period, unless it exists; answer it and whether it is
    new. A new report is mailed once its transaction has committed."""
    existing = PeriodicReport.objects.filter(unit=unit, kind=kind, period_start=start).first()
    if existing is not None:
        return existing, False
    # The figures are read before the transaction: it only inserts the row.
    figures = periodic_report_figures(unit, start, end)
    with transaction.atomic():
        # The unique constraint settles a race between two workers: one inserts, the other
        # finds its row.
        report, created = PeriodicReport.objects.get_or_create(
            unit=unit,
            kind=kind,
            period_start=start,
            defaults={"period_end": end, "generated_at": clock.now(), "figures": figures},
        )
        if created:
            transaction.on_commit(partial(periodic_report_mail, report_id=report.pk))
    return report, created


def periodic_reports_generate(*, kind: str, today: date | None = None) -> int:
    """Generate the reports of ``kind`` for every reporting unit and the recent periods that
    lack one; answer how many were generated."""
    today = today or timezone.localdate(clock.now())
    periods = [report_period(kind, today, back) for back in range(CATCH_UP[ReportKind(kind)])]
    units = list(reporting_units())
    done = set(
        PeriodicReport.objects.filter(
            kind=kind, period_start__in=[start for start, _end in periods]
        ).values_list("unit_id", "period_start")
    )
    generated = 0
    for start, end in periods:
        for unit in units:
            if (unit.pk, start) not in done:
                generated += periodic_report_generate(unit=unit, kind=kind, start=start, end=end)[1]
    return generated


def _managers(unit: Organization) -> list[str]:
    return list(
        User.objects.filter(role=Role.MANAGER, organization=unit, is_active=True)
        .exclude(email="")
        .order_by("pk")
        .values_list("email", flat=True)
    )


def periodic_report_mail(*, report_id: int) -> bool:
    """Mail the report to its unit's managers, once; answer whether this call claimed it."""
    claimed = PeriodicReport.objects.filter(pk=report_id, mail_claimed_at__isnull=True).update(
        mail_claimed_at=clock.now()
    )
    if not claimed:
        return False
    report = PeriodicReport.objects.select_related("unit").get(pk=report_id)
    recipients = _managers(report.unit)
    if not recipients:
        PeriodicReport.objects.filter(pk=report_id).update(mail_error="no address")
        return True
    total = report.figures["by_unit"]["total"]
    with translation.override(settings.LANGUAGE_CODE):
        subject = _("%(kind)s of %(unit)s, %(start)s to %(end)s") % {
            "kind": report.get_kind_display(),
            "unit": report.unit.name,
            "start": report.period_start.isoformat(),
            "end": report.period_end.isoformat(),
        }
        body = _(
            "Cases: %(cases)s. Asked to stop: %(asked)s yuan. Stopped: %(stopped)s yuan. "
            "Frozen: %(frozen)s yuan. Returned: %(returned)s yuan. Still held: %(held)s yuan.\n"
            "The full report is attached and at %(link)s"
        ) % {
            "cases": total["cases"],
            "asked": total["stop_requested"]["amount"],
            "stopped": total["stopped"]["amount"],
            "frozen": total["frozen"]["amount"],
            "returned": total["returned"]["amount"],
            "held": total["held"],
            "link": f"{settings.SITE_URL}/api/v1/reports/periodic/{report.pk}/",
        }
    message = mail.EmailMessage(subject, body, to=recipients)
    message.attach(report_filename(report, "xlsx"), report_xlsx(report), XLSX_TYPE)
    try:
        message.send()
    except Exception as error:
        logger.exception("Mail of periodic report %s failed.", report_id)
        PeriodicReport.objects.filter(pk=report_id).update(mail_error=str(error)[:500])
        return True
    PeriodicReport.objects.filter(pk=report_id).update(mailed_at=clock.now())
    return True


def catch_up_report_mail(*, older_than: timedelta = timedelta(minutes=5)) -> int:
    """Mail the reports whose mail was never claimed (the worker stopped after the commit)."""
    cutoff = clock.now() - older_than
    waiting = PeriodicReport.objects.filter(
        mail_claimed_at__isnull=True, generated_at__lte=cutoff
    ).order_by("generated_at")
    return sum(periodic_report_mail(report_id=pk) for pk in waiting.values_list("pk", flat=True))


# -- the report as a table ----------------------------------------------------------------

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The Chinese names of the report's kinds and row categories: part of the exchange format.
KIND_NAMES = {ReportKind.DAILY: "日报", ReportKind.WEEKLY: "周报", ReportKind.MONTHLY: "月报"}
AMOUNT_COLUMNS = [
    ("stop_requested", "止付申请"),
    ("stopped", "止付"),
    ("frozen", "冻结"),
    ("released", "解冻"),
    ("returned", "返还"),
]
# (measure, Chinese name, unit name, seconds per unit)
SPEED_COLUMNS = [
    ("first_stop", "首次止付用时", "分钟", 60),
    ("stop_answer", "止付反馈用时", "分钟", 60),
    ("freeze_answer", "冻结反馈用时", "小时", 3600),
    ("return_answer", "返还到账用时", "小时", 3600),
    ("stop_to_freeze", "止付至冻结用时", "小时", 3600),
    ("freeze_to_return", "冻结至返还用时", "天", 86400),
]
HEADERS = [
    "类别",
    "代码",
    "名称",
    "案件数",
    "报案损失(元)",
    *(h for _key, name in AMOUNT_COLUMNS for h in (f"{name}笔数", f"{name}金额(元)")),
    "在冻金额(元)",
    *(
        h
        for _key, name, unit, _scale in SPEED_COLUMNS
        for h in (f"{name}中位数({unit})", f"{name}P90({unit})")
    ),
    "超时预警数",
    "未解除超时预警数",
]
AMOUNT_HEADERS = {h for h in HEADERS if h.endswith("(元)")}


def _table_row(
    category: str, figures: dict[str, Any], speeds: dict[str, Any], *, loss: bool = True
) -> list[Any]:
    row: list[Any] = [
        category,
        figures["key"],
        figures["label"],
        figures["cases"],
        Decimal(figures["loss"]) if loss else None,
    ]
    for name, _chinese in AMOUNT_COLUMNS:
        row += [figures[name]["count"], Decimal(figures[name]["amount"])]
    row.append(Decimal(figures["held"]))
    for measure, _name, _unit, scale in SPEED_COLUMNS:
        measured = speeds.get(measure) or {}
        for point in ("median", "p90"):
            value = measured.get(point)
            row.append(None if value is None else round(value / scale, 1))
    row += [speeds.get("overdue_flags", 0), speeds.get("overdue_open", 0)]
    return row


def report_table(report: PeriodicReport) -> list[list[Any]]:
    """The report as rows under HEADERS: the unit's own row and each child unit, each
    institution, then the total. Amounts are Decimal, durations float, empty is None."""
    figures = report.figures
    code = figures["unit"]["code"]
    unit_speed = {r["key"]: r for r in figures["speed_by_unit"]["rows"]}
    bank_speed = {r["key"]: r for r in figures["speed_by_institution"]["rows"]}
    rows = [HEADERS]
    for row in figures["by_unit"]["rows"]:
        category = "本级" if row["key"] == code else "下级单位"
        rows.append(_table_row(category, row, unit_speed.get(row["key"], {})))
    for row in figures["by_institution"]["rows"]:
        rows.append(_table_row("金融机构", row, bank_speed.get(row["key"], {}), loss=False))
    total = {"key": code, "label": figures["unit"]["name"], **figures["by_unit"]["total"]}
    rows.append(_table_row("合计", total, figures["speed_by_unit"]["total"]))
    return rows


def report_filename(report: PeriodicReport, extension: str) -> str:
    kind = KIND_NAMES[ReportKind(report.kind)]
    return f"{report.unit.name}{kind}_{report.period_start:%Y%m%d}-{report.period_end:%Y%m%d}.{extension}"


def report_csv(report: PeriodicReport) -> bytes:
    """UTF-8 with a byte-order mark, so that Excel shows the Chinese headers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in report_table(report):
        writer.writerow(["" if value is None else value for value in row])
    return buffer.getvalue().encode("utf-8-sig")


def report_xlsx(report: PeriodicReport) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = KIND_NAMES[ReportKind(report.kind)]
    table = report_table(report)
    for row in table:
        sheet.append(row)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for index, header in enumerate(HEADERS, start=1):
        number_format = "#,##0.00" if header in AMOUNT_HEADERS else "0.0"
        for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
            if isinstance(cell.value, Decimal | float):
                cell.number_format = number_format
    sheet.freeze_panes = "D2"
    about = workbook.create_sheet("说明")
    for pair in (
        ("单位", report.unit.name),
        ("代码", report.unit.code),
        ("报表类型", KIND_NAMES[ReportKind(report.kind)]),
        ("统计起始日", report.period_start.isoformat()),
        ("统计截止日", report.period_end.isoformat()),
        ("生成时间", timezone.localtime(report.generated_at).strftime("%Y-%m-%d %H:%M")),
    ):
        about.append(pair)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
