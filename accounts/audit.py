"""Security events of the global audit chain (docs/audit.md): sign-ins, failed sign-ins,
lock-outs, and changes of users and organisations, from Django's and django-axes' signals.

Who acted and from where is the request's, when there is one: ``AuditContextMiddleware``
keeps the request for the signal handlers of this thread. No event holds a password, its
hash, a code, a token or any other secret: only which fields changed, and for a password
only that it did.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.models import Organization, SecurityEvent, SecurityEventType, User

log = logging.getLogger(__name__)

_request: ContextVar[HttpRequest | None] = ContextVar("casetracker_audit_request", default=None)

# The fields whose changes are recorded with their old and new values.
USER_FIELDS = (
    "username",
    "first_name",
    "last_name",
    "email",
    "phone",
    "role",
    "organization_id",
    "is_active",
    "is_staff",
    "is_superuser",
)
ORGANIZATION_FIELDS = ("code", "name", "kind", "level", "parent_id")
_OLD = "_casetracker_audit_old"


class AuditContextMiddleware:
    """Keep the request for the audit's signal handlers while it is served."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


def request_address(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def _acting(request: HttpRequest | None) -> User | None:
    user = getattr(request, "user", None) if request is not None else None
    return user if isinstance(user, User) and user.is_authenticated else None


def security_event_record(
    type: SecurityEventType,
    *,
    actor: User | None,
    user: User | None = None,
    ip_address: str | None = None,
    **data: Any,
) -> SecurityEvent:
    """Append a security event (chained by PostgreSQL). ``data`` must hold no secret."""
    event = SecurityEvent.objects.create(
        type=type, at=timezone.now(), actor=actor, user=user, ip_address=ip_address, data=data
    )
    log.info(
        "%s: user %s by %s from %s",
        type.value,
        user.username if user else "-",
        actor.username if actor else "-",
        ip_address or "-",
    )
    return event


# Sign-in ------------------------------------------------------------------------------


def on_signed_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    security_event_record(
        SecurityEventType.SIGNED_IN, actor=user, user=user, ip_address=request_address(request)
    )


def on_sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Only the name given: Django masks the password in ``credentials``, and it stays out.
    username = str(credentials.get("username") or "")[:150]
    security_event_record(
        SecurityEventType.SIGN_IN_FAILED,
        actor=None,
        user=User.objects.filter(username=username).first() if username else None,
        ip_address=request_address(request),
        username=username,
    )


def on_locked_out(
    sender: Any,
    request: HttpRequest | None = None,
    username: str | None = None,
    ip_address: str | None = None,
    **kwargs: Any,
) -> None:
    name = str(username or "")[:150]
    security_event_record(
        SecurityEventType.LOCKED_OUT,
        actor=None,
        user=User.objects.filter(username=name).first() if name else None,
        ip_address=ip_address or request_address(request),
        username=name,
    )


# Changes of users and organisations ---------------------------------------------------


def _snapshot(instance: User | Organization, fields: tuple[str, ...]) -> dict[str, Any]:
    return {field: getattr(instance, field) for field in fields}


def _remember_old(fields: tuple[str, ...], *extra: str) -> Callable[..., None]:
    def handler(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        if raw or instance.pk is None:
            return
        names = (*fields, *extra)
        watched = {*names, *(f.removesuffix("_id") for f in names)}
        # A save of other fields only (last_login at each sign-in) reads nothing more.
        if update_fields is not None and not watched & set(update_fields):
            return
        row = type(instance)._base_manager.filter(pk=instance.pk).values(*fields, *extra).first()
        setattr(instance, _OLD, row)

    return handler


def _changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    return {field: [old[field], new[field]] for field in new if old.get(field) != new[field]}


def on_user_saved(
    sender: Any, instance: User, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if raw:
        return
    request = _request.get()
    new = _snapshot(instance, USER_FIELDS)
    if created:
        security_event_record(
            SecurityEventType.USER_CREATED,
            actor=_acting(request),
            user=instance,
            ip_address=request_address(request),
            fields={k: v for k, v in new.items() if v not in ("", None)},
        )
        return
    old = instance.__dict__.pop(_OLD, None)
    if old is None:
        return
    changed: dict[str, Any] = _changes(old, new)
    if old.get("password") != instance.password:
        changed["password"] = "changed"  # noqa: S105 - that it changed, never the hash
    if changed:
        security_event_record(
            SecurityEventType.USER_CHANGED,
            actor=_acting(request),
            user=instance,
            ip_address=request_address(request),
            changed=changed,
        )


def on_organization_saved(
    sender: Any, instance: Organization, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if raw:
        return
    request = _request.get()
    new = _snapshot(instance, ORGANIZATION_FIELDS)
    actor, address = _acting(request), request_address(request)
    if created:
        security_event_record(
            SecurityEventType.ORGANIZATION_CREATED,
            organization=instance.pk,
            fields={k: v for k, v in new.items() if v not in ("", None)},
            actor=actor,
            ip_address=address,
        )
        return
    old = instance.__dict__.pop(_OLD, None)
    changed = _changes(old, new) if old is not None else {}
    if changed:
        security_event_record(
            SecurityEventType.ORGANIZATION_CHANGED,
            organization=instance.pk,
            changed=changed,
            actor=actor,
            ip_address=address,
        )


def connect() -> None:
    """Connect the handlers (AccountsConfig.ready)."""
    from axes.signals import user_locked_out
    from django.contrib.auth.signals import user_logged_in, user_login_failed
    from django.db.models.signals import post_save, pre_save

    user_logged_in.connect(on_signed_in, dispatch_uid="accounts.audit.signed_in")
    user_login_failed.connect(on_sign_in_failed, dispatch_uid="accounts.audit.sign_in_failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="accounts.audit.locked_out")
    pre_save.connect(
        _remember_old(USER_FIELDS, "password"),
        sender=User,
        weak=False,
        dispatch_uid="accounts.audit.user_old",
    )
    post_save.connect(on_user_saved, sender=User, dispatch_uid="accounts.audit.user_saved")
    pre_save.connect(
        _remember_old(ORGANIZATION_FIELDS),
        sender=Organization,
        weak=False,
        dispatch_uid="accounts.audit.organization_old",
    )
    post_save.connect(
        on_organization_saved, sender=Organization, dispatch_uid="accounts.audit.org_saved"
    )
