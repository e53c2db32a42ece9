"""``/api/v1/reports/periodic/``: the kept daily, weekly and monthly reports, and their
downloads as CSV and XLSX (managers and auditors, reports of units in their subtree)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils.http import content_disposition_header
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request

from accounts.models import Role
from accounts.scope import access_unit, filter_by_unit
from funds.access import require_role
from funds.api.serializers import UnitSerializer
from funds.models import PeriodicReport, ReportKind
from funds.reports.export import XLSX_TYPE, report_csv, report_filename, report_xlsx


class PeriodicReportSerializer(serializers.ModelSerializer[PeriodicReport]):
    unit = UnitSerializer(read_only=True)

    class Meta:
        model = PeriodicReport
        fields = ["id", "unit", "kind", "period_start", "period_end", "generated_at", "mailed_at"]
        read_only_fields = fields


class PeriodicReportDetailSerializer(PeriodicReportSerializer):
    class Meta(PeriodicReportSerializer.Meta):
        fields = [*PeriodicReportSerializer.Meta.fields, "figures"]
        read_only_fields = fields


class PeriodicReportFilter(filters.FilterSet):
    kind = filters.ChoiceFilter(choices=ReportKind.choices)
    unit = filters.CharFilter(method="by_unit", label="a unit code inside your subtree")
    period_from = filters.DateFilter(field_name="period_start", lookup_expr="gte")
    period_to = filters.DateFilter(field_name="period_start", lookup_expr="lte")

    class Meta:
        model = PeriodicReport
        fields = ["kind", "unit"]

    def by_unit(
        self, queryset: QuerySet[PeriodicReport], name: str, value: str
    ) -> QuerySet[PeriodicReport]:
        # A unit outside the subtree is "not found", as everywhere else.
        return queryset.filter(unit=access_unit(self.request.user, value))


class _FileRenderer(BaseRenderer):
    """Lets a client ask for the file's type; errors still come back as JSON text."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        return json.dumps(data, ensure_ascii=False).encode()


class CSVRenderer(_FileRenderer):
    media_type = "text/csv"
    format = "csv"


class XLSXRenderer(_FileRenderer):
    media_type = XLSX_TYPE
    format = "xlsx"


def _download(content: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


class PeriodicReportViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[PeriodicReport]
):
    """Filters ``kind``, ``unit`` (that unit's own reports), ``period_from``, ``period_to``."""

    filterset_class = PeriodicReportFilter

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        require_role(request.user, Role.MANAGER, Role.AUDITOR)

    def get_queryset(self) -> QuerySet[PeriodicReport]:
        reports = PeriodicReport.objects.select_related("unit")
        if self.action == "list":
            reports = reports.defer("figures")
        return filter_by_unit(reports, self.request.user).order_by(
            "-period_start", "kind", "unit__path"
        )

    def get_serializer_class(self) -> type[serializers.BaseSerializer[PeriodicReport]]:
        if self.action == "list":
            return PeriodicReportSerializer
        return PeriodicReportDetailSerializer

    @extend_schema(
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY)},
        description="The report as CSV (UTF-8 with BOM), one row per unit, institution and total, "
        "Chinese headers.",
    )
    @action(detail=True, url_path="csv", renderer_classes=[JSONRenderer, CSVRenderer])
    def csv(self, request: Request, pk: str) -> HttpResponse:
        report = self.get_object()
        return _download(
            report_csv(report), "text/csv; charset=utf-8", report_filename(report, "csv")
        )

    @extend_schema(
        responses={(200, XLSX_TYPE): OpenApiResponse(OpenApiTypes.BINARY)},
        description="The report as an Excel workbook: the same table, and a sheet about it.",
    )
    @action(detail=True, url_path="xlsx", renderer_classes=[JSONRenderer, XLSXRenderer])
    def xlsx(self, request: Request, pk: str) -> HttpResponse:
        report = self.get_object()
        return _download(report_xlsx(report), XLSX_TYPE, report_filename(report, "xlsx"))
