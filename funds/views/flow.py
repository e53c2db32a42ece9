"""The fund flow on the case file: the side panel of one node of the graph (static/js/graph.js
draws the graph from GET /api/v1/cases/{id}/graph/ and asks here for a clicked node)."""

from __future__ import annotations

from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from accounts.models import Role
from funds.access import access_case
from funds.masking import mask_account_number
from funds.models import BankAccount, Instruction, InvolvedAccount, Stage, Transfer, Victim
from funds.views.common import roles

POLICE = (Role.OFFICER, Role.MANAGER, Role.AUDITOR)
# The panel lists the latest transfers of a node; the case file's table has them all.
PANEL_TRANSFERS = 50


@roles(*POLICE)
def flow_node(request: HttpRequest, pk: int, node: str) -> HttpResponse:
    """One node's transfers (in and out, latest first) and the requests on its account."""
    case = access_case(request.user, pk)
    victim = None
    if node[:1] == "v" and node[1:].isdigit():
        victim = Victim.objects.filter(case=case, pk=int(node[1:])).first()
        if victim is None:
            raise Http404
        bank_account = (
            BankAccount.objects.filter(
                institution_id=victim.account_institution_id, number=victim.account_number
            ).first()
            if victim.has_account
            else None
        )
    elif node[:1] == "a" and node[1:].isdigit():
        bank_account = BankAccount.objects.filter(pk=int(node[1:])).first()
        if bank_account is None:
            raise Http404
    else:
        raise Http404
    transfers = Transfer.objects.none()
    involved = None
    instructions = Instruction.objects.none()
    if bank_account is not None:
        transfers = (
            Transfer.objects.filter(case=case)
            .filter(Q(from_account=bank_account) | Q(to_account=bank_account))
            .select_related("from_account__institution", "to_account__institution")
            .order_by("-occurred_at", "-id")
        )
        involved = (
            InvolvedAccount.objects.filter(case=case, account=bank_account)
            .select_related("account__institution")
            .first()
        )
        instructions = (
            Instruction.objects.filter(case=case, involved_account__account=bank_account)
            .select_related("institution")
            .order_by("-requested_at", "-id")
        )
        if involved is None and victim is None and not transfers.exists():
            raise Http404  # an account that has nothing to do with this case
    # Victims' own accounts stay masked wherever they show (funds.masking).
    victim_cards = set(
        Victim.objects.filter(case=case)
        .exclude(account_number="")
        .values_list("account_institution_id", "account_number")
    )
    number = ""
    if bank_account is not None:
        number = bank_account.number
        if victim is not None or (bank_account.institution_id, number) in victim_cards:
            number = mask_account_number(number)
    rows = []
    for transfer in transfers[:PANEL_TRANSFERS]:
        outgoing = transfer.from_account_id == (bank_account.pk if bank_account else None)
        other = transfer.to_account if outgoing else transfer.from_account
        other_number = other.number
        if (other.institution_id, other_number) in victim_cards:
            other_number = mask_account_number(other_number)
        rows.append(
            {"transfer": transfer, "outgoing": outgoing, "other": other, "number": other_number}
        )
    return render(
        request,
        "funds/_flow_node.html",
        {
            "case": case,
            "victim": victim,
            "bank_account": bank_account,
            "number": number,
            "involved": involved,
            "rows": rows,
            "transfer_count": transfers.count(),
            "instructions": instructions,
        },
    )


def flow_labels() -> dict[str, object]:
    """What static/js/graph.js writes on the graph, translated here (json_script)."""
    return {
        "stages": {str(value): str(label) for value, label in Stage.choices},
        "victim": _("Victim"),
        "unlisted": _("Seen in transfers only"),
        "layer": _("Layer %(layer)s"),
        "unlistedColumn": _("Not involved"),
        "more": _("%(count)s accounts without requests"),
        "collapsed": _(
            "%(count)s accounts: those without requests are grouped by layer; click a group "
            "for its accounts."
        ),
        "transfers": _("%(count)s transfers"),
        "loading": _("Loading…"),
        "failed": _("The graph could not be loaded."),
        "empty": _("No transfer yet: record or import the statements to draw the fund flow."),
        "groupTitle": _("Accounts without requests in this group"),
    }
