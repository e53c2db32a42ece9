"""The officer's pages: the case list and the case file (一案一档), with its forms."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Role, User
from accounts.scope import can_see_unit
from funds import acting_time, selectors
from funds.access import access_case, access_instruction, access_round
from funds.errors import DomainError, PartRefused
from funds.filters import CaseSearchFilter
from funds.forms import (
    AccountForm,
    CaseReportForm,
    CaseSearchForm,
    FilingForm,
    InstructionForm,
    ObjectionForm,
    ResubmitForm,
    RevealForm,
    RoundForm,
    TransferForm,
    VictimForm,
    WithdrawForm,
    intake_formsets,
)
from funds.models import (
    AllocationRound,
    Case,
    CaseStatus,
    Flag,
    Instruction,
    InstructionKind,
    RoundStatus,
    StatementImport,
    Transfer,
    Victim,
)
from funds.services import cases as case_services
from funds.services import instructions as instruction_services
from funds.services import intake as intake_services
from funds.services import rounds as round_services
from funds.services.approvals import Correction, approval_steps
from funds.services.approvals import instruction_resubmit as instruction_resubmit_service
from funds.services.freeze_queue import queue_position
from funds.services.proposed_stops import proposed_stops
from funds.services.stages import in_force
from funds.views.common import attempt, roles
from funds.views.flow import flow_labels
from funds.views.imports import IMPORT_IDS, ImportForm

POLICE = (Role.OFFICER, Role.MANAGER, Role.AUDITOR)
# The case file holds several forms with fields of the same name: each has its own ids, so
# every label names its own field.
FILING_IDS, VICTIM_IDS, ACCOUNT_IDS = "filing_%s", "victim_%s", "account_%s"
TRANSFER_IDS, INSTRUCTION_IDS, ROUND_IDS = "transfer_%s", "instruction_%s", "round_%s"


# The kinds whose request carries a reason the officer may correct.
REASONED_KINDS = (InstructionKind.RELEASE, InstructionKind.RETURN)
# The kinds with a term (R5).
TERMED_KINDS = (InstructionKind.FREEZE, InstructionKind.RENEWAL)


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


# The case list's recent search terms, by opaque key, in the session (PIPL art. 28): a term
# may be a victim's name, phone or account number, so it never goes into an address (nor
# into the browser's history, the proxy's log or a Referer). The result's address holds
# only ``search=<key>`` and the filters, so it can be reloaded, paged, sent back to and
# bookmarked; outside the session that made it, the key means nothing and the page says so.
SEARCHES_KEY = "case_searches"
SEARCHES_KEPT = 20


def _remember_search(request: HttpRequest, term: str) -> str:
    searches: dict[str, str] = dict(request.session.get(SEARCHES_KEY) or {})
    key = secrets.token_urlsafe(9)
    searches[key] = term
    request.session[SEARCHES_KEY] = dict(list(searches.items())[-SEARCHES_KEPT:])
    return key


def _search_redirect(request: HttpRequest, data: Any) -> HttpResponse:
    """Post/redirect/get: the filters in the address, the term behind a key."""
    params = QueryDict(mutable=True)
    for name in ("status", "flagged"):
        if data.get(name):
            params[name] = data[name]
    form = CaseSearchForm(data)
    term = form.cleaned_data["q"].strip() if form.is_valid() else ""
    if term:
        params["search"] = _remember_search(request, term)
    url = reverse("case-list")
    return redirect(f"{url}?{params.urlencode()}" if params else url)


@require_http_methods(["GET", "POST"])
@roles(*POLICE)
@sensitive_post_parameters("q")
def case_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _search_redirect(request, request.POST)
    if "q" in request.GET:  # an address from before: the term leaves it at once
        return _search_redirect(request, request.GET)
    term = ""
    if key := request.GET.get("search"):
        term = (request.session.get(SEARCHES_KEY) or {}).get(key, "")
        if not term:
            messages.info(
                request,
                _(
                    "That search is no longer kept (searches last as long as your session): "
                    "search again."
                ),
            )
    open_flags = (
        Flag.objects.filter(case=OuterRef("pk"), resolved_at__isnull=True)
        .order_by()
        .values("case")
        .annotate(n=Count("id"))
        .values("n")
    )
    cases = selectors.case_list(request.user).annotate(open_flags=Coalesce(Subquery(open_flags), 0))
    data = request.GET.copy()
    data["q"] = term
    filtered = CaseSearchFilter(data, queryset=cases)
    queryset = filtered.qs
    if request.GET.get("flagged"):
        queryset = queryset.filter(open_flags__gt=0)
    page = Paginator(queryset, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "funds/case_list.html",
        {
            "page": page,
            "filter": filtered,
            "statuses": CaseStatus.choices,
            "query": request.GET,
            "search_term": term,
        },
    )


# Every field of the new report may be personal (victims' names, identity numbers, phones,
# account numbers and holders, in rows named victims-0-..., accounts-0-...): none of them
# goes into error mail.
@sensitive_post_parameters()
@roles(Role.OFFICER)
def case_new(request: HttpRequest) -> HttpResponse:
    """The new report (R13): the case, its victims and the accounts that received the money,
    with a stop-payment on each, in one submit (funds.services.intake)."""
    data = request.POST if request.method == "POST" else None
    form = CaseReportForm(
        data, initial={"reported_at": timezone.localtime().replace(second=0, microsecond=0)}
    )
    victims, accounts = intake_formsets(data)
    if data is not None and all([form.is_valid(), victims.is_valid(), accounts.is_valid()]):
        # Rows left empty are left out, so the service's indexes count the rows given.
        given: dict[str, list[forms.Form]] = {
            "victims": [f for f in victims.forms if f.has_changed()],
            "accounts": [f for f in accounts.forms if f.has_changed()],
        }
        try:
            result = intake_services.case_intake(
                actor=_user(request),
                victims=[_victim_intake(f.cleaned_data) for f in given["victims"]],
                accounts=[
                    intake_services.AccountIntake(**f.cleaned_data) for f in given["accounts"]
                ],
                **form.cleaned_data,
            )
        except PartRefused as error:
            target = given[error.part][error.index]
            target.add_error(error.field if error.field in target.fields else None, error.message)
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            sent = len(result.instructions)
            if sent:
                message = ngettext(
                    "Case %(number)s logged; %(count)d stop-payment sent.",
                    "Case %(number)s logged; %(count)d stop-payments sent.",
                    sent,
                ) % {"number": result.case.number, "count": sent}
            else:
                message = _(
                    "Case %(number)s logged. Add the account that received the money and stop it."
                ) % {"number": result.case.number}
            messages.success(request, message)
            anchor = "#instructions" if sent else "#add-account"
            return redirect(reverse("case-detail", args=[result.case.pk]) + anchor)
    return render(
        request,
        "funds/case_new.html",
        {"form": form, "victims": victims, "accounts": accounts},
        status=400 if data is not None else 200,
    )


def _victim_intake(data: dict[str, Any]) -> intake_services.VictimIntake:
    return intake_services.VictimIntake(
        name=data["name"],
        id_number=data["id_number"],
        phone=data["phone"],
        loss_amount=data["loss_amount"],
        account_institution=data.get("account_institution", ""),
        account_number=data.get("account_number", ""),
        account_holder_name=data.get("account_holder_name", ""),
    )


def _freeze_choices(instructions: Iterable[Instruction]) -> list[tuple[int, str]]:
    """The freezes in force, as a renewal, release or return may name them."""
    now = timezone.now()
    return [
        (i.pk, f"#{i.pk} {i.involved_account.account.number} {i.held_amount:,.2f}")
        for i in instructions
        if i.kind == InstructionKind.FREEZE and in_force(i, now)
    ]


def _transfers(case: Case) -> list[Transfer]:
    """The case's transfers, with each side that is a victim's own account marked, so that
    the page shows it masked as everywhere (PIPL art. 28)."""
    victims = selectors.victim_account_keys(case.pk)
    transfers = list(
        Transfer.objects.filter(case=case).select_related(
            "from_account__institution", "to_account__institution"
        )
    )
    for transfer in transfers:
        for side in ("from", "to"):
            account = getattr(transfer, f"{side}_account")
            own = (account.institution_id, account.number) in victims
            setattr(transfer, f"{side}_is_victims", own)
    return transfers


def _victims(case: Case) -> list[Victim]:
    """The case's victims with what each is still owed (R9), for the table and the forms."""
    return list(
        selectors.with_owed(Victim.objects.filter(case=case)).select_related("account_institution")
    )


