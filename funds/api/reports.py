"""``GET /api/v1/reports/totals/`` (API.md, "Reports")."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role
from accounts.scope import access_unit
from funds.access import require_role
from funds.reports import GROUPINGS, rows_as_json, totals


class TotalsQuerySerializer(serializers.Serializer[Any]):
    group_by = serializers.ChoiceField(choices=GROUPINGS, default="unit")
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


class TotalsView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("group_by", str, enum=list(GROUPINGS), description="default unit"),
            OpenApiParameter("unit", str, description="a unit code inside your subtree"),
            OpenApiParameter("from", str, description="first local date, YYYY-MM-DD"),
            OpenApiParameter("to", str, description="last local date, YYYY-MM-DD"),
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
        scope = user.organization
        assert scope is not None
        if params.get("unit"):
            scope = access_unit(user, params["unit"])
        rows, total = totals(
            scope=scope,
            group_by=params["group_by"],
            date_from=params.get("date_from"),
            date_to=params.get("to"),
        )
        return Response(rows_as_json(rows, total))
