"""Views of API v1: cases and what hangs off them, instructions, allocation.

Each view checks the role first (403: the role may not do this at all), then finds the
object through the access helpers (404: missing or out of scope, alike), then calls one
service, which re-checks everything under its locks.
"""

from __future__ import annotations

from typing import Any, cast

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from accounts.models import Role, User
from funds import selectors
from funds.access import (
    access_case,
    access_instruction,
    access_round,
    flags_visible_to,
    require_role,
)
from funds.api import serializers
from funds.api.idempotency import Idempotent
from funds.api.pagination import InboxPagination
from funds.api.renderers import PDFRenderer
from funds.documents.approval_forms import approval_form_pdf
from funds.documents.responses import pdf_response
from funds.errors import RuleViolation
from funds.filters import CaseFilter, CaseSearchFilter, FlagFilter, InstructionFilter
from funds.models import (
    AllocationRound,
    Case,
    Flag,
    Instruction,
    InstructionKind,
    InstructionStatus,
    Notification,
    RoundStatus,
    Transfer,
    Victim,
)
from funds.services import approvals as approval_services
from funds.services import cases as case_services
from funds.services import documents as document_services
from funds.services import instructions as instruction_services
from funds.services import intake as intake_services
from funds.services import notifications as notification_services
from funds.services import rounds as round_services

POLICE = (Role.OFFICER, Role.MANAGER, Role.AUDITOR)
SEARCH_BY_POST = gettext_lazy(
    "Search with POST /api/v1/cases/search/ and the term in the body: a name or a number "
    "must not travel in an address."
)


def _victim_intake(data: dict[str, Any]) -> intake_services.VictimIntake:
    account = data.get("account") or {}
    return intake_services.VictimIntake(
        name=data["name"],
        id_number=data["id_number"],
        phone=data["phone"],
        loss_amount=data["loss_amount"],
        account_institution=account.get("institution", ""),
        account_number=account.get("number", ""),
        account_holder_name=account.get("holder_name", ""),
    )


def _user(request: Request) -> User:
    return cast(User, request.user)


