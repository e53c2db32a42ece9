"""The liaison's inbox: what the institution must answer, most urgent first, answered in place."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.middleware import passive
from accounts.models import Role, User
from funds import selectors
from funds.access import access_instruction
from funds.answer_files import MAX_FILE_BYTES, AnswerFileRefused, answers_template, read_answer_rows
from funds.forms import ConfirmHoldForm, ExecuteForm, RejectForm
from funds.models import Instruction, InstructionKind, InstructionStatus
from funds.services import instructions as instruction_services
from funds.services.answers import APPLIED, SKIPPED, UNANSWERED, instruction_answers_apply
from funds.views.common import attempt, is_htmx, roles

RECENT = 20


def _pending(request: HttpRequest) -> list[Instruction]:
    """What waits for the bank: pending instructions, and the queued freezes that took effect
    and wait for the bank to confirm what they hold (R12)."""
    return list(
        selectors.instruction_list(request.user).filter(
            Q(status=InstructionStatus.PENDING)
            | Q(
                kind=InstructionKind.FREEZE,
                status=InstructionStatus.EXECUTED,
                effective_from__isnull=False,
                hold_confirmed_at__isnull=True,
                ended_at__isnull=True,
            )
        )
    )


@roles(Role.LIAISON)
def inbox(request: HttpRequest) -> HttpResponse:
    answered = (
        selectors.instruction_list(request.user)
        .filter(status__in=[InstructionStatus.EXECUTED, InstructionStatus.REJECTED])
        .order_by("-responded_at")[:RECENT]
    )
    return render(request, "funds/inbox.html", {"pending": _pending(request), "answered": answered})


@passive
@roles(Role.LIAISON)
def inbox_rows(request: HttpRequest) -> HttpResponse:
    """The pending rows alone, polled by the inbox every few seconds (htmx); passive, so an
    inbox left open does not keep an idle session alive."""
    return render(
        request, "funds/_inbox_rows.html", {"pending": _pending(request), "polling": True}
    )


def _answer(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    instruction = access_instruction(request.user, pk)
    user = cast(User, request.user)
    form: ExecuteForm | RejectForm | ConfirmHoldForm
    if action == "confirm":
        form = ConfirmHoldForm(request.POST, prefix=f"c{pk}")
        done = form.is_valid() and attempt(
            form,
            lambda: instruction_services.freeze_confirm_hold(
                actor=user,
                instruction=instruction,
                held_amount=form.cleaned_data["held_amount"],
                bank_reference=form.cleaned_data["bank_reference"],
            ),
        )
    elif action == "execute":
        form = ExecuteForm(request.POST, prefix=f"x{pk}")
        done = form.is_valid() and attempt(
            form,
            lambda: instruction_services.instruction_execute(
                actor=user,
                instruction=instruction,
                executed_amount=form.cleaned_data["executed_amount"],
                bank_reference=form.cleaned_data["bank_reference"],
            ),
        )
    else:
        form = RejectForm(request.POST, prefix=f"r{pk}")
        done = form.is_valid() and attempt(
            form,
            lambda: instruction_services.instruction_reject(
                actor=user, instruction=instruction, reason=form.cleaned_data["reason"]
            ),
        )
    instruction = selectors.instruction_list(user).get(pk=pk)
    if is_htmx(request):
        forms = {f"{action}_form": form}
        return render(
            request,
            "funds/_inbox_row.html",
            {"instruction": instruction, "done": done, **({} if done else forms)},
            status=200,
        )
    if done:
        messages.success(request, _("Answer recorded."))
    else:
        for error in form.errors.values():
            messages.error(request, " ".join(str(e) for e in error))
    return redirect("inbox")


@require_POST
@roles(Role.LIAISON)
def inbox_execute(request: HttpRequest, pk: int) -> HttpResponse:
    return _answer(request, pk, "execute")


@require_POST
@roles(Role.LIAISON)
def inbox_confirm_hold(request: HttpRequest, pk: int) -> HttpResponse:
    return _answer(request, pk, "confirm")


@require_POST
@roles(Role.LIAISON)
def inbox_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _answer(request, pk, "reject")


@roles(Role.LIAISON)
def inbox_answers_template(request: HttpRequest) -> HttpResponse:
    """The pending requests as an XLSX to fill in (funds.answer_files)."""
    pending = (
        selectors.instruction_list(request.user)
        .filter(status=InstructionStatus.PENDING)
        .select_related("involved_account__account", "institution", "case")
    )
    response = HttpResponse(
        answers_template(pending),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="answers-{stamp}.xlsx"'
    return response


@roles(Role.LIAISON)
def inbox_answers(request: HttpRequest) -> HttpResponse:
    """Upload a filled-in answer file; each row's result on the page that answers."""
    if request.method != "POST":
        return redirect("inbox")
    upload = request.FILES.get("file")
    context: dict[str, object] = {"file_name": upload.name if upload else ""}
    if upload is None:
        context["refusal"] = _("Choose the answer file to upload.")
    elif upload.size is not None and upload.size > MAX_FILE_BYTES:
        context["refusal"] = _("The file is larger than 10 MB: split it.")
    else:
        try:
            rows = read_answer_rows(upload.read())
        except AnswerFileRefused as refusal:
            context["refusal"] = refusal.message
        else:
            result = instruction_answers_apply(actor=cast(User, request.user), rows=rows)
            context.update(
                outcomes=result.outcomes,
                applied=result.count(APPLIED),
                skipped=result.count(SKIPPED),
                unanswered=result.count(UNANSWERED),
                error_count=len(result.errors),
            )
    return render(
        request, "funds/inbox_answers.html", context, status=400 if "refusal" in context else 200
    )