def _case_page(request: HttpRequest, case: Case, status: int = 200, **forms: Any) -> HttpResponse:
    """Render the case file, with any bound forms that failed kept as typed."""
    case = selectors.with_totals(Case.objects.filter(pk=case.pk)).get()
    accounts = list(selectors.involved_accounts(case))
    victims = _victims(case)
    instructions = list(
        Instruction.objects.filter(case=case)
        .select_related(
            "institution", "involved_account__account", "requested_by", "approved_by", "victim"
        )
        .order_by("-requested_at", "-id")
    )
    freezes = _freeze_choices(instructions)
    now = acting_time.now()
    steps = approval_steps(i.pk for i in instructions)
    for instruction in instructions:
        # R12: how many freezes of other cases are ahead (a query per freeze in line only).
        instruction.queue_position = queue_position(instruction, now)  # type: ignore[attr-defined]
        instruction.steps = steps.get(instruction.pk, [])  # type: ignore[attr-defined]
        if instruction.sent_back_at is not None:
            instruction.resubmit_form = _resubmit_form(  # type: ignore[attr-defined]
                instruction,
                initial={
                    "amount": instruction.requested_amount,
                    "term_months": instruction.term_months,
                    "reason": instruction.reason,
                },
            )
    user = _user(request)
    rounds = list(
        selectors.with_round_details(AllocationRound.objects.filter(case=case)).order_by(
            "-opened_at", "-id"
        )
    )
    now = timezone.now()
    for allocation_round in rounds:
        in_notice = allocation_round.status == RoundStatus.NOTICE
        allocation_round.objections_open = in_notice and now < allocation_round.notice_until  # type: ignore[attr-defined]
        bound = forms.get("objection_form")
        allocation_round.objection_form = (  # type: ignore[attr-defined]
            bound
            if bound is not None and forms.get("round_pk") == allocation_round.pk
            else ObjectionForm(victims=victims, auto_id=f"objection_{allocation_round.pk}_%s")
        )
        bound = forms.get("withdraw_form")
        allocation_round.withdraw_form = (  # type: ignore[attr-defined]
            bound
            if bound is not None and forms.get("round_pk") == allocation_round.pk
            else WithdrawForm(auto_id=f"withdraw_{allocation_round.pk}_%s")
        )
    revealed = forms.get("revealed")
    for victim in victims:
        bound = forms.get("reveal_form")
        victim.reveal_form = (  # type: ignore[attr-defined]
            bound
            if bound is not None and forms.get("reveal_pk") == victim.pk
            else RevealForm(auto_id=f"reveal_{victim.pk}_%s")
        )
        # PIPL art. 28: in full only in the answer to this officer's reveal, never kept.
        victim.revealed = revealed is not None and revealed.pk == victim.pk  # type: ignore[attr-defined]
    for account in accounts:
        # Every other case's number is shown (API.md: ``other_cases``), so that the units
        # find each other; the holder name another case recorded only to those who may see
        # that case (accounts.scope).
        account.other_cases = sorted(  # type: ignore[attr-defined]
            (
                i.case.number,
                i.holder_name if can_see_unit(user, i.case.unit) else None,
            )
            for i in account.account.all_involvements  # type: ignore[attr-defined]
            if i.case_id != case.pk
        )
    context = {
        "case": case,
        "accounts": accounts,
        "victims": victims,
        "transfers": _transfers(case),
        "instructions": instructions,
        "flags": Flag.objects.filter(case=case, resolved_at__isnull=True)
        .select_related("instruction")
        .prefetch_related("escalations__unit"),
        "events": selectors.case_events(case),
        # Officers act on the case; once it is closed only releases and returns of money it
        # still holds (and withdrawing requests) remain, so those forms stay.
        "can_act": _user(request).role == Role.OFFICER,
        "case_open": case.status != CaseStatus.CLOSED,
        "is_manager": _user(request).role == Role.MANAGER,
        "filing_form": forms.get("filing_form") or FilingForm(auto_id=FILING_IDS),
        "victim_form": forms.get("victim_form") or VictimForm(auto_id=VICTIM_IDS),
        "account_form": forms.get("account_form") or AccountForm(auto_id=ACCOUNT_IDS),
        "transfer_form": forms.get("transfer_form") or TransferForm(auto_id=TRANSFER_IDS),
        "instruction_form": forms.get("instruction_form")
        or InstructionForm(
            accounts=accounts, freezes=freezes, victims=victims, auto_id=INSTRUCTION_IDS
        ),
        "rounds": rounds,
        "import_form": forms.get("import_form") or ImportForm(auto_id=IMPORT_IDS),
        "imports": StatementImport.objects.filter(case=case, dry_run=False)
        .select_related("created_by")
        .order_by("-created_at", "-id")[:50],
        "proposed_stops": proposed_stops(case, user),
        "round_form": forms.get("round_form") or RoundForm(freezes=freezes, auto_id=ROUND_IDS),
        # R10: every victim still owed takes part in a round, so needs an account first.
        "owed_without_account": [v for v in victims if v.owed > 0 and not v.has_account],  # type: ignore[attr-defined]
        "flow_labels": flow_labels(),
    }
    return render(request, "funds/case_detail.html", context, status=status)


