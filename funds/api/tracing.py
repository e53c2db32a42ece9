"""API v1 for tracing the money: a case's fund flow graph, the accounts shared by cases, and
the banks' answers in bulk."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role
from funds.access import access_case, require_role
from funds.answer_files import MAX_FILE_BYTES, AnswerFileRefused, read_answer_rows
from funds.api.idempotency import Idempotent
from funds.api.serializers import money
from funds.graph import case_graph
from funds.models import Stage
from funds.services.answers import instruction_answers_apply
from funds.shared_accounts import shared_accounts_page

PAGE_SIZE = 50

# --- the fund flow graph ---------------------------------------------------------------


class GraphAmountsSerializer(serializers.Serializer[Any]):
    stopped = money()
    frozen = money()
    released = money()
    returned = money()
    held = money(help_text="frozen - released - returned")


class GraphNodeSerializer(serializers.Serializer[Any]):
    id = serializers.CharField(help_text="`a<bank account id>` or `v<victim id>`.")
    kind = serializers.ChoiceField(choices=["victim", "account"])
    institution = serializers.CharField(help_text="The institution's code.")
    number = serializers.CharField(help_text="A victim's is masked to its last four digits.")
    holder_name = serializers.CharField()
    layer = serializers.IntegerField(
        allow_null=True, help_text="0 for a victim; null for an account not involved in the case."
    )
    stage = serializers.ChoiceField(
        choices=Stage.choices,
        allow_null=True,
        help_text="null for a victim; `identified` for an account not involved in the case.",
    )
    involved = serializers.BooleanField(help_text="Whether it is one of the case's accounts.")
    involved_account = serializers.IntegerField(allow_null=True)
    amounts = GraphAmountsSerializer(allow_null=True)
    other_cases = serializers.IntegerField(help_text="How many other cases involve the account.")


class GraphEdgeSerializer(serializers.Serializer[Any]):
    from_ = serializers.CharField()
    to = serializers.CharField()
    amount = money(help_text="The sum of the transfers from `from` to `to`.")
    count = serializers.IntegerField()

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


class GraphSerializer(serializers.Serializer[Any]):
    nodes = GraphNodeSerializer(many=True)
    edges = GraphEdgeSerializer(many=True)


class CaseGraphView(Idempotent, APIView):
    """The case's fund flow: its accounts, victims and the transfers between them."""

    @extend_schema(
        responses={200: GraphSerializer, 404: OpenApiResponse(description="Not in scope.")},
        tags=["cases"],
    )
    def get(self, request: Request, pk: str) -> Response:
        """Nodes and edges of the case's fund flow (police roles, in scope; else 404): the
        involved accounts, the victims (at layer 0, numbers masked), the accounts seen only
        in transfers (layer null); an edge sums the transfers between two nodes."""
        case = access_case(request.user, pk)
        return Response(case_graph(case))


# --- accounts in two or more cases ---------------------------------------------------------


class SharedCaseSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    number = serializers.CharField()
    unit = serializers.CharField()
    holder_name = serializers.CharField()
    layer = serializers.IntegerField()
    stage = serializers.ChoiceField(choices=Stage.choices)
    held = money()
    involved_at = serializers.DateTimeField()


class SharedAccountSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    institution = serializers.CharField()
    institution_name = serializers.CharField()
    number = serializers.CharField()
    case_count = serializers.IntegerField()
    held = money(help_text="frozen - released - returned, over the cases listed")
    latest_involvement = serializers.DateTimeField()
    cases = SharedCaseSerializer(many=True)


class SharedAccountPageSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = SharedAccountSerializer(many=True)


