"""Session lifetimes: the absolute maximum on top of the idle timeout, and passive requests.

The idle timeout is SESSION_COOKIE_AGE with SESSION_SAVE_EVERY_REQUEST: each request pushes
the expiry forward. A page that polls (the bell's count, the inbox's rows) would so keep an
idle session alive for ever; its views are marked ``passive`` and their requests neither save
the session nor renew its cookie, so an idle user is still signed out after
SESSION_IDLE_TIMEOUT while the page goes on polling.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.contrib.sessions import middleware as session_middleware
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, resolve_url
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme

SESSION_STARTED_KEY = "casetracker_signed_in_at"
PASSIVE_ATTRIBUTE = "casetracker_passive"

View = Callable[..., HttpResponse]


def is_passive(request: HttpRequest) -> bool:
    return bool(getattr(request, PASSIVE_ATTRIBUTE, False))


def _page_path(request: HttpRequest) -> str | None:
    """The path of the page that sent an htmx request (its HX-Current-URL), if it is ours."""
    current = request.headers.get("HX-Current-URL", "")
    if not current or not url_has_allowed_host_and_scheme(
        current, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return None
    parts = urlsplit(current)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def passive(view: View) -> View:
    """Mark a polled view passive: its request does not extend the idle session.

    Once the session has ended, the poll answers so that htmx takes the browser to sign-in
    (HX-Redirect, with the page as ``next``) instead of failing silently or swapping the
    sign-in form into the page; a request not from htmx gets the usual redirect.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        setattr(request, PASSIVE_ATTRIBUTE, True)
        if not request.user.is_authenticated:
            if request.headers.get("HX-Request") == "true":
                page = _page_path(request)
                response = HttpResponse(status=204)
                response["HX-Redirect"] = (
                    redirect_to_login(page)["Location"] if page else resolve_url(settings.LOGIN_URL)
                )
                return response
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapped


class SessionMiddleware(session_middleware.SessionMiddleware):
    """Django's session middleware, except that a passive request saves nothing.

    It neither writes the session (which would move its expiry in the store) nor sets the
    cookie again (which would move the browser's). A session emptied by the request (the
    absolute maximum ended it) is still deleted, cookie and all, by Django's own code.
    """

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and is_passive(request) and not session.is_empty():
            # The session was read to find the user: the answer varies on the cookie.
            patch_vary_headers(response, ("Cookie",))
            return response
        return super().process_response(request, response)


class SessionLifetimeMiddleware:
    """Sign the user out once SESSION_MAX_AGE has passed since sign-in, however active.

    The idle timeout is SESSION_COOKIE_AGE with SESSION_SAVE_EVERY_REQUEST: each request
    (but a passive one) pushes the expiry forward, so without this an active session would
    never end.
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


# Whether the signed-in user had a second factor at sign-in: "device" or "none". Kept in
# the session so that users without one cost no query per request.
SECOND_FACTOR_KEY = "casetracker_second_factor"
HAS_DEVICE, NO_DEVICE = "device", "none"


def record_second_factor(sender: object, request: HttpRequest, user: Any, **kwargs: object) -> None:
    """Note at sign-in whether the user has a second factor (connected in AccountsConfig.ready)."""
    from accounts.mfa import has_second_factor

    request.session[SECOND_FACTOR_KEY] = HAS_DEVICE if has_second_factor(user) else NO_DEVICE


def _reaches_without_enrolment(path: str) -> bool:
    """Paths that a user who must enrol still reaches (the API answers for itself)."""
    return path == resolve_url("mfa") or path.startswith(
        (
            resolve_url("logout"),
            settings.STATIC_URL,
            "/healthz",
            "/i18n/",
            "/api/",
        )
    )


class SecondFactorMiddleware:
    """Pages' side of the second factor (after OTPMiddleware).

    A session of a user who has a device but was not verified by it (signed in before the
    device, or by another route, or the device was reset since) is signed out. A user whose
    role is in MFA_REQUIRED_ROLES and who has no device is sent to enrolment.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from accounts.mfa import has_second_factor, must_enrol_role

        user: Any = request.user
        if not user.is_authenticated:
            return self.get_response(request)
        state = request.session.get(SECOND_FACTOR_KEY)
        if state is None:  # a session from before the second factor existed
            state = HAS_DEVICE if has_second_factor(user) else NO_DEVICE
            request.session[SECOND_FACTOR_KEY] = state
        elif state == NO_DEVICE and must_enrol_role(user) and has_second_factor(user):
            state = HAS_DEVICE  # enrolled since, by the API: this session was never verified
        if state == HAS_DEVICE and not user.is_verified():
            logout(request)
            if request.path.startswith("/api/"):
                return self.get_response(request)  # anonymous now: the API answers 401/403
            return redirect_to_login(request.get_full_path())
        if (
            state == NO_DEVICE
            and must_enrol_role(user)
            and not _reaches_without_enrolment(request.path)
        ):
            if request.headers.get("HX-Request") == "true":
                response = HttpResponse(status=204)
                response["HX-Redirect"] = resolve_url("mfa")
                return response
            return redirect("mfa")
        return self.get_response(request)


class NoStoreMiddleware:
    """``Cache-Control: no-store`` on every response the application renders (PIPL art. 28).

    Pages and API answers carry personal data (victims, account numbers) and a shared
    computer's browser or a proxy must keep none of them; telling the ones that do from the
    ones that do not is not worth the risk, so every dynamic response gets it. Static files
    never reach this middleware (WhiteNoise answers them before it; in DEBUG the staticfiles
    view is let through too). A response that already forbids storing keeps its header.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(settings.STATIC_URL):
            return response
        if "no-store" not in response.get("Cache-Control", ""):
            patch_cache_control(response, no_store=True)
        return response
