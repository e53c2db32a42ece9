"""Sign-in, sign-out and the landing page."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

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