@roles(*POLICE)
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _case_page(request, access_case(request.user, pk))


@require_POST
@roles(Role.OFFICER, Role.MANAGER)
def case_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    case = access_case(request.user, pk)
    user = _user(request)
    try:
        if action == "accept" and user.role == Role.OFFICER:
            case_services.case_accept(actor=user, case=case)
        elif action == "file" and user.role == Role.OFFICER:
            form = FilingForm(request.POST, auto_id=FILING_IDS)
            if not form.is_valid() or not attempt(
                form,
                lambda: case_services.case_file(
                    actor=user, case=case, filing_number=form.cleaned_data["filing_number"]
                ),
            ):
                return _case_page(request, case, status=400, filing_form=form)
        elif action == "close" and user.role == Role.MANAGER:
            case_services.case_close(actor=user, case=case)
        else:
            messages.error(request, _("Your role may not do this."))
            return redirect("case-detail", pk=case.pk)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("case-detail", pk=case.pk)
    messages.success(request, _("Done."))
    return redirect("case-detail", pk=case.pk)


@require_POST
@roles(Role.OFFICER)
@sensitive_post_parameters("name", "id_number", "phone", "account_number", "account_holder_name")
@sensitive_variables()
def victim_add(request: HttpRequest, pk: int) -> HttpResponse:
    case = access_case(request.user, pk)
    form = VictimForm(request.POST, auto_id=VICTIM_IDS)
    if form.is_valid():
        data = dict(form.cleaned_data)
        code = data.pop("account_institution")
        if attempt(
            form,
            lambda: case_services.victim_add(
                actor=_user(request),
                case=case,
                account_institution_code=code,
                account_field="account_institution",
                **data,
            ),
        ):
            messages.success(request, _("Victim added."))
            return redirect(reverse("case-detail", args=[case.pk]) + "#victims")
    return _case_page(request, case, status=400, victim_form=form)


