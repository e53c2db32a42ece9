"""``GET /api/v1/reports/totals/`` and ``/reports/speed/`` (API.md, "Reports")."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Organization, Role, User
from accounts.scope import access_unit
from funds.access import require_role
from funds.reports.figures import MEASURES
from funds.reports.speed import SPEED_GROUPINGS, speed, speed_as_json
from funds.reports.totals import GROUPINGS, rows_as_json, totals

# The speed report's default period, ending today: the last thirty days.
SPEED_DEFAULT_DAYS = 30


class PeriodQuerySerializer(serializers.Serializer[Any]):
    unit = serializers.CharField(required=False, help_text="A unit code inside your subtree.")
    to = serializers.DateField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword, so this field cannot be declared as a class attribute.
        self.fields["from"] = serializers.DateField(required=False, source="date_from")

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


class TotalsView(APIView):
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
        )
        return Response(rows_as_json(rows, total))


class SpeedView(APIView):
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