class CaseViewSet(
    Idempotent,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[Case],
):
    serializer_class = serializers.CaseSerializer
    filterset_class = CaseFilter

    def get_queryset(self) -> QuerySet[Case]:
        return selectors.case_list(self.request.user)

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        # Victims, accounts, transfers and searches carry personal data: error mail lists
        # none of what was posted (PIPL art. 28), as sensitive_post_parameters() would mark
        # it (not a decorator of dispatch, which stays Idempotent's).
        request.sensitive_post_parameters = "__ALL__"  # type: ignore[attr-defined]
        return super().initialize_request(request, *args, **kwargs)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        require_role(request.user, *POLICE)

    def get_object(self) -> Case:
        return access_case(self.request.user, self.kwargs["pk"], self.get_queryset())

    def _case(self) -> Case:
        return access_case(self.request.user, self.kwargs["pk"])

    def _answer_case(self, case: Case, code: int = status.HTTP_200_OK) -> Response:
        fresh = selectors.with_totals(Case.objects.filter(pk=case.pk)).get()
        return Response(serializers.CaseSerializer(fresh).data, status=code)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The cases of the user's subtree, filtered; a search by term is ``POST /cases/search/``."""
        if "q" in request.query_params:
            raise ValidationError({"q": [SEARCH_BY_POST]})
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=serializers.CaseSearchSerializer,
        responses={200: serializers.CaseSerializer(many=True)},
    )
    @action(detail=False, methods=["post"], filterset_class=None)
    def search(self, request: Request) -> Response:
        """Search the cases of the subtree by case number, title, victim's name or account
        number, with the list's filters. The term is personal data, so it comes in the body,
        never in the address (PIPL art. 28); pages: ``?page=`` with the same body."""
        serializer = serializers.CaseSearchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = {k: v for k, v in serializer.validated_data.items() if v not in (None, "")}
        found = CaseSearchFilter(data, queryset=self.get_queryset(), request=request)
        if not found.is_valid():
            raise ValidationError(found.errors)
        return self._list(found.qs, serializers.CaseSerializer)

    @extend_schema(request=serializers.CaseSerializer, responses={201: serializers.CaseSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Log a reported fraud in the officer's unit."""
        require_role(request.user, Role.OFFICER)
        serializer = serializers.CaseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        case = case_services.case_report(actor=_user(request), **serializer.validated_data)
        # Answered as created, not read again: a case just reported totals zero everywhere,
        # and its unit is the officer's, already loaded.
        case = selectors.with_zero_totals(case)
        return Response(serializers.CaseSerializer(case).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=serializers.IntakeSerializer, responses={201: serializers.IntakeResultSerializer}
    )
    @action(detail=False, methods=["post"], filterset_class=None)
    def intake(self, request: Request) -> Response:
        """From report to stop-payments in one call (R13): the case, its victims, its layer-1
        accounts and a pending stop-payment on each, all or nothing. An invalid victim or
        account is named by its place in its list."""
        require_role(request.user, Role.OFFICER)
        serializer = serializers.IntakeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        victims = [_victim_intake(v) for v in data.pop("victims")]
        accounts = [intake_services.AccountIntake(**a) for a in data.pop("accounts")]
        result = intake_services.case_intake(
            actor=_user(request), victims=victims, accounts=accounts, **data
        )
        case = selectors.with_totals(Case.objects.filter(pk=result.case.pk)).get()
        victim_rows = selectors.with_owed(Victim.objects.filter(case=case)).select_related(
            "account_institution"
        )
        instructions = selectors.with_document_hash(
            Instruction.objects.filter(case=case)
        ).select_related(
            "case", "institution", "issuing_unit", "approved_by", "involved_account__account"
        )
        body = {
            "case": serializers.CaseSerializer(case).data,
            "instructions": serializers.InstructionSerializer(
                instructions.order_by("id"), many=True
            ).data,
            "victims": serializers.VictimSerializer(victim_rows.order_by("id"), many=True).data,
        }
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=serializers.CaseSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str) -> Response:
        """``reported`` -> ``accepted``."""
        require_role(request.user, Role.OFFICER)
        return self._answer_case(case_services.case_accept(actor=_user(request), case=self._case()))

    @extend_schema(request=serializers.FilingSerializer, responses=serializers.CaseSerializer)
    @action(detail=True, methods=["post"], url_path="file")
    def file_case(self, request: Request, pk: str) -> Response:
        """``accepted`` -> ``filed`` (立案), with the filing number."""
        require_role(request.user, Role.OFFICER)
        case = self._case()
        serializer = serializers.FilingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._answer_case(
            case_services.case_file(
                actor=_user(request),
                case=case,
                filing_number=serializer.validated_data["filing_number"],
            )
        )

    @extend_schema(request=None, responses=serializers.CaseSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str) -> Response:
        """Close the case (manager)."""
        require_role(request.user, Role.MANAGER)
        return self._answer_case(case_services.case_close(actor=_user(request), case=self._case()))

    def _list(
        self,
        queryset: QuerySet[Any],
        serializer_class: type[BaseSerializer[Any]],
        context: dict[str, Any] | None = None,
    ) -> Response:
        page = self.paginate_queryset(queryset)
        data = serializer_class(page, many=True, context=context or {}).data
        return self.get_paginated_response(data)

    @extend_schema(methods=["get"], request=None, responses=serializers.VictimSerializer(many=True))
    @extend_schema(
        methods=["post"],
        request=serializers.VictimSerializer,
        responses={201: serializers.VictimSerializer},
    )
    @action(detail=True, methods=["get", "post"], filterset_class=None)
    @sensitive_variables()
    def victims(self, request: Request, pk: str) -> Response:
        """The case's victims; add one (officer). Identity numbers, phones and account numbers
        come back masked."""
        if request.method == "GET":
            case = self._case()
            return self._list(
                selectors.with_owed(Victim.objects.filter(case=case)).select_related(
                    "account_institution"
                ),
                serializers.VictimSerializer,
            )
        require_role(request.user, Role.OFFICER)
        case = self._case()
        serializer = serializers.VictimSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        account = data.pop("account", None)
        institution, number = data.pop("account_institution", ""), data.pop("account_number", "")
        if account:
            given = {
                "account_institution_code": account["institution"],
                "account_number": account["number"],
                "account_holder_name": account["holder_name"],
            }
        else:  # the first shape, refused beside its own field
            given = {
                "account_institution_code": institution,
                "account_number": number,
                "account_field": "account_institution",
            }
        victim = case_services.victim_add(actor=_user(request), case=case, **data, **given)
        fresh = (
            selectors.with_owed(Victim.objects.filter(pk=victim.pk))
            .select_related("account_institution")
            .get()
        )
        return Response(serializers.VictimSerializer(fresh).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        methods=["get"], request=None, responses=serializers.InvolvedAccountSerializer(many=True)
    )
    @extend_schema(
        methods=["post"],
        request=serializers.InvolvedAccountSerializer,
        responses={201: serializers.InvolvedAccountSerializer},
    )
    @action(detail=True, methods=["get", "post"], filterset_class=None)
    @sensitive_variables()
    def accounts(self, request: Request, pk: str) -> Response:
        """The involved accounts; add one (officer), with the other cases it appears in."""
        if request.method == "GET":
            return self._list(
                selectors.involved_accounts(self._case()), serializers.InvolvedAccountSerializer
            )
        require_role(request.user, Role.OFFICER)
        case = self._case()
        serializer = serializers.InvolvedAccountSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        involved_account = case_services.account_add(
            actor=_user(request),
            case=case,
            institution_code=data["institution"],
            number=data["number"],
            holder_name=data["holder_name"],
            layer=data["layer"],
        )
        fresh = selectors.involved_accounts(case).get(pk=involved_account.pk)
        return Response(
            serializers.InvolvedAccountSerializer(fresh).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        methods=["get"], request=None, responses=serializers.TransferSerializer(many=True)
    )
    @extend_schema(
        methods=["post"],
        request=serializers.TransferSerializer,
        responses={201: serializers.TransferSerializer},
    )
    @action(detail=True, methods=["get", "post"], filterset_class=None)
    @sensitive_variables()
    def transfers(self, request: Request, pk: str) -> Response:
        """The money movements of the case; record one (officer)."""
        if request.method == "GET":
            case = self._case()
            queryset = Transfer.objects.filter(case=case).select_related(
                "from_account__institution", "to_account__institution"
            )
            context = {"victim_accounts": selectors.victim_account_keys(case.pk)}
            return self._list(queryset, serializers.TransferSerializer, context)
        require_role(request.user, Role.OFFICER)
        case = self._case()
        serializer = serializers.TransferSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        transfer = case_services.transfer_add(
            actor=_user(request), case=case, **serializer.validated_data
        )
        context = {"victim_accounts": selectors.victim_account_keys(case.pk)}
        return Response(
            serializers.TransferSerializer(transfer, context=context).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        methods=["get"], request=None, responses=serializers.InstructionSerializer(many=True)
    )
    @extend_schema(
        methods=["post"],
        request=serializers.InstructionCreateSerializer,
        responses={201: serializers.InstructionSerializer},
    )
    @action(
        detail=True,
        methods=["get", "post"],
        filterset_class=None,
        pagination_class=InboxPagination,  # the same page as GET /instructions/
    )
    def instructions(self, request: Request, pk: str) -> Response:
        """The case's instructions; ask an institution for one (officer)."""
        if request.method == "GET":
            case = self._case()
            return self._list(
                selectors.instruction_list(request.user).filter(case=case),
                serializers.InstructionSerializer,
            )
        require_role(request.user, Role.OFFICER)
        case = self._case()
        serializer = serializers.InstructionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        instruction = instruction_services.instruction_request(
            actor=_user(request),
            case=case,
            request=instruction_services.InstructionRequest(
                kind=data["kind"],
                involved_account_id=data.get("account"),
                amount=data.get("amount"),
                instrument_number=data["instrument_number"],
                term_months=data.get("term_months"),
                freeze_id=data.get("freeze"),
                victim_id=data.get("victim"),
                reason=data["reason"],
            ),
        )
        return _answer_instruction(instruction, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=serializers.EventSerializer(many=True))
    @action(detail=True, methods=["get"], filterset_class=None)
    def events(self, request: Request, pk: str) -> Response:
        """The case's audit trail, oldest first."""
        return self._list(selectors.case_events(self._case()), serializers.EventSerializer)

    @extend_schema(
        request=None,
        responses={
            200: serializers.AllocationSerializer,
        },
        parameters=[OpenApiParameter("freeze", int, required=True, description="The freeze's id.")],
    )
    @action(detail=True, methods=["get"], filterset_class=None)
    def allocation(self, request: Request, pk: str) -> Response:
        """Propose how a freeze's available funds are shared among the victims in proportion
        to what each is still owed (R10); nothing is stored (a round stores it)."""
        case = self._case()
        freeze_id = request.query_params.get("freeze", "")
        if not freeze_id.isdigit():
            raise RuleViolation(_("Name the freeze: ?freeze=<id>."), field="freeze")
        freeze = get_object_or_404(
            Instruction,
            pk=int(freeze_id),
            case=case,
            kind=InstructionKind.FREEZE,
            status=InstructionStatus.EXECUTED,
        )
        proposal = selectors.allocation_proposal(freeze)
        return Response(
            {
                "freeze": freeze.pk,
                "available": f"{proposal.available:.2f}",
                "freeze_available": f"{proposal.freeze_available:.2f}",
                "shares": [
                    {
                        "victim": share.victim.pk,
                        "name": share.victim.name,
                        "loss_amount": f"{share.victim.loss_amount:.2f}",
                        "already_returned": f"{share.already_returned:.2f}",
                        "owed": f"{share.owed:.2f}",
                        "amount": f"{share.amount:.2f}",
                    }
                    for share in proposal.shares
                ],
            }
        )

    @extend_schema(
        methods=["get"],
        request=None,
        responses={200: serializers.RoundSerializer(many=True)},
    )
    @extend_schema(
        methods=["post"],
        request=serializers.RoundCreateSerializer,
        responses={201: serializers.RoundSerializer},
    )
    @action(detail=True, methods=["get", "post"], filterset_class=None)
    def allocations(self, request: Request, pk: str) -> Response:
        """The case's allocation rounds (R10); open one over a freeze (officer): shares of
        what each victim is still owed, published for the public notice."""
        if request.method == "GET":
            return self._list(
                selectors.round_list(request.user).filter(case=self._case()),
                serializers.RoundSerializer,
            )
        require_role(request.user, Role.OFFICER)
        case = self._case()
        serializer = serializers.RoundCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        allocation_round = round_services.round_open(
            actor=_user(request), case=case, freeze_id=serializer.validated_data["freeze"]
        )
        return _answer_round(allocation_round, status.HTTP_201_CREATED)


def _answer_round(allocation_round: AllocationRound, code: int = status.HTTP_200_OK) -> Response:
    fresh = selectors.with_round_details(AllocationRound.objects.filter(pk=allocation_round.pk))
    return Response(serializers.RoundSerializer(fresh.get()).data, status=code)


class AllocationRoundViewSet(
    Idempotent,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[AllocationRound],
):
    """R10's allocation rounds of the cases in scope: ``status`` and ``case`` filter them."""

    serializer_class = serializers.RoundSerializer

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        require_role(request.user, *POLICE)

    def get_queryset(self) -> QuerySet[AllocationRound]:
        queryset = selectors.round_list(self.request.user)
        wanted = self.request.query_params
        if wanted.get("status") in RoundStatus.values:
            queryset = queryset.filter(status=wanted["status"])
        if wanted.get("case", "").isdigit():
            queryset = queryset.filter(case_id=int(wanted["case"]))
        return queryset

    def get_object(self) -> AllocationRound:
        return access_round(self.request.user, self.kwargs["pk"], self.get_queryset())

    def _round(self) -> AllocationRound:
        return access_round(self.request.user, self.kwargs["pk"])

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=RoundStatus.values),
            OpenApiParameter("case", int, description="The case's id."),
        ],
        responses={200: serializers.RoundSerializer(many=True)},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Rounds of the cases in scope, newest first."""
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: serializers.RoundSerializer})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """One round, with its shares, objections and (once confirmed) returns."""
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=serializers.ObjectionCreateSerializer,
        responses={201: serializers.ObjectionSerializer},
    )
    @action(detail=True, methods=["post"])
    def objections(self, request: Request, pk: str) -> Response:
        """Record an objection while the public notice runs (officer); 409 after it."""
        require_role(request.user, Role.OFFICER)
        allocation_round = self._round()
        serializer = serializers.ObjectionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        objection = round_services.round_object(
            actor=_user(request),
            allocation_round=allocation_round,
            victim_id=serializer.validated_data["victim"],
            reason=serializer.validated_data["reason"],
        )
        return Response(
            serializers.ObjectionSerializer(objection).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        request=serializers.ReasonSerializer,
        responses={200: serializers.RoundSerializer},
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str) -> Response:
        """Withdraw a round not yet confirmed, with the reason (officer); what it reserved is
        free again, for a corrected round."""
        require_role(request.user, Role.OFFICER)
        allocation_round = self._round()
        serializer = serializers.ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        allocation_round = round_services.round_withdraw(
            actor=_user(request),
            allocation_round=allocation_round,
            reason=serializer.validated_data["reason"],
        )
        return _answer_round(allocation_round)

    @extend_schema(
        request=None,
        responses={200: serializers.RoundSerializer},
    )
    @action(detail=True, methods=["post"])
    def confirm(self, request: Request, pk: str) -> Response:
        """After the public notice, confirm the round (manager at city level or above): one
        approved return per share above zero goes to the bank; 409 before ``notice_until``."""
        require_role(request.user, Role.MANAGER)
        allocation_round = round_services.round_confirm(
            actor=_user(request), allocation_round=self._round()
        )
        return _answer_round(allocation_round)


def _answer_instruction(
    instruction: Instruction, code: int = status.HTTP_200_OK, request: Request | None = None
) -> Response:
    """The instruction as it now is; with ``request`` its payee as that user may read it
    (a return's account in full only to the paying institution)."""
    fresh = (
        selectors.with_document_hash(Instruction.objects.filter(pk=instruction.pk))
        .select_related(
            "case",
            "institution",
            "issuing_unit",
            "approved_by",
            "involved_account__account",
            "victim__account_institution",
        )
        .get()
    )
    context = {"request": request} if request is not None else {}
    return Response(serializers.InstructionSerializer(fresh, context=context).data, status=code)


class InstructionViewSet(
    Idempotent,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Instruction],
):
    serializer_class = serializers.InstructionSerializer
    filterset_class = InstructionFilter
    pagination_class = InboxPagination

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        require_role(request.user, *POLICE, Role.LIAISON)

    def get_queryset(self) -> QuerySet[Instruction]:
        return selectors.instruction_list(self.request.user)

    def get_object(self) -> Instruction:
        return access_instruction(self.request.user, self.kwargs["pk"], self.get_queryset())

    def _instruction(self) -> Instruction:
        return access_instruction(self.request.user, self.kwargs["pk"])

    @extend_schema(
        request=None,
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            409: OpenApiResponse(
                description="Not issued yet: a freeze, renewal, release or "
                "return before its approval."
            ),
        },
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, PDFRenderer])
    def document(self, request: Request, pk: str) -> HttpResponse:
        """The instrument the institution acts on, as PDF (API.md, "Documents"): the same
        bytes on every download, hashed by ``document_sha256``."""
        instruction = self._instruction()
        document = document_services.document_issue(instruction=instruction, actor=_user(request))
        return pdf_response(
            bytes(document.pdf),
            filename=f"{document.instrument_number}.pdf",
            fallback=f"instruction-{instruction.pk}-{instruction.kind}.pdf",
            sha256=document.sha256,
        )

    @extend_schema(
        request=None,
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            403: OpenApiResponse(description="A bank's liaison: the form is the police's."),
        },
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="approval-form",
        renderer_classes=[JSONRenderer, PDFRenderer],
    )
    def approval_form(self, request: Request, pk: str) -> HttpResponse:
        """The approval form (呈请…报告书) as PDF, with every step of the approval so far;
        the police's own paper, so a bank's liaison gets 403."""
        require_role(request.user, *POLICE)
        instruction = self._instruction()
        pdf = approval_form_pdf(instruction)
        return pdf_response(
            pdf,
            filename=f"呈请报告书-{instruction.case.number}-{instruction.pk}.pdf",
            fallback=f"approval-form-{instruction.pk}.pdf",
            sha256=None,
        )

    @extend_schema(
        request=serializers.ApproveSerializer, responses=serializers.InstructionSerializer
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        """``awaiting_approval`` -> ``pending`` (manager of a high enough unit), with an
        optional opinion (审批意见); 409 while the request is sent back for correction."""
        require_role(request.user, Role.MANAGER)
        instruction = self._instruction()
        serializer = serializers.ApproveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instruction = instruction_services.instruction_approve(
            actor=_user(request),
            instruction=instruction,
            opinion=serializer.validated_data.get("opinion", ""),
        )
        return _answer_instruction(instruction)

    @extend_schema(
        request=serializers.ReasonSerializer, responses=serializers.InstructionSerializer
    )
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, pk: str) -> Response:
        """驳回: ``awaiting_approval`` -> ``declined`` with a reason (a manager who could
        approve it)."""
        require_role(request.user, Role.MANAGER)
        instruction = self._instruction()
        serializer = serializers.ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instruction = approval_services.instruction_decline(
            actor=_user(request),
            instruction=instruction,
            reason=serializer.validated_data["reason"],
        )
        return _answer_instruction(instruction)

    @extend_schema(
        request=serializers.ReasonSerializer, responses=serializers.InstructionSerializer
    )
    @action(detail=True, methods=["post"], url_path="send-back")
    def send_back(self, request: Request, pk: str) -> Response:
        """退回: the approval waits until the officer corrects and resubmits (a manager who
        could approve it); ``reason`` says what to correct."""
        require_role(request.user, Role.MANAGER)
        instruction = self._instruction()
        serializer = serializers.ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instruction = approval_services.instruction_send_back(
            actor=_user(request),
            instruction=instruction,
            reason=serializer.validated_data["reason"],
        )
        return _answer_instruction(instruction)

    @extend_schema(
        request=serializers.ResubmitSerializer, responses=serializers.InstructionSerializer
    )
    @action(detail=True, methods=["post"])
    def resubmit(self, request: Request, pk: str) -> Response:
        """Correct a request sent back and put it before the approver again (officer)."""
        require_role(request.user, Role.OFFICER)
        instruction = self._instruction()
        serializer = serializers.ResubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instruction = approval_services.instruction_resubmit(
            actor=_user(request),
            instruction=instruction,
            correction=approval_services.Correction(**serializer.validated_data),
        )
        return _answer_instruction(instruction)

    @extend_schema(
        request=serializers.ExecuteSerializer, responses=serializers.InstructionSerializer
    )
    @action(detail=True, methods=["post"])
    def execute(self, request: Request, pk: str) -> Response:
        """``pending`` -> ``executed`` with the amount actually found (liaison)."""
        require_role(request.user, Role.LIAISON)
        instruction = self._instruction()
        serializer = serializers.ExecuteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instruction = instruction_services.instruction_execute(
            actor=_user(request), instruction=instruction, **serializer.validated_data
        )
        return _answer_instruction(instruction, request=request)

    @extend_schema(
        request=serializers.ConfirmHoldSerializer, responses=serializers.InstructionSerializer
    )
    @action(detail=True, methods=["post"], url_path="confirm-hold")
    def confirm_hold(self, request: Request, pk: str) -> Response:
        """R12: confirm what a queued freeze holds now that it took effect (liaison)."""
        require_role(request.user, Role.LIAISON)
        instruction = self._instruction()
        serializer = serializers.ConfirmHoldSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instruction = instruction_services.freeze_confirm_hold(
            actor=_user(request), instruction=instruction, **serializer.validated_data
        )
        return _answer_instruction(instruction)

    @extend_schema(
        request=serializers.RejectSerializer, responses=serializers.InstructionSerializer
    )
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        """``pending`` -> ``rejected`` with a reason (liaison)."""
        require_role(request.user, Role.LIAISON)
        instruction = self._instruction()
        serializer = serializers.RejectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instruction = instruction_services.instruction_reject(
            actor=_user(request),
            instruction=instruction,
            reason=serializer.validated_data["reason"],
        )
        return _answer_instruction(instruction, request=request)

    @extend_schema(request=None, responses=serializers.InstructionSerializer)
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, pk: str) -> Response:
        """R8: the frozen funds are verified as linked to the case (officer; a freeze in force)."""
        require_role(request.user, Role.OFFICER)
        freeze = instruction_services.freeze_verify(
            actor=_user(request), freeze=self._instruction()
        )
        return _answer_instruction(freeze)

    @extend_schema(
        request=serializers.ReasonSerializer, responses=serializers.InstructionSerializer
    )
    @action(detail=True, methods=["post"])
    def unrelated(self, request: Request, pk: str) -> Response:
        """R7: the frozen funds are found unrelated to the case; a release is due within 3 days."""
        require_role(request.user, Role.OFFICER)
        freeze = self._instruction()
        serializer = serializers.ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        freeze = instruction_services.freeze_find_unrelated(
            actor=_user(request), freeze=freeze, reason=serializer.validated_data["reason"]
        )
        return _answer_instruction(freeze)

    @extend_schema(request=None, responses=serializers.InstructionSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Withdraw an instruction not yet answered (officer)."""
        require_role(request.user, Role.OFFICER)
        instruction = instruction_services.instruction_cancel(
            actor=_user(request), instruction=self._instruction()
        )
        return _answer_instruction(instruction)


class FlagViewSet(
    Idempotent, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Flag]
):
    """Deadlines close or past: filters ``case``, ``kind``, ``level``, ``open``."""

    serializer_class = serializers.FlagSerializer
    filterset_class = FlagFilter

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        require_role(request.user, *POLICE, Role.LIAISON)

    def get_queryset(self) -> QuerySet[Flag]:
        return (
            flags_visible_to(self.request.user)
            .prefetch_related("escalations__unit")
            .order_by("-raised_at", "-id")
        )


class NotificationViewSet(Idempotent, mixins.ListModelMixin, viewsets.GenericViewSet[Notification]):
    """The signed-in user's notifications, newest first; ``unread=true`` for the unread."""

    serializer_class = serializers.NotificationSerializer

    def get_queryset(self) -> QuerySet[Notification]:
        queryset = (
            Notification.objects.filter(recipient_id=self.request.user.pk)
            .select_related(
                "recipient",
                "flag__case",
                "instruction__case",
                "instruction__involved_account__account",
                "report__unit",
            )
            .prefetch_related("flag__escalations__unit")
        )
        if self.request.query_params.get("unread") == "true":
            queryset = queryset.filter(read_at__isnull=True)
        return queryset.order_by("-created_at", "-id")

    @extend_schema(request=None, responses=serializers.NotificationSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str) -> Response:
        """Mark one notification read (only one's own)."""
        note = get_object_or_404(self.get_queryset(), pk=pk)
        note = notification_services.notification_read(actor=_user(request), notification=note)
        return Response(serializers.NotificationSerializer(note).data)


class VictimAccountRevealView(APIView):
    """``POST /cases/{id}/victims/{victim_id}/reveal/`` (PIPL art. 28)."""

    # Not funds' Idempotent: the answer carries the full number, which is never kept, and
    # each reading is an act of its own in the trail; a retry reads (and records) again.
    ignores_idempotency_key = True

    @extend_schema(
        request=serializers.RevealSerializer,
        responses={200: serializers.RevealedAccountSerializer},
    )
    @method_decorator(sensitive_variables())
    def post(self, request: Request, pk: int, victim_id: int) -> Response:
        """The victim's own account with its number in full, for an officer of the case who
        says why. Each reveal is an audit event ``victim_account_revealed`` with the reason,
        never the number. Other roles 403; an officer outside the case's subtree, or a victim
        of another case, 404; a victim without an account 409."""
        require_role(request.user, Role.OFFICER)
        case = access_case(request.user, pk)
        serializer = serializers.RevealSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        victim = case_services.victim_account_reveal(
            actor=_user(request),
            case=case,
            victim_id=victim_id,
            reason=serializer.validated_data["reason"],
        )
        assert victim.account_institution is not None  # has_account, checked by the service
        return Response(
            {
                "victim": victim.pk,
                "account": {
                    "institution": victim.account_institution.code,
                    "number": victim.account_number,
                    "holder_name": victim.account_holder_name,
                },
            }
        )
