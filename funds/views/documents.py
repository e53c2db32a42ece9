"""Documents on the pages: the instruments to download (the liaison's inbox, the case file),
and the print views (docs/documents.md)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.models import POLICE_ROLES, Role, User
from funds import selectors
from funds.access import access_case, access_instruction
from funds.documents import pdf_from_template
from funds.documents.approval_forms import approval_form_pdf
from funds.documents.instruments import unit_full_name
from funds.documents.responses import pdf_response
from funds.errors import InvalidState
from funds.models import Case, Instruction, InvolvedAccount, Victim
from funds.services.documents import document_issue
from funds.views.common import roles

EVERYONE_WHO_SEES_INSTRUCTIONS = (Role.OFFICER, Role.MANAGER, Role.AUDITOR, Role.LIAISON)


@roles(*EVERYONE_WHO_SEES_INSTRUCTIONS)
def instruction_document(request: HttpRequest, pk: int) -> HttpResponse:
    """The instrument as PDF, the same stored bytes as the API answers."""
    assert isinstance(request.user, User)
    instruction = access_instruction(request.user, pk)
    try:
        document = document_issue(instruction=instruction, actor=request.user)
    except InvalidState as error:
        return HttpResponse(error.message, status=409, content_type="text/plain; charset=utf-8")
    return pdf_response(
        bytes(document.pdf),
        filename=f"{document.instrument_number}.pdf",
        fallback=f"instruction-{instruction.pk}-{instruction.kind}.pdf",
        sha256=document.sha256,
    )


@roles(*POLICE_ROLES)
def instruction_approval_form(request: HttpRequest, pk: int) -> HttpResponse:
    """The approval form (呈请…报告书) as PDF, with every step so far: the police's only."""
    assert isinstance(request.user, User)
    instruction = access_instruction(request.user, pk)
    return pdf_response(
        approval_form_pdf(instruction),
        filename=f"呈请报告书-{instruction.case.number}-{instruction.pk}.pdf",
        fallback=f"approval-form-{instruction.pk}.pdf",
    )


def _case_file_context(request: HttpRequest, pk: int, *, pdf: bool) -> dict[str, Any]:
    user = request.user
    assert isinstance(user, User)
    case = selectors.with_totals(Case.objects.filter(pk=access_case(user, pk).pk)).get()
    instructions = (
        selectors.with_document_hash(Instruction.objects.filter(case=case))
        .select_related("involved_account__account", "approved_by")
        .order_by("requested_at", "id")
    )
    return {
        "case": case,
        "unit_name": unit_full_name(case.unit),
        "victims": selectors.with_owed(Victim.objects.filter(case=case))
        .select_related("account_institution")
        .order_by("id"),
        "accounts": InvolvedAccount.objects.filter(case=case)
        .select_related("account__institution")
        .order_by("layer", "id"),
        "instructions": instructions,
        "events": selectors.case_events(case),
        "printed_at": timezone.now(),
        "printed_by": user.get_full_name() or user.username,
        "pdf": pdf,
        # The browser's print view in the documents' fonts too (pdf_from_template adds them).
        "document_font": settings.DOCUMENT_FONT,
        "document_heading_font": settings.DOCUMENT_HEADING_FONT,
    }


@roles(*POLICE_ROLES)
def case_print(request: HttpRequest, pk: int) -> HttpResponse:
    """The case file (一案一档) laid out for paper; the browser prints it."""
    return render(request, "funds/case_print.html", _case_file_context(request, pk, pdf=False))


@roles(*POLICE_ROLES)
def case_print_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The same case file as PDF."""
    context = _case_file_context(request, pk, pdf=True)
    case = context["case"]
    pdf = pdf_from_template("funds/case_print.html", context, moment=context["printed_at"])
    return pdf_response(pdf, filename=f"{case.number}.pdf", fallback=f"case-{case.pk}.pdf")
