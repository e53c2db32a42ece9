"""Documents on the pages: the instruments to download (the liaison's inbox, the case file),
and the print views (docs/documents.md)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from accounts.models import Role, User
from funds.access import access_instruction
from funds.documents.responses import pdf_response
from funds.errors import InvalidState
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
