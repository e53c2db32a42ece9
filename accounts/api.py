"""Identity endpoints of API v1: token, second factor, me, institutions."""

from base64 import b32encode
from typing import Any, cast

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import client_address
from accounts.credentials import api_token_issue, api_token_revoke
from accounts.lockout import LOCKED_OUT_CODE, lockout_message
from accounts.mfa import (
    OTP_INVALID,
    OTP_REQUIRED,
    MfaError,
    WrongCode,
    has_second_factor,
    otp_verify,
    totp_enrol_confirm,
    totp_enrol_start,
)
from accounts.models import ApiToken, Organization, User
from accounts.serializers import (
    ApiTokenSerializer,
    InstitutionSerializer,
    IssuedTokenSerializer,
    MeSerializer,
    RecoveryCodesSerializer,
    SignInSerializer,
    TotpConfirmSerializer,
    TotpEnrolmentSerializer,
)
from accounts.throttles import AnonThrottle, SignInAddressThrottle, SignInUsernameThrottle

# {"detail", "code"}, as the API's other refusals (casetracker.api_schema's Problem).
THROTTLED = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "required": ["detail"],
}
TOKEN_REQUIRED_CODE = "token_required"  # noqa: S105 - an error code, not a secret
PROBLEM = THROTTLED


# Error mail shows none of what was posted: passwords and one-time codes.
@method_decorator(sensitive_post_parameters(), name="dispatch")
class TokenView(generics.GenericAPIView[Any]):
    """Exchange a username and password for an API token lasting API_TOKEN_TTL.

    Send it as ``Authorization: Token <token>``; it is shown only in this answer.
    """

    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [AnonThrottle, SignInAddressThrottle, SignInUsernameThrottle]
    renderer_classes = [JSONRenderer]
    serializer_class = SignInSerializer

    @extend_schema(
        responses={
            200: IssuedTokenSerializer,
            401: OpenApiResponse(
                PROBLEM,
                description='A user with a second factor sent no "otp" ("otp_required") or '
                'a wrong or already used one ("otp_invalid").',
            ),
            429: OpenApiResponse(
                THROTTLED,
                description='Too many sign-ins (with Retry-After), or locked out: "locked_out".',
            ),
        }
    )
    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        serializer = self.get_serializer(data=request.data)
        if serializer.is_valid():
            user = serializer.validated_data["user"]
            if has_second_factor(user):
                refusal = self._second_factor_refusal(
                    user, serializer.validated_data.get("otp", ""), client_address(request)
                )
                if refusal is not None:
                    return refusal
            issued = api_token_issue(
                user=user,
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
                ip_address=client_address(request),
            )
            return Response(
                IssuedTokenSerializer(
                    {"token": issued.secret, "expires_at": issued.row.expires_at}
                ).data
            )
        # django-axes marks a locked-out attempt on the request it was given (DRF's), and
        # Django's authenticate() turns its refusal into a plain failure: answer 429 here,
        # not "wrong password".
        if getattr(request, "axes_locked_out", False):
            return Response({"detail": lockout_message(), "code": LOCKED_OUT_CODE}, status=429)
        raise ValidationError(cast(Any, serializer.errors))

    @staticmethod
    def _second_factor_refusal(user: User, otp: str, address: str | None) -> Response | None:
        """401 unless ``otp`` is a code that the user's device accepts (once)."""
        if not otp.strip():
            detail, code = _("A code of the second factor is required (otp)."), OTP_REQUIRED
        elif otp_verify(user=user, code=otp, ip_address=address) is None:
            detail, code = _("The code is wrong or was already used."), OTP_INVALID
        else:
            return None
        return Response(
            {"detail": detail, "code": code},
            status=status.HTTP_401_UNAUTHORIZED,
            headers={"WWW-Authenticate": "Token"},
        )


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        """The signed-in user: username, role and organisation."""
        return Response(MeSerializer(cast(User, request.user)).data)


class InstitutionListView(generics.ListAPIView[Organization]):
    """Banks and payment institutions that instructions can be addressed to."""

    serializer_class = InstitutionSerializer

    def get_queryset(self) -> QuerySet[Organization]:
        return Organization.objects.institutions().order_by("code")


