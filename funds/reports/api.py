"""The reports' API (API.md, "Reports"; docs/reports.md): ``GET /api/v1/reports/totals/``,
``/reports/speed/``, and ``/reports/periodic/`` with the kept daily, weekly and monthly
reports and their downloads as CSV and XLSX. Managers and auditors only, for the units of
their subtree.

The views read what the triggers of migration funds 0005 keep (funds.reports.figures),
through funds.reports.totals and funds.reports.speed; they compute no figure themselves.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import ExitStack
from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Organization, Role, User
from accounts.scope import access_unit, filter_by_unit
from funds.access import require_role
from funds.api.fields import BoundedDateField, ModelSerializer
from funds.api.idempotency import Idempotent
from funds.api.serializers import UnitSerializer
from funds.filters import DateFilter as BoundedDateFilter
from funds.models import PeriodicReport, ReportKind
from funds.replica import read_from_replica, reports_from_replica
from funds.reports.export import XLSX_TYPE, report_csv, report_filename, report_xlsx
from funds.reports.figures import MEASURES
from funds.reports.speed import SPEED_GROUPINGS, speed, speed_as_json
from funds.reports.totals import GROUPINGS, rows_as_json, totals

# -- totals and speed ---------------------------------------------------------------------

# The speed report's default period, ending today: the last thirty days.
SPEED_DEFAULT_DAYS = 30
# The longest period the totals are grouped by day for (API.md, "Errors"): about three years.
MAX_DAYS_BY_DAY = 1100


class PeriodQuerySerializer(serializers.Serializer[Any]):
    unit = serializers.CharField(required=False, help_text="A unit code inside your subtree.")
    to = BoundedDateField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword, so this field cannot be declared as a class attribute.
        self.fields["from"] = BoundedDateField(required=False, source="date_from")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("date_from") and attrs.get("to") and attrs["date_from"] > attrs["to"]:
            raise serializers.ValidationError({"to": [_("The last date is before the first.")]})
        return attrs


class TotalsQuerySerializer(PeriodQuerySerializer):
    group_by = serializers.ChoiceField(choices=GROUPINGS, default="unit")


class SpeedQuerySerializer(PeriodQuerySerializer):
    group_by = serializers.ChoiceField(choices=SPEED_GROUPINGS, default="unit")
    rank_by = serializers.ChoiceField(choices=MEASURES, required=False)


def _scope(user: User, params: dict[str, Any]) -> Organization:
    """The user's unit, or the unit named by ``unit=<code>`` inside its subtree (else 404)."""
    if params.get("unit"):
        return access_unit(user, params["unit"])
    assert user.organization is not None
    return user.organization


PERIOD_PARAMETERS = [
    OpenApiParameter("unit", str, description="a unit code inside your subtree"),
    OpenApiParameter("from", str, description="first local date, YYYY-MM-DD"),
    OpenApiParameter("to", str, description="last local date, YYYY-MM-DD"),
]


class TotalsView(Idempotent, APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("group_by", str, enum=list(GROUPINGS), description="default unit"),
            *PERIOD_PARAMETERS,
        ],
        responses=inline_serializer(
            "TotalsReport",
            {
                "rows": serializers.ListField(child=serializers.DictField()),
                "total": serializers.DictField(),
            },
        ),
    )
    @read_from_replica
    def get(self, request: Request) -> Response:
        """Counts and amounts at every stage for the subtree, grouped (managers, auditors)."""
        user = require_role(request.user, Role.MANAGER, Role.AUDITOR)
        query = TotalsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        rows, total = totals(
            scope=_scope(user, params),
            group_by=params["group_by"],
            date_from=params.get("date_from"),
            date_to=params.get("to"),
            # One row per day: a span of centuries would build millions of rows.
            max_days=MAX_DAYS_BY_DAY,
        )
        return Response(rows_as_json(rows, total))


class SpeedView(Idempotent, APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "group_by", str, enum=list(SPEED_GROUPINGS), description="default unit"
            ),
            OpenApiParameter(
                "rank_by",
                str,
                enum=list(MEASURES),
                description="the measure whose median ranks the rows; default first_stop "
                "for units, stop_answer for institutions",
            ),
            *PERIOD_PARAMETERS,
        ],
        responses=inline_serializer(
            "Speed",
            {
                "group_by": serializers.CharField(),
                "rank_by": serializers.CharField(),
                "from": serializers.DateField(),
                "to": serializers.DateField(),
                "rows": serializers.ListField(child=serializers.DictField()),
                "total": serializers.DictField(),
            },
        ),
    )
    @read_from_replica
    def get(self, request: Request) -> Response:
        """The league table: median and 90th percentile of each speed measure (seconds) and
        the overdue flags, per child unit or institution, for intervals that started in the
        period (default: the last 30 days) (managers, auditors)."""
        user = require_role(request.user, Role.MANAGER, Role.AUDITOR)
        query = SpeedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        date_to = params.get("to") or timezone.localdate()
        date_from = params.get("date_from") or date_to - timedelta(days=SPEED_DEFAULT_DAYS - 1)
        if date_from > date_to:
            raise serializers.ValidationError({"to": [_("The last date is before the first.")]})
        rows, total, rank_by = speed(
            scope=_scope(user, params),
            group_by=params["group_by"],
            date_from=date_from,
            date_to=date_to,
            rank_by=params.get("rank_by"),
        )
        return Response(
            {
                "group_by": params["group_by"],
                "rank_by": rank_by,
                "from": date_from.isoformat(),
                "to": date_to.isoformat(),
                **speed_as_json(rows, total),
            }
        )


# -- periodic reports ---------------------------------------------------------------------


class PeriodicReportSerializer(ModelSerializer[PeriodicReport]):
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
    period_from = BoundedDateFilter(field_name="period_start", lookup_expr="gte")
    period_to = BoundedDateFilter(field_name="period_start", lookup_expr="lte")

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
    Idempotent,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[PeriodicReport],
):
    """Filters ``kind``, ``unit`` (that unit's own reports), ``period_from``, ``period_to``."""

    filterset_class = PeriodicReportFilter

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        require_role(request.user, Role.MANAGER, Role.AUDITOR)
        # Its reads go to the replica (when there is one); signing in stayed on the primary.
        self._replica = ExitStack()
        self._replica.enter_context(reports_from_replica())

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        replica = getattr(self, "_replica", None)
        if replica is not None:
            replica.close()
        return super().finalize_response(request, response, *args, **kwargs)

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
