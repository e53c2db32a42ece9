"""The answer to a locked-out sign-in (django-axes' AXES_LOCKOUT_CALLABLE)."""

from math import ceil

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

LOCKED_OUT_CODE = "locked_out"


def lockout_message() -> str:
    minutes = ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    return _(
        "Too many failed sign-ins for this username from this address. Try again in %(minutes)d minutes."
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
