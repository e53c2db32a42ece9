"""Sign-in (password, then the second factor's code), sign-out, enrolment and the landing page."""

from base64 import b32encode

import django_otp
import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.forms import Form
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.forms import SignInCodeForm, SignInForm, TotpConfirmForm
from accounts.mfa import (
    MfaError,
    WrongCode,
    has_second_factor,
    otp_verify,
    recovery_codes_left,
    recovery_codes_regenerate,
    totp_device,
    totp_enrol_confirm,
    totp_enrol_start,
    totp_pending,
)
from accounts.middleware import HAS_DEVICE, SECOND_FACTOR_KEY
from accounts.models import User

# The first step's result, kept in the session until the code is given: whose password was
# right, when, and the password's fingerprint (a password changed meanwhile voids it).
PENDING_KEY = "casetracker_sign_in_pending"
PENDING_FOR = 300  # seconds to give the code in


class SignInView(auth_views.LoginView):
    """Username and password; a user with a second factor is then asked for the code.

    A wrong password counts as a failure for django-axes; a wrong code is throttled by the
    device (django-otp: 1, 2, 4 ... seconds before it checks another code).
    """

    form_class = SignInForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: SignInForm) -> HttpResponse:  # type: ignore[override]
        user = form.get_user()
        if not has_second_factor(user):
            return super().form_valid(form)
        self.request.session[PENDING_KEY] = {
            "user": user.pk,
            "fingerprint": user.get_session_auth_hash(),
            "at": timezone.now().timestamp(),
            "next": self.get_redirect_url(),
        }
        return redirect("login-code")


def _pending_user(request: HttpRequest) -> tuple[User, str] | None:
    pending = request.session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    if timezone.now().timestamp() - float(pending.get("at", 0)) > PENDING_FOR:
        return None
    user = get_user_model().objects.filter(pk=int(pending.get("user", 0)), is_active=True).first()
    if user is None or not constant_time_compare(
        pending.get("fingerprint", ""), user.get_session_auth_hash()
    ):
        return None
    return user, str(pending.get("next") or "")


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
def sign_in_code(request: HttpRequest) -> HttpResponse:
    """The second step of sign-in: the authenticator's code or a recovery code."""
    pending = _pending_user(request)
    if pending is None:
        request.session.pop(PENDING_KEY, None)
        messages.warning(request, _("Sign in again: enter your username and password."))
        return redirect("login")
    user, next_url = pending
    form = SignInCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = otp_verify(
            user=user, code=form.cleaned_data["code"], ip_address=request.META.get("REMOTE_ADDR")
        )
        if device is None:
            form.add_error(
                "code",
                _(
                    "The code is wrong or was already used. After a wrong code, wait a few "
                    "seconds before the next one."
                ),
            )
        else:
            del request.session[PENDING_KEY]
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            django_otp.login(request, device)
            if not url_has_allowed_host_and_scheme(
                next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
            ):
                next_url = resolve_url(settings.LOGIN_REDIRECT_URL)
            return HttpResponseRedirect(next_url)
    return render(request, "registration/login_code.html", {"form": form, "username": user})


class SignOutView(auth_views.LogoutView):
    pass


def _show_recovery_codes(request: HttpRequest, codes: list[str]) -> HttpResponse:
    response = render(request, "registration/recovery_codes.html", {"codes": codes})
    add_never_cache_headers(response)  # shown once: never kept by a browser or a proxy
    return response


def _enrolment_context(device: TOTPDevice, form: Form) -> dict[str, object]:
    uri = device.config_url
    return {
        "form": form,
        "qr_svg": segno.make(uri, error="m").svg_inline(scale=4, title=_("QR code to scan")),
        "secret": b32encode(device.bin_key).decode(),
        "otpauth_uri": uri,
    }


@login_required
@never_cache
def mfa_setup(request: HttpRequest) -> HttpResponse:
    """Set up the second factor (QR code, then a code to confirm) or renew recovery codes."""
    user = request.user
    assert isinstance(user, User)
    address = request.META.get("REMOTE_ADDR")
    device = totp_device(user)
    if device is not None:
        if request.method == "POST" and request.POST.get("action") == "recovery":
            return _show_recovery_codes(
                request, recovery_codes_regenerate(actor=user, ip_address=address)
            )
        return render(
            request,
            "registration/mfa_enrolled.html",
            {"device": device, "codes_left": recovery_codes_left(user)},
        )
    pending = totp_pending(user) or totp_enrol_start(actor=user)
    form = TotpConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = totp_enrol_confirm(
                actor=user, code=form.cleaned_data["code"], ip_address=address
            )
        except WrongCode as refusal:
            form.add_error("code", refusal.message)
        except MfaError as refusal:
            messages.error(request, refusal.message)
            return redirect("mfa")
        else:
            pending.refresh_from_db()
            # This session was just verified by the device it confirmed.
            django_otp.login(request, pending)
            request.session[SECOND_FACTOR_KEY] = HAS_DEVICE
            return _show_recovery_codes(request, codes)
    return render(request, "registration/mfa_setup.html", _enrolment_context(pending, form))


# Where each role starts its work.
START_PAGE = {"officer": "case-list", "manager": "desk", "auditor": "desk", "liaison": "inbox"}


@login_required
def home(request: HttpRequest) -> HttpResponse:
    page = START_PAGE.get(getattr(request.user, "role", ""))
    if page:
        return redirect(page)
    if getattr(request.user, "role", "") == "admin":
        return redirect("admin:index")
    return render(request, "home.html")


class PasswordChangeView(auth_views.PasswordChangeView):
    """Change one's own password (the old one first). The session goes on (Django keeps it
    with the new hash); every API token issued before ends, as the password it was issued
    under is gone (accounts.credentials)."""

    template_name = "registration/password_change.html"
    success_url = reverse_lazy("password-change-done")


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "registration/password_change_done.html"
