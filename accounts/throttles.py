"""Rate limits of the API (DRF throttles, counted in the project's cache, i.e. Redis).

Each request is counted once by the throttle that fits its caller: a person (by user),
a bank's system (by API key) or nobody yet (by address). Sign-in itself is counted by
address and by username, at the stricter ``token`` rate, beside django-axes' lock-out.
The rates are read on each request (API_THROTTLE_* in the settings), so a test can
change them with override_settings.
"""

from __future__ import annotations

import hashlib
from typing import Any, cast

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiKey


class _Throttle(SimpleRateThrottle):
    def __init__(self) -> None:
        # DRF reads the rates once at import; read them now instead.
        self.THROTTLE_RATES = cast(dict[str, str | None], api_settings.DEFAULT_THROTTLE_RATES)
        super().__init__()

    def key_for(self, request: Request) -> str | None:
        raise NotImplementedError

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        ident = self.key_for(request)
        if ident is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}


class UserThrottle(_Throttle):
    """A signed-in person, by user id (token or session)."""

    scope = "user"

    def key_for(self, request: Request) -> str | None:
        if not request.user.is_authenticated or isinstance(request.auth, ApiKey):
            return None
        return str(request.user.pk)


class ApiKeyThrottle(_Throttle):
    """A bank's system, by API key."""

    scope = "api_key"

    def key_for(self, request: Request) -> str | None:
        return str(request.auth.pk) if isinstance(request.auth, ApiKey) else None


class AnonThrottle(_Throttle):
    """A request without credentials, by address."""

    scope = "anon"

    def key_for(self, request: Request) -> str | None:
        return None if request.user.is_authenticated else self.get_ident(request)


class SignInAddressThrottle(_Throttle):
    """Sign-in attempts from one address."""

    scope = "token"

    def key_for(self, request: Request) -> str | None:
        return f"ip:{self.get_ident(request)}"


class SignInUsernameThrottle(_Throttle):
    """Sign-in attempts for one username, from wherever they come."""

    scope = "token"

    def key_for(self, request: Request) -> str | None:
        username = request.data.get("username") if hasattr(request.data, "get") else None
        if not isinstance(username, str) or not username:
            return None
        # Hashed: a username is whatever the client sent, control characters included, and
        # a cache key must be plain (and should not carry personal names in clear).
        digest = hashlib.sha256(username.strip().lower()[:150].encode()).hexdigest()
        return f"user:{digest}"