class SharedAccountsView(Idempotent, APIView):
    """Bank accounts involved in two or more cases of the user's subtree, newest first."""

    @extend_schema(
        parameters=[OpenApiParameter("page", int)],
        responses={
            200: SharedAccountPageSerializer,
            403: OpenApiResponse(description="Not a manager or an auditor."),
        },
        tags=["accounts"],
    )
    def get(self, request: Request) -> Response:
        """Accounts in two or more cases of the subtree (managers, auditors), by their newest
        involvement, with those cases and what each holds; 50 a page."""
        require_role(request.user, Role.MANAGER, Role.AUDITOR)
        page = shared_accounts_page(request.user, request.query_params.get("page"), PAGE_SIZE)
        data = SharedAccountSerializer(page.object_list, many=True).data
        base = request.build_absolute_uri(request.path)
        return Response(
            {
                "count": page.paginator.count,
                "next": f"{base}?page={page.next_page_number()}" if page.has_next() else None,
                "previous": f"{base}?page={page.previous_page_number()}"
                if page.has_previous()
                else None,
                "results": data,
            }
        )


# --- the banks' answers in bulk ----------------------------------------------------------------


class AnswerFileSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(
        help_text="CSV (UTF-8 or GBK) or XLSX with the columns 协查编号, 结果 (执行 or 拒绝), "
        "执行金额, 业务编号, 理由; at most 5,000 rows."
    )


class AnswerErrorSerializer(serializers.Serializer[Any]):
    row = serializers.IntegerField(help_text="The row as the spreadsheet numbers it.")
    column = serializers.CharField()
    message = serializers.CharField()


class AnswerResultSerializer(serializers.Serializer[Any]):
    row = serializers.IntegerField()
    instruction = serializers.IntegerField(allow_null=True)
    outcome = serializers.ChoiceField(choices=["applied", "skipped", "unanswered", "error"])
    column = serializers.CharField()
    message = serializers.CharField()


class AnswersSerializer(serializers.Serializer[Any]):  # the answer's shape, for the schema
    rows = serializers.IntegerField()
    applied = serializers.IntegerField()
    skipped = serializers.IntegerField(help_text="Rows already applied the same way.")
    unanswered = serializers.IntegerField(help_text="Rows whose 结果 is empty.")
    errors = AnswerErrorSerializer(many=True)  # type: ignore[assignment]
    results = AnswerResultSerializer(many=True)


def answers_body(result: Any) -> dict[str, Any]:
    return {
        "rows": len(result.outcomes),
        "applied": result.count("applied"),
        "skipped": result.count("skipped"),
        "unanswered": result.count("unanswered"),
        "errors": [{"row": o.row, "column": o.column, "message": o.message} for o in result.errors],
        "results": [
            {
                "row": o.row,
                "instruction": o.instruction,
                "outcome": o.outcome,
                "column": o.column,
                "message": o.message,
            }
            for o in result.outcomes
        ],
    }


class InstructionAnswersView(Idempotent, APIView):
    """A bank's answers to many instructions in one file."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": AnswerFileSerializer},
        responses={
            200: AnswersSerializer,
            400: OpenApiResponse(
                description="No file, an unreadable file, a header without 协查编号 or 结果, "
                'or more than 5,000 rows: `{"file": ["..."]}`, nothing applied.'
            ),
            403: OpenApiResponse(description="Not a liaison."),
        },
        tags=["instructions"],
    )
    def post(self, request: Request) -> Response:
        """Apply each row as an execute or a reject of its own (liaison or a bank's API key);
        200 with every row's outcome, even when some rows are errors: one row's error undoes
        no other row. A row already applied the same way is skipped."""
        actor = require_role(request.user, Role.LIAISON)
        serializer = AnswerFileSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        if upload.size > MAX_FILE_BYTES:
            return Response(
                {"file": [_("The file is larger than 10 MB: split it.")]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            rows = read_answer_rows(upload.read())
        except AnswerFileRefused as refusal:
            return Response({"file": [refusal.message]}, status=status.HTTP_400_BAD_REQUEST)
        if not rows:
            return Response(
                {"file": [_("The file holds no answer row.")]}, status=status.HTTP_400_BAD_REQUEST
            )
        result = instruction_answers_apply(actor=actor, rows=rows)
        return Response(answers_body(result))
