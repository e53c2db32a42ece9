"""Sign-in tokens of the API and banks' API keys: issue, check, revoke (API.md, "Sign-in").

A credential is ``<prefix>.<secret>``: the prefix (not secret) finds the row by an index,
and only the SHA-256 of the whole string is stored, compared in constant time. Nothing
here keeps a credential in clear; the caller shows it once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import (
    ApiKey,
    ApiToken,
    Organization,
    Role,
    SecurityEvent,
    SecurityEventType,
    User,
)

log = logging.getLogger(__name__)

# last_used_at is written at most this often per credential, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class CredentialError(Exception):
    """A credential was refused; ``code`` is the API's machine-readable reason."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Issued[T]:
    """A freshly issued credential: its row and the clear text, to be shown once."""

    row: T
    secret: str


def _new_secret() -> tuple[str, str, str]:
    """A new credential, its prefix and its hash."""
    prefix = secrets.token_hex(4)
    secret = f"{prefix}.{secrets.token_urlsafe(32)}"
    return secret, prefix, hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(secret: str) -> str:
    prefix, dot, rest = secret.partition(".")
    if not dot or not rest or len(prefix) != 8:
        raise CredentialError("token_invalid")
    return prefix


def _find[M: (ApiToken, ApiKey)](rows: list[M], secret: str) -> M:
    digest = hash_secret(secret)
    for row in rows:
        if hmac.compare_digest(row.key_hash, digest):
            return row
    raise CredentialError("token_invalid")


def _touch(model: type[ApiToken] | type[ApiKey], row: ApiToken | ApiKey, now: datetime) -> None:
    """Record the use, at most once per LAST_USED_RESOLUTION (a write per request is waste)."""
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        model.objects.filter(pk=row.pk).update(last_used_at=now)
        row.last_used_at = now


# Tokens -------------------------------------------------------------------------------


def api_token_issue(
    *, user: User, user_agent: str = "", ip_address: str | None = None
) -> Issued[ApiToken]:
    """Issue a sign-in token to ``user`` lasting API_TOKEN_TTL."""
    secret, prefix, digest = _new_secret()
    now = timezone.now()
    token = ApiToken.objects.create(
        user=user,
        prefix=prefix,
        key_hash=digest,
        password_fingerprint=user.get_session_auth_hash(),
        created_at=now,
        expires_at=now + settings.API_TOKEN_TTL,
        # Issuing is a use (the password was just given): no write on the next request.
        last_used_at=now,
        user_agent=user_agent[:255],
        ip_address=ip_address,
    )
    _record_token(SecurityEventType.TOKEN_ISSUED, token=token, actor=user, ip_address=ip_address)
    return Issued(token, secret)


def _record_token(
    type: SecurityEventType, *, token: ApiToken, actor: User | None, ip_address: str | None
) -> None:
    # The prefix finds the row and is no secret; the token itself is never recorded.
    SecurityEvent.objects.create(
        type=type,
        at=timezone.now(),
        actor=actor,
        user_id=token.user_id,
        ip_address=ip_address,
        data={"token": token.pk, "prefix": token.prefix},
    )


def api_token_check(secret: str) -> ApiToken:
    """The live token for ``secret``, with its user, or CredentialError with the reason."""
    rows = list(ApiToken.objects.select_related("user").filter(prefix=_split(secret)).order_by())
    token = _find(rows, secret)
    now = timezone.now()
    if token.revoked_at is not None:
        raise CredentialError("token_revoked")
    if token.expires_at <= now:
        raise CredentialError("token_expired")
    user = token.user
    if not user.is_active:
        raise CredentialError("user_inactive")
    # The password changed since issue (by any route: the pages, the admin, a command).
    if not hmac.compare_digest(token.password_fingerprint, user.get_session_auth_hash()):
        raise CredentialError("token_revoked")
    _touch(ApiToken, token, now)
    return token


def api_token_revoke(*, actor: User, token: ApiToken, ip_address: str | None = None) -> None:
    """End one of the actor's own tokens; ending it again changes nothing (and records
    nothing)."""
    if token.user_id != actor.pk:
        raise PermissionError("A token is revoked by its owner only.")
    with transaction.atomic():
        ended = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if ended:
            _record_token(
                SecurityEventType.TOKEN_REVOKED, token=token, actor=actor, ip_address=ip_address
            )
    token.refresh_from_db(fields=["revoked_at"])