@require_POST
@roles(Role.OFFICER)
@sensitive_post_parameters("reason")
@sensitive_variables()
def victim_reveal(request: HttpRequest, pk: int, victim_pk: int) -> HttpResponse:
    """Show one victim's own account number in full, to an officer of the case who says
    why; the answer is the case page with that number, never stored (no-store, no
    redirect), and the reveal is an audit event."""
    case = access_case(request.user, pk)
    form = RevealForm(request.POST, auto_id=f"reveal_{victim_pk}_%s")
    revealed: list[Victim] = []

    def reveal() -> None:
        revealed.append(
            case_services.victim_account_reveal(
                actor=_user(request),
                case=case,
                victim_id=victim_pk,
                reason=form.cleaned_data["reason"],
            )
        )

    if form.is_valid() and attempt(form, reveal):
        return _case_page(request, case, revealed=revealed[0])
    return _case_page(request, case, status=400, reveal_form=form, reveal_pk=victim_pk)


@require_POST
@roles(Role.OFFICER)
@sensitive_post_parameters("number", "holder_name")
@sensitive_variables()
def account_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Add an account and, in the same step, ask its institution to stop payment."""
    case = access_case(request.user, pk)
    form = AccountForm(request.POST, auto_id=ACCOUNT_IDS)
    if form.is_valid():
        data = form.cleaned_data
        user = _user(request)

        def add_and_stop() -> None:
            instruction_services.account_add_and_stop(
                actor=user,
                case=case,
                institution_code=data["institution"],
                number=data["number"],
                holder_name=data["holder_name"],
                layer=data["layer"],
                stop_amount=data["stop_amount"] if data["ask_stop"] else None,
            )

        if attempt(form, add_and_stop):
            messages.success(
                request,
                _("Account added and stop-payment sent.")
                if data["ask_stop"]
                else _("Account added."),
            )
            return redirect(reverse("case-detail", args=[case.pk]) + "#accounts")
    return _case_page(request, case, status=400, account_form=form)


@require_POST
@roles(Role.OFFICER)
@sensitive_post_parameters("from_number", "from_holder", "to_number", "to_holder")
@sensitive_variables()
def transfer_add(request: HttpRequest, pk: int) -> HttpResponse:
    case = access_case(request.user, pk)
    form = TransferForm(request.POST, auto_id=TRANSFER_IDS)
    if form.is_valid():
        d = form.cleaned_data
        if attempt(
            form,
            lambda: case_services.transfer_add(
                actor=_user(request),
                case=case,
                from_account={
                    "institution": d["from_institution"],
                    "number": d["from_number"],
                    "holder_name": d["from_holder"],
                },
                to_account={
                    "institution": d["to_institution"],
                    "number": d["to_number"],
                    "holder_name": d["to_holder"],
                },
                amount=d["amount"],
                occurred_at=d["occurred_at"],
                reference=d["reference"],
            ),
        ):
            messages.success(request, _("Transfer recorded."))
            return redirect(reverse("case-detail", args=[case.pk]) + "#transfers")
    return _case_page(request, case, status=400, transfer_form=form)


@require_POST
@roles(Role.OFFICER)
def instruction_add(request: HttpRequest, pk: int) -> HttpResponse:
    case = access_case(request.user, pk)
    accounts = list(selectors.involved_accounts(case))
    victims = _victims(case)
    freezes = _freeze_choices(
        Instruction.objects.filter(case=case, kind=InstructionKind.FREEZE).select_related(
            "involved_account__account"
        )
    )
    form = InstructionForm(
        request.POST, accounts=accounts, freezes=freezes, victims=victims, auto_id=INSTRUCTION_IDS
    )
    if form.is_valid():
        d = form.cleaned_data
        request_ = instruction_services.InstructionRequest(
            kind=d["kind"],
            involved_account_id=d.get("account") or None,
            amount=d.get("amount"),
            instrument_number=d.get("instrument_number") or "",
            term_months=d.get("term_months"),
            freeze_id=d.get("freeze") or None,
            victim_id=d.get("victim") or None,
            reason=d.get("reason") or "",
        )
        if attempt(
            form,
            lambda: instruction_services.instruction_request(
                actor=_user(request), case=case, request=request_
            ),
        ):
            messages.success(request, _("Request sent."))
            return redirect(reverse("case-detail", args=[case.pk]) + "#instructions")
    return _case_page(request, case, status=400, instruction_form=form)


@require_POST
@roles(Role.OFFICER)
def instruction_officer_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Cancel an instruction, or verify a freeze's funds (R8)."""
    instruction = access_instruction(request.user, pk)
    user = _user(request)
    try:
        if action == "cancel":
            instruction_services.instruction_cancel(actor=user, instruction=instruction)
        elif action == "verify":
            instruction_services.freeze_verify(actor=user, freeze=instruction)
        else:
            raise DomainError(_("Unknown action."))
        messages.success(request, _("Done."))
    except DomainError as error:
        messages.error(request, error.message)
    return redirect(reverse("case-detail", args=[instruction.case_id]) + "#instructions")


