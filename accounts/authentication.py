"""DRF authentication by expiring token (people) and by API key (banks' systems)."""

from __future__ import annotations

from typing import Any, cast

from axes.helpers import get_client_ip_address
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from accounts.credentials import CredentialError, api_key_check, api_token_check
from accounts.models import ApiKey, ApiToken, User

MESSAGES = {
    "token_invalid": _("Invalid token."),
    "token_expired": _("The token has expired; sign in again."),
    "token_revoked": _("The token has been revoked; sign in again."),
    "user_inactive": _("The user is deactivated."),
    "api_key_expired": _("The API key has expired."),
    "api_key_revoked": _("The API key has been revoked."),
    "credentials_malformed": _("Malformed credentials: send one value after the keyword."),
}


def _refuse(code: str) -> exceptions.AuthenticationFailed:
    # A dict detail is DRF's body as is: {"detail", "code"}, as the API's other refusals.
    return exceptions.AuthenticationFailed({"detail": MESSAGES[code], "code": code}, code=code)


def client_address(request: Request) -> str | None:
    """The client's address as django-axes finds it (AXES_PROXY_COUNT, settings)."""
    return get_client_ip_address(cast(HttpRequest, request)) or None


class _KeywordAuthentication(BaseAuthentication):
    keyword = ""

    def authenticate(self, request: Request) -> tuple[User, Any] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise _refuse("credentials_malformed")
        try:
            secret = parts[1].decode()
        except UnicodeError:
            raise _refuse("token_invalid") from None
        try:
            return self.check(secret, request)
        except CredentialError as refusal:
            raise _refuse(refusal.code) from None

    def check(self, secret: str, request: Request) -> tuple[User, Any]:
        raise NotImplementedError

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class ExpiringTokenAuthentication(_KeywordAuthentication):
    """``Authorization: Token <token>``: a token from POST /auth/token/, until it ends."""

    keyword = "Token"

    def check(self, secret: str, request: Request) -> tuple[User, ApiToken]:
        token = api_token_check(secret)
        return token.user, token


class ApiKeyAuthentication(_KeywordAuthentication):
    """``Authorization: Api-Key <key>``: a bank's key, acting as a liaison of that bank."""

    keyword = "Api-Key"

    def check(self, secret: str, request: Request) -> tuple[User, ApiKey]:
        key = api_key_check(secret, ip_address=client_address(request))
        return key.user, key
