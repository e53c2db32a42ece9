"""API v1 for statement imports and the stop-payments they propose (docs/imports.md).

``POST /cases/{id}/imports/`` (multipart: ``file``, ``dry_run``, ``template``,
``institution``) answers 201 (200 for a dry run) with the outcome, 400 with every error, or
202 with the import's URL when the file is large enough for the Celery worker.
"""

from __future__ import annotations

from typing import Any, cast

from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role, User
from funds.access import access_case, access_import, require_role
from funds.api.idempotency import Idempotent
from funds.api.serializers import InstructionSerializer
from funds.models import ImportStatus, Instruction, StatementImport
from funds.selectors import with_document_hash
from funds.services import imports as import_services
from funds.services.proposed_stops import proposed_stops, proposed_stops_send
from funds.statements.templates import TEMPLATES

POLICE = (Role.OFFICER, Role.MANAGER, Role.AUDITOR)


class ImportErrorSerializer(serializers.Serializer[Any]):
    row = serializers.IntegerField(
        allow_null=True,
        help_text="The file's row, as a spreadsheet numbers it; null for the whole file.",
    )
    column = serializers.CharField(help_text="The column (or 'file', 'institution').")
    message = serializers.CharField()
    sheet = serializers.CharField(required=False, help_text="The sheet of a workbook of several.")


class StatementImportSerializer(serializers.ModelSerializer[StatementImport]):
    case = serializers.IntegerField(source="case_id")
    created_by = serializers.CharField(source="created_by.username")
    institution = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = StatementImport
        fields = [
            "id", "case", "url", "created_by", "created_at", "file_name", "sha256", "size",
            "template", "institution", "dry_run", "status", "progress", "rows", "created",
            "skipped", "accounts_added", "error_count", "errors", "started_at", "finished_at",
        ]  # fmt: skip

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # ``errors`` is the name of a serializer's own property: declared here instead.
        fields = super().get_fields()
        fields["errors"] = ImportErrorSerializer(many=True, read_only=True)
        return fields

    def get_institution(self, obj: StatementImport) -> str | None:
        return obj.institution.code if obj.institution else None

    def get_progress(self, obj: StatementImport) -> int:
        return import_services.import_progress(obj)

    def get_url(self, obj: StatementImport) -> str:
        return reverse("api:statement-import-detail", args=[obj.pk])


class ImportUploadSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(help_text="CSV (UTF-8 or GBK) or XLSX.")
    dry_run = serializers.BooleanField(default=False)
    template = serializers.ChoiceField(
        choices=[("", "detect"), *[(name, name) for name in TEMPLATES]],
        required=False,
        allow_blank=True,
        default="",
        help_text="A template's name; detected from the header when empty.",
    )
    institution = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=100,
        help_text="The institution (code or name) that returned the statement: needed by "
        "bank_inquiry and payment_return, whose rows are seen from one account.",
    )


class CaseImportsView(Idempotent, generics.ListAPIView[StatementImport]):
    serializer_class = StatementImportSerializer
    parser_classes = [MultiPartParser, FormParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        require_role(request.user, *POLICE)

    def get_queryset(self) -> QuerySet[StatementImport]:
        if getattr(self, "swagger_fake_view", False):  # the schema's generation
            return StatementImport.objects.none()
        case = access_case(self.request.user, self.kwargs["pk"])
        return StatementImport.objects.filter(case=case).select_related("created_by", "institution")

    @extend_schema(responses=StatementImportSerializer(many=True))
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The case's imports (dry runs included), newest first."""
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": ImportUploadSerializer},
        responses={
            200: StatementImportSerializer,
            201: StatementImportSerializer,
            202: StatementImportSerializer,
            400: StatementImportSerializer,
        },
    )
    def post(self, request: Request, pk: str) -> Response:
        """Import a statement into the case (officer): all rows or none. 200 for a dry run,
        201 when written, 400 with every invalid row and column, 202 for a large file that
        the worker processes (poll ``url``)."""
        require_role(request.user, Role.OFFICER)
        case = access_case(request.user, pk)
        serializer = ImportUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        upload = data["file"]
        statement_import = import_services.statement_import_create(
            actor=cast(User, request.user),
            case=case,
            upload=upload.chunks(),
            file_name=upload.name or "statement",
            template=data["template"],
            institution_code=data["institution"],
            dry_run=data["dry_run"],
        )
        if not import_services.runs_inline(statement_import):
            import_services.statement_import_queue(statement_import)
            return Response(
                StatementImportSerializer(statement_import).data, status=status.HTTP_202_ACCEPTED
            )
        statement_import = import_services.statement_import_run(import_id=statement_import.pk)
        code: int = status.HTTP_201_CREATED
        if statement_import.status == ImportStatus.FAILED:
            code = status.HTTP_400_BAD_REQUEST
        elif statement_import.dry_run:
            code = status.HTTP_200_OK
        return Response(StatementImportSerializer(statement_import).data, status=code)