def api_tokens_revoke_all(*, user: User, actor: User | None = None) -> int:
    """End every live token of ``user`` (a reset of the second factor); answer how many."""
    with transaction.atomic():
        live = list(
            ApiToken.objects.select_for_update()
            .filter(user=user, revoked_at__isnull=True)
            .order_by("pk")
        )
        ApiToken.objects.filter(pk__in=[t.pk for t in live]).update(revoked_at=timezone.now())
        for token in live:
            _record_token(
                SecurityEventType.TOKEN_REVOKED, token=token, actor=actor, ip_address=None
            )
    return len(live)


# Banks' API keys ----------------------------------------------------------------------


def _record(
    type: SecurityEventType, *, key: ApiKey, actor: User | None, ip_address: str | None
) -> None:
    SecurityEvent.objects.create(
        type=type, at=timezone.now(), actor=actor, api_key=key, ip_address=ip_address
    )
    log.info(
        "%s: key %s (%s) of %s by %s from %s",
        type.value,
        key.pk,
        key.prefix,
        key.institution.code,
        actor.username if actor else "-",
        ip_address or "-",
    )


def api_key_issue(
    *,
    actor: User,
    institution: Organization,
    name: str,
    expires_at: datetime | None = None,
    ip_address: str | None = None,
) -> Issued[ApiKey]:
    """Issue a key to a bank or payment institution, acting as a liaison of it."""
    if actor.role != Role.ADMIN and not actor.is_superuser:
        raise PermissionError("Only an administrator issues API keys.")
    if institution.is_police:
        raise ValueError("An API key is issued to a bank or payment institution.")
    now = timezone.now()
    expires_at = expires_at or now + settings.API_KEY_TTL
    if expires_at <= now:
        raise ValueError("An API key must expire in the future.")
    secret, prefix, digest = _new_secret()
    with transaction.atomic():
        # The key's principal: a liaison of the institution that no person signs in as.
        user = User(
            username=f"apikey-{prefix}",
            first_name=name[:150],
            role=Role.LIAISON,
            organization=institution,
        )
        user.set_unusable_password()
        user.save()
        key = ApiKey.objects.create(
            institution=institution,
            name=name,
            user=user,
            prefix=prefix,
            key_hash=digest,
            created_by=actor,
            created_at=now,
            expires_at=expires_at,
        )
        _record(SecurityEventType.API_KEY_ISSUED, key=key, actor=actor, ip_address=ip_address)
    return Issued(key, secret)


def api_key_check(secret: str, *, ip_address: str | None = None) -> ApiKey:
    """The live key for ``secret``, with its user, or CredentialError with the reason."""
    rows = list(ApiKey.objects.select_related("user", "institution").filter(prefix=_split(secret)))
    key = _find(rows, secret)
    now = timezone.now()
    if key.revoked_at is not None:
        raise CredentialError("api_key_revoked")
    if key.expires_at <= now:
        raise CredentialError("api_key_expired")
    if not key.user.is_active:
        raise CredentialError("user_inactive")
    if key.first_used_at is None:
        # Compare-and-set: of two first requests at once, one records the first use.
        with transaction.atomic():
            claimed = ApiKey.objects.filter(pk=key.pk, first_used_at__isnull=True).update(
                first_used_at=now, last_used_at=now
            )
            if claimed:
                key.first_used_at = key.last_used_at = now
                _record(
                    SecurityEventType.API_KEY_FIRST_USED,
                    key=key,
                    actor=key.user,
                    ip_address=ip_address,
                )
    _touch(ApiKey, key, now)
    return key


def api_key_revoke(*, actor: User, key: ApiKey, ip_address: str | None = None) -> bool:
    """Revoke a key; answer whether this call did (revoking again changes nothing)."""
    if actor.role != Role.ADMIN and not actor.is_superuser:
        raise PermissionError("Only an administrator revokes API keys.")
    with transaction.atomic():
        revoked = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=actor
        )
        key.refresh_from_db(fields=["revoked_at", "revoked_by"])
        if revoked:
            _record(SecurityEventType.API_KEY_REVOKED, key=key, actor=actor, ip_address=ip_address)
    return bool(revoked)
