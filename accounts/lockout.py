"""Sign-in lock-out (django-axes): by username and, separately, by address.

AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"] makes axes count the failures of a
username from every address and those of an address for every username. Its stock handler
compares both with one limit; a police station's officers often share one address, so the
address has a limit of its own (AXES_ADDRESS_FAILURE_LIMIT), higher than the username's.
"""

from math import ceil
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

LOCKED_OUT_CODE = "locked_out"


def _failures(attempts: QuerySet[AccessAttempt]) -> int:
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


class LockoutHandler(AxesDatabaseHandler):
    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        """The username's failures, or the limit itself once the address reached its own."""
        by_username, by_address = self.get_user_attempts(request, credentials)
        failures = _failures(by_username)
        if _failures(by_address) >= settings.AXES_ADDRESS_FAILURE_LIMIT:
            return max(failures, get_failure_limit(request, credentials))
        return failures

    def reset_user_attempts(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> int:
        """Forget the username's failures after its sign-in, not the address's others.

        A success proves the password of one user: an address spraying other usernames must
        not get its count wiped by signing in to an account of its own in between.
        """
        username = get_client_username(request, credentials)
        count, _deleted = AccessAttempt.objects.filter(username=username).delete()
        return count


def lockout_message() -> str:
    minutes = ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    return _(
        "Too many failed sign-ins for this username or from this address. "
        "Try again in %(minutes)d minutes."
    ) % {"minutes": minutes}


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, object] | None = None,
) -> HttpResponse:
    """429 with how long to wait: JSON for the API, a page for people."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": lockout_message(), "code": LOCKED_OUT_CODE}, status=429)
    return render(
        request, "registration/locked_out.html", {"message": lockout_message()}, status=429
    )
