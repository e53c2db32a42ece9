"""Sign-in, sign-out and the landing page."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.forms import SignInForm


class SignInView(auth_views.LoginView):
    form_class = SignInForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True


class SignOutView(auth_views.LogoutView):
    pass


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


@never_cache
@require_GET
def health(request: HttpRequest) -> HttpResponse:
    """Liveness and database reachability, for the load balancer.

    Also whether the R11 calendar covers the coming year (cached); a missing year is a
    warning for the operators, not a failure of this process, so the status stays 200.
    """
    # Imported here: accounts otherwise knows nothing of funds; only this check reaches over.
    from funds.services.calendar import calendar_coverage_cached

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "calendar": calendar_coverage_cached().as_json()})
