"""Who: organisations (police units, banks, payment institutions) and their users."""

from __future__ import annotations

from typing import ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.db.models.functions import Concat, Substr
from django.utils.translation import gettext_lazy as _


class OrganizationKind(models.TextChoices):
    POLICE = "police", _("Police unit")
    BANK = "bank", _("Bank")
    PAYMENT = "payment", _("Payment institution")


class UnitLevel(models.TextChoices):
    """The four levels of the police tree, from the top."""

    PROVINCE = "province", _("Province")
    CITY = "city", _("City")
    COUNTY = "county", _("County or district")
    STATION = "station", _("Station")


LEVEL_DEPTH = {
    UnitLevel.PROVINCE: 1,
    UnitLevel.CITY: 2,
    UnitLevel.COUNTY: 3,
    UnitLevel.STATION: 4,
}


class OrganizationQuerySet(models.QuerySet["Organization"]):
    def police(self) -> OrganizationQuerySet:
        return self.filter(kind=OrganizationKind.POLICE)

    def institutions(self) -> OrganizationQuerySet:
        return self.exclude(kind=OrganizationKind.POLICE)

    def subtree_of(self, unit: Organization) -> OrganizationQuerySet:
        """The unit and every unit below it: one query on the indexed path prefix."""
        return self.filter(path__startswith=unit.path)


class Organization(models.Model):
    """A police unit in the four-level tree, or a bank or payment institution.

    ``path`` is a materialised path of primary keys ("/1/4/9/"), so a subtree is one
    ``LIKE 'prefix%'`` query on an index rather than a recursive walk.
    """

    code = models.CharField(
        _("code"),
        max_length=32,
        unique=True,
        help_text=_(
            "Administrative division code for police units, e.g. 370102; short code for institutions, e.g. ICBC."
        ),
    )
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=OrganizationKind.choices)
    level = models.CharField(
        _("level"), max_length=16, choices=UnitLevel.choices, blank=True, default=""
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent unit"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
    )
    path = models.CharField(max_length=255, editable=False, default="")

    objects: ClassVar[OrganizationQuerySet] = OrganizationQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["path"]
        indexes = [
            # varchar_pattern_ops lets PostgreSQL use the index for LIKE 'prefix%'.
            models.Index(
                fields=["path"], name="org_path_prefix", opclasses=["varchar_pattern_ops"]
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind=OrganizationKind.POLICE) & ~Q(level=""))
                | (~Q(kind=OrganizationKind.POLICE) & Q(level="") & Q(parent__isnull=True)),
                name="org_level_only_for_police",
                violation_error_message=_(
                    "A police unit has a level; a bank or payment institution has neither level nor parent."
                ),
            ),
            models.CheckConstraint(
                condition=~Q(level=UnitLevel.PROVINCE) | Q(parent__isnull=True),
                name="org_province_is_root",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def save(self, *args: object, **kwargs: object) -> None:
        """Save, keeping ``path`` and the paths of every descendant in step with ``parent``."""
        with transaction.atomic():
            old_path = self.path
            super().save(*args, **kwargs)  # type: ignore[arg-type]
            prefix = self.parent.path if self.parent_id and self.parent else "/"
            new_path = f"{prefix}{self.pk}/"
            if new_path != old_path:
                Organization.objects.filter(pk=self.pk).update(path=new_path)
                if old_path:
                    # Move the whole subtree in one statement.
                    Organization.objects.filter(path__startswith=old_path).exclude(
                        pk=self.pk
                    ).update(path=Concat(models.Value(new_path), Substr("path", len(old_path) + 1)))
                self.path = new_path

    @property
    def is_police(self) -> bool:
        return self.kind == OrganizationKind.POLICE

    @property
    def depth(self) -> int:
        return LEVEL_DEPTH[UnitLevel(self.level)] if self.level else 0

    def is_at_or_above(self, level: str) -> bool:
        """True for a police unit at ``level`` or higher (a city unit is above a county)."""
        return self.is_police and self.depth <= LEVEL_DEPTH[UnitLevel(level)]

    def ancestors(self) -> OrganizationQuerySet:
        """The unit and every unit above it, from the top."""
        ids = [int(part) for part in self.path.strip("/").split("/") if part]
        return Organization.objects.filter(pk__in=ids).order_by("path")

    def clean(self) -> None:
        super().clean()
        if self.kind != OrganizationKind.POLICE:
            if self.level or self.parent_id:
                raise ValidationError(
                    _("A bank or payment institution has no level and no parent.")
                )
            return
        if not self.level:
            raise ValidationError({"level": _("A police unit needs a level.")})
        if self.level == UnitLevel.PROVINCE:
            if self.parent_id:
                raise ValidationError({"parent": _("A province unit has no parent.")})
            return
        parent = self.parent
        if parent is None:
            raise ValidationError({"parent": _("This unit needs a parent one level above it.")})
        if not parent.is_police or parent.depth != self.depth - 1:
            raise ValidationError(
                {"parent": _("The parent must be a police unit one level above.")}
            )
        if self.pk and (parent.pk == self.pk or parent.path.startswith(self.path)):
            raise ValidationError({"parent": _("A unit cannot be placed under itself.")})


class Role(models.TextChoices):
    OFFICER = "officer", _("Officer")
    MANAGER = "manager", _("Manager")
    LIAISON = "liaison", _("Bank liaison")
    AUDITOR = "auditor", _("Auditor")
    ADMIN = "admin", _("Administrator")


POLICE_ROLES = frozenset({Role.OFFICER, Role.MANAGER, Role.AUDITOR})


class User(AbstractUser):
    """A person who signs in. Police roles belong to a police unit, a liaison to an institution."""

    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    organization = models.ForeignKey(
        Organization,
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="members",
    )
    phone = models.CharField(_("phone"), max_length=32, blank=True)

    objects: ClassVar[UserManager[User]] = UserManager()  # type: ignore[assignment]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.CheckConstraint(
                condition=Q(role=Role.ADMIN) | Q(organization__isnull=False),
                name="user_has_organization_unless_admin",
                violation_error_message=_(
                    "Every user but an administrator belongs to an organisation."
                ),
            ),
        ]

    def get_full_name(self) -> str:
        """Chinese names read family name first, with no space (李明); others as Django does."""
        if any(ord(ch) > 0x2E7F for ch in self.last_name + self.first_name):
            return f"{self.last_name}{self.first_name}".strip()
        return super().get_full_name()

    @property
    def is_police(self) -> bool:
        return self.role in POLICE_ROLES

    @property
    def is_liaison(self) -> bool:
        return self.role == Role.LIAISON

    def clean(self) -> None:
        super().clean()
        org = self.organization
        if self.role == Role.ADMIN:
            return
        if org is None:
            raise ValidationError({"organization": _("This role needs an organisation.")})
        if self.role == Role.LIAISON and org.is_police:
            raise ValidationError(
                {"organization": _("A liaison belongs to a bank or payment institution.")}
            )
        if self.role in POLICE_ROLES and not org.is_police:
            raise ValidationError(
                {"organization": _("Officers, managers and auditors belong to a police unit.")}
            )
