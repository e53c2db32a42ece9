"""Who: organisations (police units, banks, payment institutions) and their users."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import Q
from django.db.models.functions import Concat, Substr
from django.utils import timezone
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


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def live(self) -> ApiTokenQuerySet:
        """Tokens neither revoked nor expired (a password change is checked per request)."""
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class ApiToken(models.Model):
    """A sign-in token of the API: a user's, ending at ``expires_at`` or earlier.

    Only the SHA-256 of the token is kept; ``prefix`` (the token's first characters, not
    secret) finds the row by an index. ``password_fingerprint`` is the user's session auth
    hash when the token was issued: once the password changes, by any route, it no longer
    matches and the token is refused (accounts.authentication).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="api_tokens",
    )
    prefix = models.CharField(_("prefix"), max_length=16, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    password_fingerprint = models.CharField(max_length=128, editable=False)
    created_at = models.DateTimeField(_("created at"))
    expires_at = models.DateTimeField(_("expires at"))
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=255, blank=True)
    ip_address = models.GenericIPAddressField(_("address"), null=True, blank=True)

    objects: ClassVar[ApiTokenQuerySet] = ApiTokenQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")), name="api_token_expires_later"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user_id})"


class ApiKey(models.Model):
    """A key that an administrator issues to one bank or payment institution for its systems.

    The key acts through ``user``, a service account created with it: a liaison of the
    institution with no usable password, so every scope and permission check is exactly
    the liaison's. Only the SHA-256 of the key is kept; the key is shown once, at issue.
    """

    institution = models.ForeignKey(
        Organization,
        verbose_name=_("institution"),
        on_delete=models.PROTECT,
        related_name="api_keys",
        limit_choices_to=~Q(kind=OrganizationKind.POLICE),
    )
    name = models.CharField(
        _("name"), max_length=100, help_text=_("What the key is for, e.g. the bank's core system.")
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="api_key",
        editable=False,
    )
    prefix = models.CharField(_("prefix"), max_length=16, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("issued by"),
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(_("issued at"), editable=False)
    expires_at = models.DateTimeField(_("expires at"))
    first_used_at = models.DateTimeField(_("first used at"), null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("revoked by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )

    class Meta:
        verbose_name = _("bank API key")
        verbose_name_plural = _("bank API keys")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")), name="api_key_expires_later"
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True, revoked_by__isnull=True)
                | Q(revoked_at__isnull=False, revoked_by__isnull=False),
                name="api_key_revoked_by_someone",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class SecurityEventType(models.TextChoices):
    API_KEY_ISSUED = "api_key_issued", _("API key issued")
    API_KEY_FIRST_USED = "api_key_first_used", _("API key used for the first time")
    API_KEY_REVOKED = "api_key_revoked", _("API key revoked")
    MFA_ENROLLED = "mfa_enrolled", _("Second factor enrolled")
    MFA_RECOVERY_CODES_GENERATED = "mfa_recovery_codes_generated", _("Recovery codes generated")
    MFA_RECOVERY_CODE_USED = "mfa_recovery_code_used", _("Recovery code used")
    MFA_RESET = "mfa_reset", _("Second factor reset by an administrator")
    SIGNED_IN = "signed_in", _("Signed in")
    SIGN_IN_FAILED = "sign_in_failed", _("Sign-in failed")
    LOCKED_OUT = "locked_out", _("Locked out after failed sign-ins")
    TOKEN_ISSUED = "token_issued", _("API token issued")
    TOKEN_REVOKED = "token_revoked", _("API token revoked")
    USER_CREATED = "user_created", _("User created")
    USER_CHANGED = "user_changed", _("User changed")
    ORGANIZATION_CREATED = "organization_created", _("Organisation created")
    ORGANIZATION_CHANGED = "organization_changed", _("Organisation changed")


class ChainedEvent(models.Model):
    """A link of the global audit chain (docs/audit.md): PostgreSQL's BEFORE INSERT trigger
    on each such table (accounts 0006, funds 0026) fills these three columns under the lock
    of ``AuditChainHead``; Python never computes them. ``db_default`` keeps them out of the
    INSERT and brings the trigger's values back by RETURNING, bulk inserts too."""

    chain_seq = models.BigIntegerField(
        _("chain position"), null=True, unique=True, editable=False, db_default=None
    )
    prev_hash = models.CharField(_("previous hash"), max_length=64, editable=False, db_default="")
    hash = models.CharField(_("hash"), max_length=64, editable=False, db_default="")

    class Meta:
        abstract = True


class AuditChainHead(models.Model):
    """The head of the global audit chain: one row (id 1), the last link's position and hash.

    The insert trigger locks it (``SELECT ... FOR UPDATE``) so that two transactions never
    chain onto the same event; it is created again by the trigger when missing (after a
    flush). It is not evidence: ``verify_audit`` recomputes the chain from the events alone.
    """

    id = models.SmallIntegerField(primary_key=True)
    seq = models.BigIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("audit chain head")
        verbose_name_plural = _("audit chain head")

    def __str__(self) -> str:
        return f"{self.seq}: {self.hash}"


class SecurityEvent(ChainedEvent):
    """An append-only record of what happened to a credential, a sign-in, a user or an
    organisation: who, what, when, from where. Audit events of funds belong to a case; these
    do not, and both are links of one global chain (docs/audit.md). ``data`` never holds a
    password, hash, code, token or secret."""

    type = models.CharField(_("type"), max_length=40, choices=SecurityEventType.choices)
    at = models.DateTimeField(_("at"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    api_key = models.ForeignKey(
        ApiKey,
        verbose_name=_("bank API key"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="events",
    )
    # Whose second factor it was (the actor is the administrator for a reset).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="security_events",
    )
    ip_address = models.GenericIPAddressField(_("address"), null=True, blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        verbose_name = _("security event")
        verbose_name_plural = _("security events")
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_type_display()} {timezone.localtime(self.at):%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError("Security events cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("Security events cannot be deleted.")