class TokenRevokeView(APIView):
    # A user who must enrol may still end their token.
    mfa_enrolment_exempt = True

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        """End the token of this request; it answers 401 from then on."""
        token = request.auth
        if not isinstance(token, ApiToken):
            return Response(
                {"detail": _("Only a token can revoke itself."), "code": TOKEN_REQUIRED_CODE},
                status=status.HTTP_403_FORBIDDEN,
            )
        api_token_revoke(
            actor=cast(User, request.user), token=token, ip_address=client_address(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiTokenListView(generics.ListAPIView[ApiToken]):
    """The signed-in user's live tokens (never the tokens themselves)."""

    serializer_class = ApiTokenSerializer

    def get_queryset(self) -> QuerySet[ApiToken]:
        return (
            ApiToken.objects.live()
            .filter(user_id=cast(User, self.request.user).pk)
            .order_by("-created_at")
        )


class ApiTokenRevokeView(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request, pk: int) -> Response:
        """End one of one's own tokens (404 for another's); ending it again changes nothing."""
        token = get_object_or_404(ApiToken, pk=pk, user_id=cast(User, request.user).pk)
        api_token_revoke(
            actor=cast(User, request.user), token=token, ip_address=client_address(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


def _refusal(refusal: MfaError) -> Response:
    """A refusal as the API's others: 400 ``{"code": [...]}`` or 409 ``{"detail", "code"}``."""
    if isinstance(refusal, WrongCode):
        return Response({"code": [refusal.message]}, status=status.HTTP_400_BAD_REQUEST)
    return Response({"detail": refusal.message, "code": refusal.code}, status=refusal.status)


class TotpEnrolView(APIView):
    # accounts.permissions.EXEMPT_ATTRIBUTE: reached by a user who must enrol.
    mfa_enrolment_exempt = True
    # Not funds' Idempotent: the answer carries the TOTP key, which must never be kept. A
    # retry gets a new key for a new unconfirmed device, which replaces the first.
    ignores_idempotency_key = True

    @extend_schema(
        request=None,
        responses={
            201: TotpEnrolmentSerializer,
            409: OpenApiResponse(
                PROBLEM, description='A confirmed device exists already ("invalid_state").'
            ),
        },
    )
    def post(self, request: Request) -> Response:
        """Start TOTP enrolment: a new unconfirmed device (replacing any unconfirmed one).

        A confirmed device is replaced only after an administrator's reset (409 until then).
        """
        try:
            device = totp_enrol_start(actor=cast(User, request.user))
        except MfaError as refusal:
            return _refusal(refusal)
        return Response(
            TotpEnrolmentSerializer(
                {"secret": b32encode(device.bin_key).decode(), "otpauth_uri": device.config_url}
            ).data,
            status=status.HTTP_201_CREATED,
        )


@method_decorator(sensitive_post_parameters(), name="dispatch")
class TotpConfirmView(APIView):
    mfa_enrolment_exempt = True
    # Not funds' Idempotent: the recovery codes are shown once and never kept. A retry after
    # success answers 409 (no device waits), changing nothing.
    ignores_idempotency_key = True

    @extend_schema(
        request=TotpConfirmSerializer,
        responses={
            200: RecoveryCodesSerializer,
            400: OpenApiResponse(description='A wrong or already used code: {"code": ["..."]}.'),
            409: OpenApiResponse(PROBLEM, description='No device waits ("invalid_state").'),
        },
    )
    def post(self, request: Request) -> Response:
        """Confirm the unconfirmed device with its current code; answer the recovery codes once."""
        serializer = TotpConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            codes = totp_enrol_confirm(
                actor=cast(User, request.user),
                code=serializer.validated_data["code"],
                ip_address=client_address(request),
            )
        except MfaError as refusal:
            return _refusal(refusal)
        response = Response(RecoveryCodesSerializer({"recovery_codes": codes}).data)
        response["Cache-Control"] = "no-store"
        return response
