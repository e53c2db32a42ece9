"""The second factor: TOTP devices and recovery codes of django-otp (API.md, "Sign-in").

A user has at most one TOTP device (RFC 6238: SHA-1, 6 digits, 30 s), unconfirmed until a
code from it is given, and one static device holding RECOVERY_CODES one-time recovery
codes. django-otp accepts each TOTP code once (the device's ``last_t``: a code of the same
or an earlier 30 s step is refused) and throttles guesses: after a wrong code the device
refuses every code, right or wrong, for 1, 2, 4, 8 ... seconds (OTP_TOTP_THROTTLE_FACTOR).
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.credentials import api_tokens_revoke_all
from accounts.models import Role, SecurityEvent, SecurityEventType, User

log = logging.getLogger(__name__)

RECOVERY_CODES = 10
DEVICE_NAME = "default"

# The API's machine-readable reasons.
OTP_REQUIRED = "otp_required"
OTP_INVALID = "otp_invalid"
ENROLMENT_REQUIRED = "mfa_enrolment_required"


class MfaError(Exception):
    """A refusal of the second factor's services; the API answers ``status`` with ``code``.

    accounts sits below funds, so these are its own, shaped as funds.errors' InvalidState
    (409 ``invalid_state``) and RuleViolation on ``code`` (400).
    """

    status = 409
    code = "invalid_state"

    def __init__(self, message: str | Promise) -> None:
        super().__init__(str(message))
        self.message = str(message)


class WrongCode(MfaError):
    status = 400
    code = "code"


WRONG_CODE = _("The code is wrong or was already used; enter the current code.")

_TOTP_CODE = re.compile(r"^\d{6}$")


def _record(
    type: SecurityEventType, *, user: User, actor: User | None, ip_address: str | None
) -> None:
    SecurityEvent.objects.create(
        type=type, at=timezone.now(), actor=actor, user=user, ip_address=ip_address
    )
    log.info(
        "%s: user %s by %s from %s",
        type.value,
        user.username,
        actor.username if actor else "-",
        ip_address or "-",
    )


def _normalise(code: str) -> str:
    """A code as typed: spaces and dashes dropped, lower case (recovery codes are base32)."""
    return re.sub(r"[\s-]", "", code).lower()


def totp_device(user: User) -> TOTPDevice | None:
    """The user's confirmed TOTP device, if any."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def has_second_factor(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def is_key_user(user: User) -> bool:
    """Whether ``user`` is the service account of a bank's API key (never asked for TOTP)."""
    return user.username.startswith("apikey-") and hasattr(user, "api_key")


def must_enrol_role(user: User) -> bool:
    """Whether the user's role is one that MFA_REQUIRED_ROLES makes enrol (no query)."""
    return getattr(user, "role", "") in settings.MFA_REQUIRED_ROLES


def totp_enrol_start(*, actor: User) -> TOTPDevice:
    """A new unconfirmed TOTP device for ``actor``, replacing any unconfirmed one.

    Once a device is confirmed, another needs an administrator's reset first: whoever holds
    a signed-in session must not be able to move the second factor to a phone of theirs.
    """
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=actor.pk).get()
        if TOTPDevice.objects.filter(user=actor, confirmed=True).exists():
            raise MfaError(_("A second factor is already set up; an administrator can reset it."))
        TOTPDevice.objects.filter(user=actor, confirmed=False).delete()
        return TOTPDevice.objects.create(user=actor, name=DEVICE_NAME, confirmed=False)


def totp_pending(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()


def _new_recovery_codes(device: StaticDevice) -> list[str]:
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def totp_enrol_confirm(*, actor: User, code: str, ip_address: str | None = None) -> list[str]:
    """Confirm the pending device with a code from it; answer the new recovery codes.

    The codes are returned this once: only django-otp's rows keep them afterwards.
    """
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=actor.pk).get()
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=actor, confirmed=False)
            .order_by("-pk")
            .first()
        )
        if device is None:
            raise MfaError(_("There is no second factor waiting for confirmation."))
        accepted = device.verify_token(_normalise(code))
    if not accepted:
        # After the transaction: the device's throttling of the wrong code is kept.
        raise WrongCode(WRONG_CODE)
    with transaction.atomic():
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        device.confirmed = True
        static, _created = StaticDevice.objects.get_or_create(
            user=actor, name=DEVICE_NAME, defaults={"confirmed": True}
        )
        codes = _new_recovery_codes(static)
        _record(SecurityEventType.MFA_ENROLLED, user=actor, actor=actor, ip_address=ip_address)
        _record(
            SecurityEventType.MFA_RECOVERY_CODES_GENERATED,
            user=actor,
            actor=actor,
            ip_address=ip_address,
        )
    return codes


def recovery_codes_regenerate(*, actor: User, ip_address: str | None = None) -> list[str]:
    """New recovery codes for an enrolled user, the old ones void; answered this once."""
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=actor.pk).get()
        if not TOTPDevice.objects.filter(user=actor, confirmed=True).exists():
            raise MfaError(_("Set up the second factor first."))
        static, _created = StaticDevice.objects.get_or_create(
            user=actor, name=DEVICE_NAME, defaults={"confirmed": True}
        )
        codes = _new_recovery_codes(static)
        _record(
            SecurityEventType.MFA_RECOVERY_CODES_GENERATED,
            user=actor,
            actor=actor,
            ip_address=ip_address,
        )
    return codes


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def otp_verify(*, user: User, code: str, ip_address: str | None = None) -> Device | None:
    """The device that accepts ``code`` (a TOTP code or a recovery code), or None.

    Six digits are checked against the TOTP device only, anything else against the recovery
    codes only, so that a wrong guess throttles one device. Each device's row is locked while
    it checks, so that the same code given twice at once is accepted once.
    """
    code = _normalise(code)
    if not code:
        return None
    model: type[TOTPDevice] | type[StaticDevice] = (
        TOTPDevice if _TOTP_CODE.match(code) else StaticDevice
    )
    with transaction.atomic():
        device = model.objects.select_for_update().filter(user=user, confirmed=True).first()
        accepted = device is not None and device.verify_token(code)
    if not accepted or device is None:
        return None
    if isinstance(device, StaticDevice):
        _record(
            SecurityEventType.MFA_RECOVERY_CODE_USED, user=user, actor=user, ip_address=ip_address
        )
    return device


def mfa_reset(*, actor: User, user: User, ip_address: str | None = None) -> bool:
    """Delete the user's TOTP device and recovery codes and end their API tokens (a lost phone).

    Answer whether there was a second factor to reset; the user enrols again at next sign-in.
    Their sessions end too: a session verified by a device that no longer exists is signed
    out (accounts.middleware.SecondFactorMiddleware).
    """
    if actor.role != Role.ADMIN and not actor.is_superuser:
        raise PermissionError("Only an administrator resets a second factor.")
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).get()
        deleted = TOTPDevice.objects.filter(user=user).delete()[0]
        deleted += StaticDevice.objects.filter(user=user).delete()[0]
        api_tokens_revoke_all(user=user, actor=actor)
        if deleted:
            _record(SecurityEventType.MFA_RESET, user=user, actor=actor, ip_address=ip_address)
    return bool(deleted)
