"""The kept periodic reports in the pages (docs/reports.md, "In the pages"): listed by kind,
unit and period, viewed, and downloaded as CSV and XLSX. Managers and auditors, for the
units of their subtree; the API's ``/reports/periodic/`` shows the same reports.

The pages lay out what a report kept when it was generated (funds.reports.periodic); they
compute no figure themselves.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.db.models import F, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization, Role
from accounts.scope import access_unit, units_in_scope
from funds.access import access_periodic_report, periodic_reports_visible_to
from funds.documents import pdf_from_template
from funds.documents.instruments import unit_full_name
from funds.documents.responses import pdf_response
from funds.models import PeriodicReport, ReportKind, SpeedMeasure
from funds.replica import read_from_replica
from funds.reports.export import XLSX_TYPE, report_csv, report_filename, report_xlsx
from funds.reports.periodic import REPORTING_LEVELS
from funds.views.common import roles

REPORTS_PER_PAGE = 25
DOWNLOADS = {
    "csv": (report_csv, "text/csv; charset=utf-8"),
    "xlsx": (report_xlsx, XLSX_TYPE),
}


class ReportListForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"), choices=[("", _("All")), *ReportKind.choices], required=False
    )
    unit = forms.CharField(label=_("Unit"), required=False)
    date_from = forms.DateField(label=_("From"), required=False)
    date_to = forms.DateField(label=_("To"), required=False)

    def __init__(self, data: Any, **kwargs: Any) -> None:
        # "from" is a Python keyword: the query says ?from=&to=, the fields are date_from/_to.
        data = data.copy()
        for name in ("from", "to"):
            if name in data:
                data[f"date_{name}"] = data.pop(name)[-1]
        super().__init__(data, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        first, last = cleaned.get("date_from"), cleaned.get("date_to")
        if first and last and first > last:
            self.add_error("date_to", _("The last date is before the first."))
        return cleaned


def _filtered(
    reports: QuerySet[PeriodicReport], params: dict[str, Any], unit: Organization | None
) -> QuerySet[PeriodicReport]:
    if params.get("kind"):
        reports = reports.filter(kind=params["kind"])
    if unit is not None:
        reports = reports.filter(unit=unit)
    # A report is "of the period" if it covers any day from the first date to the last.
    if params.get("date_from"):
        reports = reports.filter(period_end__gte=params["date_from"])
    if params.get("date_to"):
        reports = reports.filter(period_start__lte=params["date_to"])
    return reports


@roles(Role.MANAGER, Role.AUDITOR)
@read_from_replica
def report_list(request: HttpRequest) -> HttpResponse:
    """The subtree's kept reports, newest first, 25 a page."""
    form = ReportListForm(request.GET)
    valid = form.is_valid()
    params = form.cleaned_data if valid else {}
    # A unit outside the subtree (or none by that code) is the same 404 as on the desk.
    unit = access_unit(request.user, params["unit"]) if params.get("unit") else None
    reports = periodic_reports_visible_to(request.user)
    reports = _filtered(reports, params, unit) if valid else reports.none()
    page = Paginator(
        reports.select_related("unit")
        # The headline figures only: a report's whole figures can be large.
        .defer("figures")
        .annotate(headline=F("figures__by_unit__total"))
        .order_by("-period_start", "kind", "unit__path", "pk"),
        REPORTS_PER_PAGE,
    ).get_page(request.GET.get("page"))
    units = units_in_scope(request.user).filter(level__in=REPORTING_LEVELS).order_by("path")
    return render(
        request,
        "funds/report_list.html",
        {"form": form, "page": page, "units": units, "query": request.GET},
        status=200 if valid else 400,
    )


def _speed_rows(speeds: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The kept speed rows and their total, each measure as (count, median, p90) seconds."""
    if not speeds:
        return []
    rows = [*speeds.get("rows", []), {**speeds["total"], "total": True}]
    return [
        {
            "label": row.get("label", ""),
            "total": row.get("total", False),
            "measures": [row.get(measure) or {} for measure in SpeedMeasure.values],
            "overdue_flags": row.get("overdue_flags", 0),
            "overdue_open": row.get("overdue_open", 0),
        }
        for row in rows
    ]


@roles(Role.MANAGER, Role.AUDITOR)
@read_from_replica
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = access_periodic_report(request.user, pk)
    return render(request, "funds/report_detail.html", report_context(report))


def report_context(report: PeriodicReport) -> dict[str, Any]:
    """What the report's page and its PDF (report_pdf, below) show."""
    figures = report.figures
    return {
        "report": report,
        "by_unit": figures["by_unit"],
        "by_institution": figures.get("by_institution"),
        "measures": SpeedMeasure.choices,
        "speed_by_unit": _speed_rows(figures.get("speed_by_unit")),
        "speed_by_institution": _speed_rows(figures.get("speed_by_institution")),
    }


@roles(Role.MANAGER, Role.AUDITOR)
@read_from_replica
def report_download(request: HttpRequest, pk: int, extension: str) -> HttpResponse:
    """The report as the exchange format's CSV or XLSX file (funds.reports.export)."""
    if extension not in DOWNLOADS:
        raise Http404
    report = access_periodic_report(request.user, pk)
    render_file, content_type = DOWNLOADS[extension]
    response = HttpResponse(render_file(report), content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(
        True, report_filename(report, extension)
    )
    return response


@roles(Role.MANAGER, Role.AUDITOR)
@read_from_replica
def report_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The report as PDF, the page's figures laid out on A4 (docs/documents.md)."""
    report = access_periodic_report(request.user, pk)
    printed_at = timezone.now()
    context = {
        **report_context(report),
        "unit_name": unit_full_name(report.unit),
        "printed_at": printed_at,
    }
    pdf = pdf_from_template("funds/report_print.html", context, moment=printed_at)
    name = report_filename(report, "pdf")
    return pdf_response(pdf, filename=name, fallback=f"report-{report.pk}.pdf")