def _resubmit_form(instruction: Instruction, **kwargs: Any) -> ResubmitForm:
    """The correction form of a request sent back, with the fields its kind has."""
    form = ResubmitForm(auto_id=f"resubmit_{instruction.pk}_%s", **kwargs)
    if instruction.kind not in TERMED_KINDS:
        del form.fields["term_months"]
    if instruction.kind not in REASONED_KINDS:
        del form.fields["reason"]
    return form


@require_POST
@roles(Role.OFFICER)
def instruction_resubmit(request: HttpRequest, pk: int) -> HttpResponse:
    """Correct a request sent back for correction and put it before the approver again."""
    instruction = access_instruction(request.user, pk)
    form = _resubmit_form(instruction, data=request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            text = " ".join(str(error) for error in errors)
            messages.error(request, f"{label}: {text}" if label else text)
    else:
        data = form.cleaned_data
        correction = Correction(
            note=data["note"],
            amount=data["amount"],
            term_months=data.get("term_months"),
            instrument_number=data["instrument_number"] or None,
            reason=data.get("reason"),
        )
        try:
            instruction_resubmit_service(
                actor=_user(request), instruction=instruction, correction=correction
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Corrected and put before the approver again."))
    return redirect(reverse("case-detail", args=[instruction.case_id]) + "#instructions")


@require_POST
@roles(Role.OFFICER)
def round_open(request: HttpRequest, pk: int) -> HttpResponse:
    """R10: open an allocation round over a freeze, published for the public notice."""
    case = access_case(request.user, pk)
    freezes = _freeze_choices(
        Instruction.objects.filter(case=case, kind=InstructionKind.FREEZE).select_related(
            "involved_account__account"
        )
    )
    form = RoundForm(request.POST, freezes=freezes, auto_id=ROUND_IDS)
    if form.is_valid() and attempt(
        form,
        lambda: round_services.round_open(
            actor=_user(request), case=case, freeze_id=form.cleaned_data["freeze"]
        ),
    ):
        messages.success(request, _("Round opened and published for the public notice."))
        return redirect(reverse("case-detail", args=[case.pk]) + "#rounds")
    return _case_page(request, case, status=400, round_form=form)


def _access_round(request: HttpRequest, pk: int) -> tuple[AllocationRound, Case]:
    allocation_round = access_round(request.user, pk)
    return allocation_round, access_case(request.user, allocation_round.case_id)


@require_POST
@roles(Role.OFFICER)
def round_object(request: HttpRequest, pk: int) -> HttpResponse:
    """Record an objection to a round during its public notice."""
    allocation_round, case = _access_round(request, pk)
    form = ObjectionForm(
        request.POST, victims=_victims(case), auto_id=f"objection_{allocation_round.pk}_%s"
    )
    if form.is_valid() and attempt(
        form,
        lambda: round_services.round_object(
            actor=_user(request),
            allocation_round=allocation_round,
            victim_id=form.cleaned_data["victim"],
            reason=form.cleaned_data["reason"],
        ),
    ):
        messages.success(request, _("Objection recorded."))
        return redirect(reverse("case-detail", args=[case.pk]) + f"#round-{allocation_round.pk}")
    return _case_page(request, case, status=400, objection_form=form, round_pk=allocation_round.pk)


@require_POST
@roles(Role.OFFICER)
def round_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    """Withdraw a round not yet confirmed, freeing what it reserved."""
    allocation_round, case = _access_round(request, pk)
    form = WithdrawForm(request.POST, auto_id=f"withdraw_{allocation_round.pk}_%s")
    if form.is_valid() and attempt(
        form,
        lambda: round_services.round_withdraw(
            actor=_user(request),
            allocation_round=allocation_round,
            reason=form.cleaned_data["reason"],
        ),
    ):
        messages.success(request, _("Round withdrawn; a corrected one may be opened."))
        return redirect(reverse("case-detail", args=[case.pk]) + f"#round-{allocation_round.pk}")
    return _case_page(request, case, status=400, withdraw_form=form, round_pk=allocation_round.pk)
