"""The managers' list of bank accounts involved in two or more cases of their subtree."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import Role
from funds.shared_accounts import shared_accounts_page
from funds.views.common import roles


@roles(Role.MANAGER, Role.AUDITOR)
def shared_accounts(request: HttpRequest) -> HttpResponse:
    page = shared_accounts_page(request.user, request.GET.get("page"))
    return render(request, "funds/shared_accounts.html", {"page": page, "query": request.GET})
