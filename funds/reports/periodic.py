"""The periodic reports: one kept per unit, kind and period, told and mailed once.

``periodic_reports_generate`` (Celery beat, daily, weekly and monthly) keeps one report per
unit at county level and above, per kind and period; a second run for the same period finds
it and changes nothing. After its transaction commits, each new report is told to the unit's
managers: a notice in the page for each, and for each with an address a mail with the
report attached, queued in the outbox (funds.services.mail) in the transaction of a
compare-and-set claim (``mail_claimed_at``), so that it is told once. A report
keeps the totals and speed figures as they were read when it was generated
(funds.reports.totals, funds.reports.speed); the triggers of migration funds 0005 keep those
figures (funds.reports.figures).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Organization, Role, UnitLevel, User
from funds import acting_time
from funds.models import Notification, NotificationReason, PeriodicReport, ReportKind
from funds.notices import report_path
from funds.reports.export import XLSX_TYPE, report_filename, report_xlsx
from funds.reports.periods import report_period
from funds.reports.speed import speed, speed_as_json
from funds.reports.totals import rows_as_json, totals
from funds.services.mail import Mail, mail_queue

logger = logging.getLogger(__name__)

# Which units get periodic reports: every police unit at county level and above, the levels
# whose managers run a subtree (a station's figures are in its county's report).
REPORTING_LEVELS = (UnitLevel.PROVINCE, UnitLevel.CITY, UnitLevel.COUNTY)
# How many past periods a run looks back over, to make up for runs that were missed (a
# worker down over a weekend); existing reports are never generated again.
CATCH_UP = {ReportKind.DAILY: 7, ReportKind.WEEKLY: 4, ReportKind.MONTHLY: 3}


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
            defaults={"period_end": end, "generated_at": acting_time.now(), "figures": figures},
        )
        if created:
            transaction.on_commit(partial(periodic_report_mail, report_id=report.pk))
    return report, created


def periodic_reports_generate(*, kind: str, today: date | None = None) -> int:
    """Generate the reports of ``kind`` for every reporting unit and the recent periods that
    lack one; answer how many were generated."""
    today = today or timezone.localdate(acting_time.now())
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


def _managers(unit: Organization) -> list[User]:
    return list(
        User.objects.filter(role=Role.MANAGER, organization=unit, is_active=True).order_by("pk")
    )


def periodic_report_mail(*, report_id: int) -> bool:
    """Tell the report to its unit's managers, once: a notice each, and a mail to each who has
    an address; answer whether this call claimed it."""
    with transaction.atomic():
        claimed = PeriodicReport.objects.filter(pk=report_id, mail_claimed_at__isnull=True).update(
            mail_claimed_at=acting_time.now()
        )
        if not claimed:
            return False
        report = PeriodicReport.objects.select_related("unit").get(pk=report_id)
        managers = _managers(report.unit)
        notes = Notification.objects.bulk_create(
            Notification(
                report=report,
                recipient=user,
                reason=NotificationReason.REPORT,
                created_at=acting_time.now(),
            )
            for user in managers
        )
        if not any(user.email for user in managers):
            PeriodicReport.objects.filter(pk=report_id).update(mail_error="no address")
            return True
        subject, body = _mail_text(report)
        attachment = report_xlsx(report)
        mail_queue(
            Mail(
                to=note.recipient.email,
                subject=subject,
                body=body,
                notification=note,
                report=report,
                attachment=attachment,
                attachment_name=report_filename(report, "xlsx"),
                attachment_type=XLSX_TYPE,
            )
            for note in notes
            if note.recipient.email
        )
    return True


def _mail_text(report: PeriodicReport) -> tuple[str, str]:
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
            "link": f"{settings.SITE_URL}{report_path(report.pk)}",
        }
    return subject, body


def catch_up_report_mail(*, older_than: timedelta = timedelta(minutes=5)) -> int:
    """Tell the reports that were never told (the worker stopped after the commit)."""
    cutoff = acting_time.now() - older_than
    waiting = PeriodicReport.objects.filter(
        mail_claimed_at__isnull=True, generated_at__lte=cutoff
    ).order_by("generated_at")
    return sum(periodic_report_mail(report_id=pk) for pk in waiting.values_list("pk", flat=True))
