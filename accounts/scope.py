"""What a user may see: the one place that decides it.

Police roles see their own unit's subtree; a liaison sees only what is addressed to its
institution; an administrator manages organisations and users through the admin site and
sees no case data. Every query that carries permission goes through these helpers, so
"missing" and "not yours" give the same answer (404).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Model, QuerySet
from django.http import Http404

from accounts.models import Organization, Role, User

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser


def _police_unit(user: User | AnonymousUser) -> Organization | None:
    if not user.is_authenticated or not isinstance(user, User) or not user.is_active:
        return None
    if user.role not in (Role.OFFICER, Role.MANAGER, Role.AUDITOR):
        return None
    org = user.organization
    return org if org is not None and org.is_police else None


def _institution(user: User | AnonymousUser) -> Organization | None:
    if not user.is_authenticated or not isinstance(user, User) or not user.is_active:
        return None
    if user.role != Role.LIAISON:
        return None
    org = user.organization
    return org if org is not None and not org.is_police else None


def units_in_scope(user: User | AnonymousUser) -> QuerySet[Organization]:
    """The police units a user may see: the subtree of a police user's unit, else none."""
    unit = _police_unit(user)
    if unit is None:
        return Organization.objects.none()
    return Organization.objects.subtree_of(unit)


def can_see_unit(user: User | AnonymousUser, unit: Organization) -> bool:
    own = _police_unit(user)
    return own is not None and unit.is_police and unit.path.startswith(own.path)


def filter_by_unit[M: Model](
    queryset: QuerySet[M], user: User | AnonymousUser, *, field: str = "unit"
) -> QuerySet[M]:
    """Keep rows whose police unit ``field`` lies in the user's subtree (one indexed join)."""
    unit = _police_unit(user)
    if unit is None:
        return queryset.none()
    return queryset.filter(**{f"{field}__path__startswith": unit.path})


def filter_by_institution[M: Model](
    queryset: QuerySet[M], user: User | AnonymousUser, *, field: str = "institution"
) -> QuerySet[M]:
    """Keep rows addressed to the liaison's own institution; nothing for anyone else."""
    institution = _institution(user)
    if institution is None:
        return queryset.none()
    return queryset.filter(**{field: institution})


def access_unit(user: User | AnonymousUser, code: str) -> Organization:
    """The police unit with ``code`` if the user may see it; 404 whether missing or not theirs."""
    unit = units_in_scope(user).filter(code=code).first()
    if unit is None:
        raise Http404
    return unit
