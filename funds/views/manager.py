"""The manager's desk: what waits (approvals, rounds, flags), the totals, the trend and the
speed league of any unit of the subtree for any period, each table downloadable as Excel
(funds.reports.desk)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import cached_property
from typing import Any, cast
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import Organization, Role, User
from accounts.scope import access_unit, units_in_scope
from funds import acting_time, selectors
from funds.access import (
    access_instruction,
    access_round,
    flags_visible_to,
    may_approve,
    periodic_reports_visible_to,
)
from funds.errors import DomainError
from funds.models import (
    AllocationRound,
    FlagKind,
    FlagLevel,
    Instruction,
    InstructionKind,
    InstructionStatus,
    RoundStatus,
    SpeedMeasure,
)
from funds.replica import reports_from_replica
from funds.reports import desk
from funds.reports.speed import POLICE_MEASURES, speed
from funds.reports.stock import Stock, stock
from funds.reports.totals import totals
from funds.services import approvals as approval_services
from funds.services import instructions as instruction_services
from funds.services import rounds as round_services
from funds.views.common import is_htmx, roles


def _approvable(user: User, scope: Organization) -> list[Instruction]:
    """Instructions of the unit's subtree waiting for approval, with whether this user may
    approve each."""
    waiting = list(
        selectors.instruction_list(user)
        .filter(status=InstructionStatus.AWAITING_APPROVAL, case__unit__path__startswith=scope.path)
        .select_related("case__unit", "requested_by", "victim", "freeze")
        .order_by("requested_at", "id")
    )
    for instruction in waiting:
        instruction.may_approve = may_approve(user, instruction.kind)  # type: ignore[attr-defined]
    return waiting


def _rounds(user: User, scope: Organization) -> tuple[list[AllocationRound], list[AllocationRound]]:
    """R10's rounds of the unit's subtree not yet confirmed: those whose notice has ended
    (waiting for a manager at city level or above) and those still in notice, soonest first."""
    now = timezone.now()
    rounds = list(
        selectors.round_list(user)
        .filter(status=RoundStatus.NOTICE, case__unit__path__startswith=scope.path)
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


FLAGS_PER_PAGE = 25
# The latest periodic reports of the unit that the desk lists (all are at /desk/reports/).
DESK_REPORTS = 6
# The earliest day a desk period may start: before it there is nothing, and a period of
# centuries would only cost the server.
EARLIEST = date(2000, 1, 1)
DIRECTIONS = [("asc", "asc"), ("desc", "desc")]


class DeskQuery(forms.Form):
    """What the desk is asked to show; a field that does not validate is named on the page
    and its default used instead."""

    to = forms.DateField(required=False)
    unit = forms.CharField(required=False, max_length=20)
    trend = forms.ChoiceField(required=False, choices=[(t, t) for t in desk.TRENDS])
    amounts = forms.ChoiceField(required=False, choices=list(desk.AMOUNT_UNITS.items()))
    sort_unit = forms.ChoiceField(required=False)
    sort_bank = forms.ChoiceField(required=False)
    dir_unit = forms.ChoiceField(required=False, choices=DIRECTIONS)
    dir_bank = forms.ChoiceField(required=False, choices=DIRECTIONS)
    flag_kind = forms.ChoiceField(required=False, choices=[("", ""), *FlagKind.choices])
    flag_level = forms.ChoiceField(required=False, choices=[("", ""), *FlagLevel.choices])
    flag_case = forms.CharField(required=False, max_length=64)
    flag_page = forms.IntegerField(required=False, min_value=1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword, so this field cannot be declared as a class attribute.
        self.fields["from"] = forms.DateField(required=False)
        keys = [(k, k) for k in desk.league_sort_keys()]
        cast(forms.ChoiceField, self.fields["sort_unit"]).choices = keys
        cast(forms.ChoiceField, self.fields["sort_bank"]).choices = [
            k for k in keys if k[0].split(".")[0] not in POLICE_MEASURES
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        today = timezone.localdate()
        latest = today.replace(year=today.year + 1, day=min(today.day, 28))
        for name in ("from", "to"):
            day = data.get(name)
            if day is not None and not EARLIEST <= day <= latest:
                self.add_error(
                    name,
                    _("Choose a day between %(first)s and a year from now.")
                    % {"first": EARLIEST.isoformat()},
                )
        return data

    def value(self, name: str, default: Any) -> Any:
        """The cleaned value of a field, or ``default`` where it is empty or invalid."""
        if name in self.errors:
            return default
        return self.cleaned_data.get(name) or default


class Desk:
    """The desk of one unit of the user's subtree for one period: each section is built when
    first asked for, so that an Excel download builds only its own table."""

    def __init__(self, user: User, query: DeskQuery, amounts: str) -> None:
        self.user = user
        assert user.organization is not None
        self.scope: Organization = user.organization
        unit = query.value("unit", "")
        if unit:
            # The same 404 as the API for a unit outside the subtree (or none by that code).
            self.scope = access_unit(user, unit)
        today = timezone.localdate()
        self.start: date = query.value("from", today.replace(day=1))
        self.end: date = query.value("to", today)
        if self.end < self.start:
            self.start, self.end = self.end, self.start
        self.trend, self.trend_coarser = desk.trend_grain(
            self.start, self.end, query.value("trend", None)
        )
        self.amounts = amounts
        self.sort = {
            "unit": query.value("sort_unit", f"{SpeedMeasure.FIRST_STOP}.median"),
            "bank": query.value("sort_bank", f"{SpeedMeasure.STOP_ANSWER}.median"),
        }
        self.descending = {
            "unit": query.value("dir_unit", "asc") == "desc",
            "bank": query.value("dir_bank", "asc") == "desc",
        }
        self.flag_filters = {
            "kind": query.value("flag_kind", ""),
            "level": query.value("flag_level", ""),
            "case": query.value("flag_case", "").strip(),
        }
        self.flag_page = query.value("flag_page", 1)
        self.builders: dict[str, Callable[[], desk.Table]] = {
            "approvals": lambda: desk.approvals_table(self.approvals),
            "rounds_waiting": lambda: desk.rounds_table(
                "rounds_waiting", _("Rounds waiting for confirmation"), self.rounds[0]
            ),
            "rounds_notice": lambda: desk.rounds_table(
                "rounds_notice", _("Rounds in public notice"), self.rounds[1]
            ),
            "flags": lambda: self.flags_table(paged=False),
            "by_unit": self.by_unit_table,
            "by_bank": self.by_bank_table,
            "trend": self.trend_table,
            "league_unit": lambda: self.league_table("unit"),
            "league_bank": lambda: self.league_table("bank"),
        }

    @cached_property
    def approvals(self) -> list[Instruction]:
        return _approvable(self.user, self.scope)

    @cached_property
    def rounds(self) -> tuple[list[AllocationRound], list[AllocationRound]]:
        return _rounds(self.user, self.scope)

    @cached_property
    def by_unit(self) -> tuple[list[Any], Any]:
        return totals(scope=self.scope, group_by="unit", date_from=self.start, date_to=self.end)

    @cached_property
    def by_bank(self) -> tuple[list[Any], Any]:
        return totals(
            scope=self.scope, group_by="institution", date_from=self.start, date_to=self.end
        )

    @cached_property
    def held_now(self) -> Stock:
        # "Still held" is a stock, as of now, whatever the period (funds.reports.stock).
        return stock(scope=self.scope, now=acting_time.now())

    def _drill(self, code: str) -> str | None:
        """The desk of a child unit, for the same period (none for the unit itself)."""
        if code == self.scope.code:
            return None
        query = {"unit": code, "from": self.start.isoformat(), "to": self.end.isoformat()}
        return "?" + urlencode(query)

    def by_unit_table(self) -> desk.Table:
        rows, total = self.by_unit
        return desk.totals_table(
            "by_unit",
            _("By unit"),
            rows,
            total,
            held_now=self.held_now.held_by_unit,
            held_total=self.held_now.held,
            link=lambda row: self._drill(row.key),
            key_label=_("Unit"),
        )

    def by_bank_table(self) -> desk.Table:
        rows, total = self.by_bank
        return desk.totals_table(
            "by_bank",
            _("By institution"),
            rows,
            total,
            held_now=self.held_now.held_by_institution,
            held_total=self.held_now.held,
            key_label=_("Institution"),
        )

    @cached_property
    def trend_rows(self) -> tuple[list[Any], Any]:
        return totals(scope=self.scope, group_by=self.trend, date_from=self.start, date_to=self.end)

    def trend_table(self) -> desk.Table:
        rows, total = self.trend_rows
        return desk.trend_table(rows, total, self.trend)

    def league_table(self, which: str) -> desk.Table:
        rows, total, _rank_by = speed(
            scope=self.scope,
            group_by="unit" if which == "unit" else "institution",
            date_from=self.start,
            date_to=self.end,
        )
        measures = [m for m in SpeedMeasure.values if which == "unit" or m not in POLICE_MEASURES]
        return desk.league_table(
            f"league_{which}",
            _("Speed by unit") if which == "unit" else _("Speed by institution"),
            rows,
            total,
            measures=measures,
            sort=self.sort[which],
            descending=self.descending[which],
            key_label=_("Unit") if which == "unit" else _("Institution"),
        )

    def flags(self) -> Any:
        return desk.open_flags(flags_visible_to(self.user), self.scope, **self.flag_filters)

    @cached_property
    def flag_paginator_page(self) -> Page[Any]:
        return Paginator(self.flags(), FLAGS_PER_PAGE).get_page(self.flag_page)

    def flags_table(self, *, paged: bool) -> desk.Table:
        """The open flags: a page of them for the page, every one (up to the export limit)
        for the download."""
        if paged:
            page = self.flag_paginator_page
            return desk.flags_table(page.object_list, page.paginator.count)
        flags = list(self.flags()[: desk.EXPORT_MAX_ROWS])
        return desk.flags_table(flags, len(flags))

    def chart(self) -> dict[str, Any]:
        by_unit, total = self.by_unit
        by_bank, _total = self.by_bank
        trend, _trend_total = self.trend_rows

        def series(rows: list[Any]) -> dict[str, list[str]]:
            return {
                name: [str(getattr(r.figures, name)[1]) for r in rows]
                for name in ("stopped", "frozen", "returned")
            }

        return {
            "units": [r.label for r in by_unit],
            "unitSeries": series(by_unit),
            "banks": [r.label for r in by_bank],
            "bankSeries": series(by_bank),
            "trend": [r.label for r in trend],
            "trendSeries": series(trend),
            "funnel": [
                str(total.loss),
                str(total.stop_requested[1]),
                str(total.stopped[1]),
                str(total.frozen[1]),
                str(total.returned[1]),
            ],
        }

    def caption(self, table: desk.Table) -> str:
        return _("%(table)s · %(unit)s · %(start)s to %(end)s · as of %(now)s") % {
            "table": table.title,
            "unit": self.scope.name,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "now": f"{timezone.localtime(acting_time.now()):%Y-%m-%d %H:%M}",
        }


def _amounts(request: HttpRequest, query: DeskQuery) -> str:
    """元 or 万元: as asked, else as last chosen (kept in the session), else 元."""
    asked = query.value("amounts", "")
    if asked:
        request.session["desk_amounts"] = asked
        return str(asked)
    kept = request.session.get("desk_amounts", "yuan")
    return kept if kept in desk.AMOUNT_UNITS else "yuan"


def _units_tree(user: User) -> list[dict[str, Any]]:
    """Every police unit of the user's subtree, in tree order, with its depth: the page
    draws it as an indented list that a search box filters."""
    assert user.organization is not None
    depth0 = user.organization.path.count("/")
    return [
        {"code": u.code, "name": u.name, "path": u.path, "depth": u.path.count("/") - depth0}
        for u in units_in_scope(user).order_by("path")
    ]


def _xlsx(board: Desk, name: str) -> HttpResponse:
    if name not in board.builders:
        raise Http404
    table = board.builders[name]()
    content = desk.table_xlsx(table, caption=board.caption(table), unit=board.amounts)
    response = HttpResponse(content, content_type=desk.XLSX_TYPE)
    filename = f"desk-{table.name}-{board.scope.code}-{board.start}-{board.end}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@roles(Role.MANAGER, Role.AUDITOR)
def desk_page(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    query = DeskQuery(request.GET)
    query.is_valid()
    board = Desk(user, query, _amounts(request, query))
    if request.GET.get("export"):
        with reports_from_replica():
            return _xlsx(board, request.GET["export"])

    def with_params(**changes: str) -> str:
        params = request.GET.copy()
        for key, value in changes.items():
            params[key] = value
        return "?" + params.urlencode()

    def export_url(name: str) -> str:
        params = request.GET.copy()
        params.pop("flag_page", None)
        params["export"] = name
        params["amounts"] = board.amounts
        return "?" + params.urlencode()

    page = board.flag_paginator_page
    context: dict[str, Any] = {
        "board": board,
        "scope": board.scope,
        "start": board.start,
        "end": board.end,
        "amounts": board.amounts,
        "amount_units": desk.AMOUNT_UNITS,
        "query": query,
        "flags": board.flags_table(paged=True),
        "flag_page": page,
        "flag_pages": [
            (n, with_params(flag_page=str(n)))
            for n in page.paginator.get_elided_page_range(page.number)
            if isinstance(n, int)
        ],
        "flag_prev": with_params(flag_page=str(page.number - 1)) if page.has_previous() else "",
        "flag_next": with_params(flag_page=str(page.number + 1)) if page.has_next() else "",
        "flag_kinds": FlagKind.choices,
        "flag_levels": FlagLevel.choices,
        "flag_filters": board.flag_filters,
        "exports": {name: export_url(name) for name in board.builders},
    }
    if is_htmx(request) and request.headers.get("HX-Target") == "flags":
        return render(request, "funds/_desk_flags.html", context)
    leagues = {which: board.league_table(which) for which in ("unit", "bank")}
    for which, table in leagues.items():
        for column in table.columns:
            if column.sort:
                ascending_now = board.sort[which] == column.sort and not board.descending[which]
                column.href = (
                    with_params(
                        **{
                            f"sort_{which}": column.sort,
                            f"dir_{which}": "desc" if ascending_now else "asc",
                        }
                    )
                    + f"#league-{which}"
                )
                if board.sort[which] == column.sort:
                    column.aria_sort = "descending" if board.descending[which] else "ascending"
    context.update(
        {
            "rounds_waiting": board.rounds[0],
            "rounds_in_notice": board.rounds[1],
            "units_tree": _units_tree(user),
            "approvals": board.approvals,
            "by_unit": board.by_unit_table(),
            "by_bank": board.by_bank_table(),
            "trend": board.trend_table(),
            "trend_grain": board.trend,
            "trend_coarser": board.trend_coarser,
            "trends": [("day", _("Day")), ("week", _("Week")), ("month", _("Month"))],
            "reports": list(
                periodic_reports_visible_to(user)
                .filter(unit=board.scope)
                .defer("figures")
                .order_by("-period_start", "kind")[:DESK_REPORTS]
            ),
            "league_unit": leagues["unit"],
            "league_bank": leagues["bank"],
            "total": board.by_unit[1],
            "held_now": board.held_now,
            "chart": board.chart(),
        }
    )
    return render(request, "funds/desk.html", context)


def _decide(
    request: HttpRequest,
    pk: int,
    decide: Callable[[User, Instruction, str], Any],
    done: str,
    *,
    field: str,
) -> HttpResponse:
    """Approve, decline or send back from the desk; the row answers in place under htmx."""
    user = cast(User, request.user)
    instruction = access_instruction(user, pk)
    error = None
    try:
        decide(user, instruction, request.POST.get(field, ""))
    except DomainError as refused:
        error = refused.message
    if is_htmx(request):
        instruction = (
            selectors.instruction_list(user)
            .select_related("case__unit", "requested_by", "victim")
            .get(pk=pk)
        )
        instruction.may_approve = may_approve(user, instruction.kind)  # type: ignore[attr-defined]
        return render(
            request,
            "funds/_approval_row.html",
            {"instruction": instruction, "error": error, "done": not error},
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done)
    return redirect("desk")


@require_POST
@roles(Role.MANAGER)
def desk_approve(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve with the opinion typed (审批意见)."""
    return _decide(
        request,
        pk,
        lambda user, instruction, text: instruction_services.instruction_approve(
            actor=user, instruction=instruction, opinion=text
        ),
        _("Approved and sent to the institution."),
        field="opinion",
    )


@require_POST
@roles(Role.MANAGER)
def desk_decline(request: HttpRequest, pk: int) -> HttpResponse:
    """驳回, with the reason typed."""
    return _decide(
        request,
        pk,
        lambda user, instruction, text: approval_services.instruction_decline(
            actor=user, instruction=instruction, reason=text
        ),
        _("Declined; the officer sees the reason on the case file."),
        field="reason",
    )


@require_POST
@roles(Role.MANAGER)
def desk_send_back(request: HttpRequest, pk: int) -> HttpResponse:
    """退回 for correction, with what to correct."""
    return _decide(
        request,
        pk,
        lambda user, instruction, text: approval_services.instruction_send_back(
            actor=user, instruction=instruction, reason=text
        ),
        _("Sent back; it waits for the officer's correction."),
        field="reason",
    )


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