class ImportDetailView(Idempotent, generics.RetrieveAPIView[StatementImport]):
    serializer_class = StatementImportSerializer

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        require_role(request.user, *POLICE)

    def get_object(self) -> StatementImport:
        return access_import(self.request.user, self.kwargs["pk"])

    @extend_schema(responses=StatementImportSerializer)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """One import: its status, progress, counts and errors (poll it while it runs)."""
        return super().get(request, *args, **kwargs)


class ProposedStopSerializer(serializers.Serializer[Any]):
    account = serializers.IntegerField(help_text="The involved account's id.")
    institution = serializers.CharField()
    number = serializers.CharField()
    holder_name = serializers.CharField()
    layer = serializers.IntegerField()
    stage = serializers.CharField()
    received = serializers.CharField(help_text="The sum of the case's transfers into it.")
    other_cases = serializers.ListField(child=serializers.CharField())
    other_cases_hidden = serializers.IntegerField(help_text="Other cases outside your scope.")


class ProposedStopsCreateSerializer(serializers.Serializer[Any]):
    accounts = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=1000
    )


class ProposedStopsView(Idempotent, APIView):
    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        require_role(request.user, *POLICE)

    @extend_schema(responses=ProposedStopSerializer(many=True))
    def get(self, request: Request, pk: str) -> Response:
        """Accounts that received money and hold no stop-payment or freeze: the amount each
        received, and the other cases (in your scope) that involve it."""
        case = access_case(request.user, pk)
        return Response(
            [
                {
                    "account": a.pk,
                    "institution": a.account.institution.code,
                    "number": a.account.number,
                    "holder_name": a.holder_name,
                    "layer": a.layer,
                    "stage": a.stage,
                    "received": f"{a.received:.2f}",  # type: ignore[attr-defined]
                    "other_cases": a.other_cases,  # type: ignore[attr-defined]
                    "other_cases_hidden": a.other_cases_hidden,  # type: ignore[attr-defined]
                }
                for a in proposed_stops(case, request.user)
            ]
        )

    @extend_schema(
        request=ProposedStopsCreateSerializer,
        responses={
            201: inline_serializer(
                "ProposedStopsSent",
                {
                    "results": inline_serializer(
                        "ProposedStopResult",
                        {
                            "account": serializers.IntegerField(),
                            "instruction": InstructionSerializer(allow_null=True),
                            "error": serializers.CharField(),
                        },
                        many=True,
                    )
                },
            )
        },
    )
    def post(self, request: Request, pk: str) -> Response:
        """Send a stop-payment of the amount received for each chosen account (officer);
        each is sent on its own: a refused one is answered with its error, the others go."""
        require_role(request.user, Role.OFFICER)
        case = access_case(request.user, pk)
        serializer = ProposedStopsCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        results = proposed_stops_send(
            actor=cast(User, request.user),
            case=case,
            involved_account_ids=serializer.validated_data["accounts"],
        )
        sent = {
            i.pk: i
            for i in with_document_hash(
                Instruction.objects.filter(
                    pk__in=[r.instruction.pk for r in results if r.instruction]
                )
            ).select_related(
                "case",
                "institution",
                "issuing_unit",
                "approved_by",
                "involved_account__account",
                "victim",
            )
        }
        body = {
            "results": [
                {
                    "account": r.involved_account_id,
                    "instruction": InstructionSerializer(sent[r.instruction.pk]).data
                    if r.instruction
                    else None,
                    "error": r.error,
                }
                for r in results
            ]
        }
        code = status.HTTP_201_CREATED if sent else status.HTTP_409_CONFLICT
        if not sent:
            body["detail"] = _("No stop-payment could be sent.")  # type: ignore[assignment]
            body["code"] = "invalid_state"  # type: ignore[assignment]
        return Response(body, status=code)
