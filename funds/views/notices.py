"""The notices page and the header's bell: every notice is in the page, whatever mail does."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from accounts.middleware import passive
from accounts.models import User
from funds import selectors
from funds.access import access_notification
from funds.services import notifications as notification_services
from funds.views.common import is_htmx

PER_PAGE = 25


def _listing(request: HttpRequest) -> dict[str, Any]:
    """The page of notices that the query asks for (``show=unread``, ``page=``)."""
    unread = request.GET.get("show") == "unread"
    paginator = Paginator(selectors.notification_list(request.user, unread=unread), PER_PAGE)
    page: Page[Any] = paginator.get_page(request.GET.get("page"))
    return {
        "page": page,
        "show": "unread" if unread else "all",
        # Where the forms of the page send the browser back to when there is no htmx.
        "next_url": f"{reverse('notices')}?show={'unread' if unread else 'all'}&page={page.number}",
        "unread_notices": selectors.notification_unread_count(request.user),
        "notice_poll_seconds": settings.NOTICE_POLL_SECONDS,
    }


@login_required
def notices(request: HttpRequest) -> HttpResponse:
    return render(request, "funds/notices.html", _listing(request))


@passive
@login_required
def notices_list(request: HttpRequest) -> HttpResponse:
    """The list alone, polled by the notices page's first page (htmx)."""
    return render(request, "funds/_notice_list.html", _listing(request))


@passive
@login_required
def notices_bell(request: HttpRequest) -> HttpResponse:
    """The header's bell alone, polled by every page (htmx)."""
    return render(request, "funds/_notice_bell.html")


def _back(request: HttpRequest) -> HttpResponse:
    """Back to the page of notices the form was sent from (its ``next``), else the first."""
    target = request.POST.get("next", "")
    if not (
        target.startswith(reverse("notices"))
        and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
    ):
        target = reverse("notices")
    return redirect(target)


@require_POST
@login_required
def notice_read(request: HttpRequest, pk: int) -> HttpResponse:
    note = access_notification(request.user, pk)
    note = notification_services.notification_read(
        actor=cast(User, request.user), notification=note
    )
    if is_htmx(request):
        # The notice in place; the bell, told by the HX-Trigger event, asks for its count.
        note = selectors.notification_list(request.user).get(pk=note.pk)
        response = render(request, "funds/_notice.html", {"note": note})
        response["HX-Trigger"] = "notices-changed"
        return response
    return _back(request)


@require_POST
@login_required
def notices_read_all(request: HttpRequest) -> HttpResponse:
    count = notification_services.notifications_mark_all_read(actor=cast(User, request.user))
    messages.success(
        request,
        ngettext("%(count)d notice marked read.", "%(count)d notices marked read.", count)
        % {"count": count},
    )
    return _back(request)
