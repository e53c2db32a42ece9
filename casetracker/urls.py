from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from accounts import views as account_views
from accounts.urls import api_urlpatterns as account_api
from casetracker import health, metrics
from funds.api.urls import api_urlpatterns as funds_api

# Under /api/ these answer JSON (API.md, "Errors"); elsewhere Django's pages.
handler400 = "casetracker.errors.bad_request"
handler404 = "casetracker.errors.not_found"
handler500 = "casetracker.errors.server_error"

api_v1 = [
    *account_api,
    *funds_api,
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
]

urlpatterns = [
    path("api/v1/", include((api_v1, "api"))),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", health.liveness, name="health"),
    path("healthz/ready", health.readiness, name="health-ready"),
    path("metrics", metrics.metrics, name="metrics"),
    # The admin signs in through the product's own sign-in, which asks for the second factor.
    path("admin/login/", RedirectView.as_view(pattern_name="login", query_string=True)),
    path("admin/", admin.site.urls),
    path("login/", account_views.SignInView.as_view(), name="login"),
    path("login/code/", account_views.sign_in_code, name="login-code"),
    path("account/mfa/", account_views.mfa_setup, name="mfa"),
    path("account/password/", account_views.PasswordChangeView.as_view(), name="password-change"),
    path(
        "account/password/done/",
        account_views.PasswordChangeDoneView.as_view(),
        name="password-change-done",
    ),
    path("logout/", account_views.SignOutView.as_view(), name="logout"),
    path("", include("funds.urls")),
    path("", account_views.home, name="home"),
]

if settings.DEBUG:
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()
