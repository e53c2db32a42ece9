from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from accounts.models import User
from funds.errors import DomainError, RuleViolation

View = Callable[..., HttpResponse]


def roles(*allowed: str) -> Callable[[View], View]:
    """Signed in, active, and one of ``allowed`` roles; 403 for any other role."""

    def decorate(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not isinstance(user, User) or user.role not in allowed:
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def attempt(form: forms.Form, action: Callable[[], object]) -> bool:
    """Run a service; a refused rule becomes an error on the form, beside its field."""
    try:
        action()
    except RuleViolation as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return False
    except DomainError as error:
        form.add_error(None, error.message)
        return False
    return True


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"
