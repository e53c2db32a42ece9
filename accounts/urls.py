from django.urls import path

from accounts import api

app_name = "accounts"

api_urlpatterns = [
    path("auth/token/", api.TokenView.as_view(), name="token"),
    path("auth/token/revoke/", api.TokenRevokeView.as_view(), name="token-revoke"),
    path("auth/mfa/totp/", api.TotpEnrolView.as_view(), name="mfa-totp"),
    path("auth/mfa/totp/confirm/", api.TotpConfirmView.as_view(), name="mfa-totp-confirm"),
    path("auth/tokens/", api.ApiTokenListView.as_view(), name="tokens"),
    path("auth/tokens/<int:pk>/revoke/", api.ApiTokenRevokeView.as_view(), name="token-revoke-one"),
    path("me/", api.MeView.as_view(), name="me"),
    path("institutions/", api.InstitutionListView.as_view(), name="institutions"),
]
