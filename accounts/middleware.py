"""Absolute session lifetime, on top of the idle timeout that the cookie age gives."""

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

SESSION_STARTED_KEY = "casetracker_signed_in_at"


class SessionLifetimeMiddleware:
    """Sign the user out once SESSION_MAX_AGE has passed since sign-in, however active.

    The idle timeout is SESSION_COOKIE_AGE with SESSION_SAVE_EVERY_REQUEST: each request
    pushes the expiry forward, so without this an active session would never end.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = timezone.now().timestamp()
            started = request.session.get(SESSION_STARTED_KEY)
            if started is None:
                request.session[SESSION_STARTED_KEY] = now
            elif now - float(started) > settings.SESSION_MAX_AGE.total_seconds():
                logout(request)
        return self.get_response(request)


def record_sign_in_time(sender: object, request: HttpRequest, **kwargs: object) -> None:
    """Start the absolute session clock at sign-in (connected in AccountsConfig.ready)."""
    request.session[SESSION_STARTED_KEY] = timezone.now().timestamp()
