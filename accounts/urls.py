from django.urls import path

from accounts import api

app_name = "accounts"

api_urlpatterns = [
    path("auth/token/", api.TokenView.as_view(), name="token"),
    path("me/", api.MeView.as_view(), name="me"),
    path("institutions/", api.InstitutionListView.as_view(), name="institutions"),
]
