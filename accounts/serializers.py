from typing import Any

from django.contrib.auth import authenticate
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from accounts.models import ApiToken, Organization, User


class OrganizationSerializer(serializers.ModelSerializer[Organization]):
    level = serializers.SerializerMethodField()

    class Meta:
        model = Organization
        fields = ["id", "code", "name", "kind", "level"]

    def get_level(self, obj: Organization) -> str | None:
        return obj.level or None


class InstitutionSerializer(serializers.ModelSerializer[Organization]):
    class Meta:
        model = Organization
        fields = ["code", "name", "kind"]


class MeSerializer(serializers.ModelSerializer[User]):
    organization = OrganizationSerializer(allow_null=True)

    class Meta:
        model = User
        fields = ["username", "role", "organization"]


class SignInSerializer(serializers.Serializer[Any]):
    """A username and password for POST /auth/token/, checked by Django's backends (axes first)."""

    username = serializers.CharField(write_only=True, max_length=150)
    password = serializers.CharField(write_only=True, trim_whitespace=False, max_length=4096)
    otp = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=32,
        help_text=_(
            "For a user with a second factor: the current TOTP code, or one of the recovery codes."
        ),
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        user = authenticate(
            request=self.context.get("request"),
            username=attrs["username"],
            password=attrs["password"],
        )
        if user is None:
            raise serializers.ValidationError(
                _("Unable to sign in with the given username and password."), code="authorization"
            )
        attrs["user"] = user
        return attrs


class IssuedTokenSerializer(serializers.Serializer[Any]):
    token = serializers.CharField(help_text=_("Send as Authorization: Token <token>. Shown once."))
    expires_at = serializers.DateTimeField()


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    current = serializers.SerializerMethodField(
        help_text=_("Whether this is the token of the request.")
    )

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "prefix",
            "created_at",
            "expires_at",
            "last_used_at",
            "user_agent",
            "ip_address",
            "current",
        ]

    def get_current(self, obj: ApiToken) -> bool:
        request = self.context.get("request")
        return (
            request is not None
            and getattr(request.auth, "pk", None) == obj.pk
            and (isinstance(request.auth, ApiToken))
        )


class TotpEnrolmentSerializer(serializers.Serializer[Any]):
    secret = serializers.CharField(help_text=_("The TOTP key in base32, for manual entry."))
    otpauth_uri = serializers.CharField(help_text=_("The otpauth:// URI, for a QR code."))


class TotpConfirmSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(max_length=16, write_only=True)


class RecoveryCodesSerializer(serializers.Serializer[Any]):
    recovery_codes = serializers.ListField(
        child=serializers.CharField(),
        help_text=_("One-time codes for signing in without the phone. Shown once."),
    )
