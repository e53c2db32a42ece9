"""Bank accounts involved in two or more cases of a manager's subtree (DOMAIN.md, "Money
across cases"): the units that chase the same mule account find each other here.

Only involvements inside the user's subtree count and show, so every case listed is one the
user may open. A page costs three queries whatever the province's size: the count, one
GROUP BY over the subtree's involvements for the page's accounts (newest involvement first),
and the involvements of those accounts with their cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Max, QuerySet, Sum

from accounts.scope import filter_by_unit
from funds.access import AnyUser
from funds.models import InvolvedAccount, Stage
from funds.models.money import ZERO

MIN_CASES = 2
PAGE_SIZE = 25


@dataclass
class SharedCase:
    id: int
    number: str
    unit: str
    holder_name: str
    layer: int
    stage: str
    held: Decimal
    involved_at: datetime

    @property
    def stage_label(self) -> str:
        return str(Stage(self.stage).label)


@dataclass
class SharedAccount:
    id: int
    institution: str
    institution_name: str
    number: str
    case_count: int
    held: Decimal
    latest_involvement: datetime
    cases: list[SharedCase] = field(default_factory=list)


def _involvements(user: AnyUser) -> QuerySet[InvolvedAccount]:
    return filter_by_unit(InvolvedAccount.objects.all(), user, field="case__unit")


def shared_accounts(user: AnyUser) -> QuerySet[Any, Any]:
    """One row per bank account involved in two or more of the user's cases: ``account_id``,
    ``case_count``, ``held`` (frozen - released - returned, over those cases) and ``latest``
    (its newest involvement), newest first."""
    return (
        _involvements(user)
        .order_by()
        .values("account_id")
        .annotate(
            case_count=Count("case_id", distinct=True),
            held=Sum(F("frozen_amount") - F("released_amount") - F("returned_amount")),
            latest=Max("created_at"),
        )
        .filter(case_count__gte=MIN_CASES)
        .order_by("-latest", "-account_id")
    )


def shared_accounts_page(
    user: AnyUser, page_number: str | None, per_page: int = PAGE_SIZE
) -> Page[Any]:
    """A page of shared accounts as SharedAccount objects, each with its cases (newest first)."""
    page = Paginator(shared_accounts(user), per_page).get_page(page_number)
    rows: list[dict[str, Any]] = list(page.object_list)
    ids = [row["account_id"] for row in rows]
    details = (
        _involvements(user)
        .filter(account_id__in=ids)
        .select_related("account__institution", "case__unit")
        .order_by("-created_at", "-id")
    )
    accounts: dict[int, SharedAccount] = {}
    by_id = {row["account_id"]: row for row in rows}
    for involvement in details:
        row = by_id[involvement.account_id]
        bank_account = involvement.account
        shared = accounts.get(bank_account.pk)
        if shared is None:
            shared = accounts[bank_account.pk] = SharedAccount(
                id=bank_account.pk,
                institution=bank_account.institution.code,
                institution_name=bank_account.institution.name,
                number=bank_account.number,
                case_count=row["case_count"],
                held=row["held"] or ZERO,
                latest_involvement=row["latest"],
            )
        shared.cases.append(
            SharedCase(
                id=involvement.case_id,
                number=involvement.case.number,
                unit=involvement.case.unit.name,
                holder_name=involvement.holder_name,
                layer=involvement.layer,
                stage=involvement.stage,
                held=involvement.held_amount,
                involved_at=involvement.created_at,
            )
        )
    page.object_list = [accounts[i] for i in ids if i in accounts]
    return page
