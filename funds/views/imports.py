"""The case file's statement imports (upload, preview, commit, progress) and its proposed
stop-payments (docs/imports.md)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from accounts.middleware import passive
from accounts.models import Role, User
from funds.access import access_case, access_import
from funds.errors import DomainError
from funds.forms import institution_choices, set_choices
from funds.models import StatementImport
from funds.services import imports as import_services
from funds.services.proposed_stops import proposed_stops_send
from funds.statements.templates import TEMPLATE_LIST
from funds.views.common import attempt, is_htmx, roles

POLICE = (Role.OFFICER, Role.MANAGER, Role.AUDITOR)
IMPORT_IDS = "import_%s"


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


class ImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("Statement file (CSV or XLSX)"))
    template = forms.ChoiceField(label=gettext_lazy("Template"), required=False)
    institution = forms.ChoiceField(
        label=gettext_lazy("Returned by (for a bank's or payment institution's return)"),
        required=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(
            self.fields["template"],
            [("", _("Detect from the header")), *[(t.name, str(t.label)) for t in TEMPLATE_LIST]],
        )
        set_choices(self.fields["institution"], [("", "—"), *institution_choices()])


def _start(statement_import: StatementImport) -> None:
    """Run a small import now; queue a large one for the worker."""
    if import_services.runs_inline(statement_import):
        import_services.statement_import_run(import_id=statement_import.pk)
    else:
        import_services.statement_import_queue(statement_import)


@require_POST
@roles(Role.OFFICER)
def import_upload(request: HttpRequest, pk: int) -> HttpResponse:
    """Keep the file and preview it (a dry run): nothing is written until it is committed."""
    case = access_case(request.user, pk)
    form = ImportForm(request.POST, request.FILES, auto_id=IMPORT_IDS)
    created: list[StatementImport] = []
    if form.is_valid():
        upload = form.cleaned_data["file"]
        if attempt(
            form,
            lambda: created.append(
                import_services.statement_import_create(
                    actor=_user(request),
                    case=case,
                    upload=upload.chunks(),
                    file_name=upload.name or "statement",
                    template=form.cleaned_data["template"],
                    institution_code=form.cleaned_data["institution"],
                    dry_run=True,
                )
            ),
        ):
            _start(created[0])
            return redirect("statement-import", pk=created[0].pk)
    from funds.views.officer import _case_page  # officer imports this module's form

    return _case_page(request, case, status=400, import_form=form)


def _import_context(request: HttpRequest, statement_import: StatementImport) -> dict[str, Any]:
    return {
        "import": statement_import,
        "case": statement_import.case,
        "progress": import_services.import_progress(statement_import),
        "can_commit": _user(request).role == Role.OFFICER
        and statement_import.dry_run
        and statement_import.status == "done"
        and not statement_import.error_count,
        "more_errors": statement_import.error_count - len(statement_import.errors),
    }


@roles(*POLICE)
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The preview (every invalid row and column, or what would be written), or the
    outcome of a committed import; while it runs, its progress, polled."""
    statement_import = access_import(request.user, pk)
    return render(request, "funds/import_detail.html", _import_context(request, statement_import))


@passive
@roles(*POLICE)
def import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress bar alone, polled every 2 s; once finished, the page reloads itself."""
    statement_import = access_import(request.user, pk)
    response = render(
        request, "funds/_import_progress.html", _import_context(request, statement_import)
    )
    if statement_import.is_finished and is_htmx(request):
        response["HX-Refresh"] = "true"
    return response


@require_POST
@roles(Role.OFFICER)
def import_commit(request: HttpRequest, pk: int) -> HttpResponse:
    """Commit a clean preview: the kept file (named by its SHA-256) runs for real."""
    statement_import = access_import(request.user, pk)
    try:
        statement_import = import_services.statement_import_commit(
            actor=_user(request),
            statement_import=statement_import,
            sha256=request.POST.get("sha256", ""),
        )
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("statement-import", pk=statement_import.pk)
    _start(statement_import)
    statement_import.refresh_from_db()
    if statement_import.status == "done":
        messages.success(
            request,
            _("Imported: %(created)d transfers created, %(skipped)d skipped.")
            % {"created": statement_import.created, "skipped": statement_import.skipped},
        )
        return redirect(reverse("case-detail", args=[statement_import.case_id]) + "#imports")
    return redirect("statement-import", pk=statement_import.pk)


@require_POST
@roles(Role.OFFICER)
def proposed_stops_page_send(request: HttpRequest, pk: int) -> HttpResponse:
    """Send stop-payments for the proposed accounts the officer ticked."""
    case = access_case(request.user, pk)
    chosen = [int(v) for v in request.POST.getlist("account") if v.isdigit()]
    try:
        results = proposed_stops_send(actor=_user(request), case=case, involved_account_ids=chosen)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect(reverse("case-detail", args=[case.pk]) + "#proposed-stops")
    sent = sum(1 for r in results if r.instruction)
    if sent:
        messages.success(
            request,
            ngettext("%(n)d stop-payment sent.", "%(n)d stop-payments sent.", sent) % {"n": sent},
        )
    for result in results:
        if result.error:
            messages.error(request, result.error)
    return redirect(reverse("case-detail", args=[case.pk]) + "#proposed-stops")
