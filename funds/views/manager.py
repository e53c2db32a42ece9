"""The manager's desk: approvals waiting, flags of the subtree, totals and the funnel."""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import Role, User
from accounts.scope import access_unit, units_in_scope
from funds import acting_time, selectors
from funds.access import access_instruction, access_round, flags_visible_to, may_approve
from funds.errors import DomainError
from funds.models import (
    AllocationRound,
    Instruction,
    InstructionKind,
    InstructionStatus,
    RoundStatus,
)
from funds.reports.stock import stock
from funds.reports.totals import totals
from funds.services import instructions as instruction_services
from funds.services import rounds as round_services
from funds.views.common import is_htmx, roles


def _approvable(user: User) -> list[Instruction]:
    """Instructions of the subtree waiting for approval, with whether this user may approve."""
    waiting = list(
        selectors.instruction_list(user)
        .filter(status=InstructionStatus.AWAITING_APPROVAL)
        .select_related("case__unit", "requested_by", "victim", "freeze")
        .order_by("requested_at", "id")
    )
    for instruction in waiting:
        instruction.may_approve = may_approve(user, instruction.kind)  # type: ignore[attr-defined]
    return waiting


def _rounds(user: User) -> tuple[list[AllocationRound], list[AllocationRound]]:
    """R10's rounds of the subtree not yet confirmed: those whose notice has ended (waiting
    for a manager at city level or above) and those still in notice, soonest first."""
    now = timezone.now()
    rounds = list(
        selectors.round_list(user)
        .filter(status=RoundStatus.NOTICE)
        .select_related("case__unit")
        .order_by("notice_until", "id")
    )
    may_confirm = may_approve(user, InstructionKind.RETURN)
    for allocation_round in rounds:
        allocation_round.may_confirm = may_confirm  # type: ignore[attr-defined]
    return (
        [r for r in rounds if r.notice_until <= now],
        [r for r in rounds if r.notice_until > now],
    )


def _period(request: HttpRequest) -> tuple[date, date]:
    today = timezone.localdate()
    start = parse_date(request.GET.get("from", "")) or today.replace(day=1)
    end = parse_date(request.GET.get("to", "")) or today
    if end < start:
        start, end = end, start
    return start, end


@roles(Role.MANAGER, Role.AUDITOR)
def desk(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    scope = user.organization
    assert scope is not None
    if request.GET.get("unit"):
        # The same 404 as the API for a unit outside the subtree (or none by that code).
        scope = access_unit(user, request.GET["unit"])
    start, end = _period(request)
    by_unit, total = totals(scope=scope, group_by="unit", date_from=start, date_to=end)
    by_bank, _total = totals(scope=scope, group_by="institution", date_from=start, date_to=end)
    # "Still held" is a stock, as of now, whatever the period (funds.reports.stock).
    held_now = stock(scope=scope, now=acting_time.now())
    for row in by_unit:
        row.held_now = held_now.held_by_unit[row.key]  # type: ignore[attr-defined]
    for row in by_bank:
        row.held_now = held_now.held_by_institution[row.key]  # type: ignore[attr-defined]
    chart: dict[str, Any] = {
        "units": [r.label for r in by_unit],
        "unitSeries": {
            name: [str(getattr(r.figures, name)[1]) for r in by_unit]
            for name in ("stopped", "frozen", "returned")
        },
        "banks": [r.label for r in by_bank],
        "bankSeries": {
            name: [str(getattr(r.figures, name)[1]) for r in by_bank]
            for name in ("stopped", "frozen", "returned")
        },
        "funnel": [
            str(total.loss),
            str(total.stop_requested[1]),
            str(total.stopped[1]),
            str(total.frozen[1]),
            str(total.returned[1]),
        ],
    }
    flags = (
        flags_visible_to(user)
        .filter(resolved_at__isnull=True)
        .select_related("case", "instruction")
        .order_by("-level", "due_at")[:50]
    )
    rounds_waiting, rounds_in_notice = _rounds(user)
    return render(
        request,
        "funds/desk.html",
        {
            "rounds_waiting": rounds_waiting,
            "rounds_in_notice": rounds_in_notice,
            "scope": scope,
            "children": units_in_scope(user).filter(parent=user.organization).order_by("code"),
            "start": start,
            "end": end,
            "approvals": _approvable(user),
            "flags": flags,
            "by_unit": by_unit,
            "by_bank": by_bank,
            "total": total,
            "held_now": held_now,
            "chart": chart,
        },
    )


@require_POST
@roles(Role.MANAGER)
def desk_approve(request: HttpRequest, pk: int) -> HttpResponse:
    user = cast(User, request.user)
    instruction = access_instruction(user, pk)
    error = None
    try:
        instruction = instruction_services.instruction_approve(actor=user, instruction=instruction)
    except DomainError as refused:
        error = refused.message
    if is_htmx(request):
        instruction = (
            selectors.instruction_list(user)
            .select_related("case__unit", "requested_by", "victim")
            .get(pk=pk)
        )
        return render(
            request,
            "funds/_approval_row.html",
            {"instruction": instruction, "error": error, "done": not error},
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("Approved and sent to the institution."))
    return redirect("desk")


@require_POST
@roles(Role.MANAGER)
def desk_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    """R10: confirm a round whose public notice has ended; its returns go to the bank."""
    user = cast(User, request.user)
    allocation_round = access_round(user, pk)
    try:
        allocation_round = round_services.round_confirm(
            actor=user, allocation_round=allocation_round
        )
    except DomainError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(
            request,
            _("Round #%(round)d confirmed: its returns were sent to the bank.")
            % {"round": allocation_round.pk},
        )
    return redirect(reverse("desk") + "#rounds")
