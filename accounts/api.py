"""Identity endpoints of API v1: token, me, institutions."""

from typing import Any, cast

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
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
from accounts.models import ApiToken, Organization, User
from accounts.serializers import (
    ApiTokenSerializer,
    InstitutionSerializer,
    IssuedTokenSerializer,
    MeSerializer,
    SignInSerializer,
)
from accounts.throttles import AnonThrottle, SignInAddressThrottle, SignInUsernameThrottle

# {"detail", "code"}, as the API's other refusals (casetracker.api_schema's Problem).
THROTTLED = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "required": ["detail"],
}
TOKEN_REQUIRED_CODE = "token_required"  # noqa: S105 - an error code, not a secret


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
            429: OpenApiResponse(
                THROTTLED,
                description='Too many sign-ins (with Retry-After), or locked out: "locked_out".',
            ),
        }
    )
    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        serializer = self.get_serializer(data=request.data)
        if serializer.is_valid():
            issued = api_token_issue(
                user=serializer.validated_data["user"],
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
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        """End the token of this request; it answers 401 from then on."""
        token = request.auth
        if not isinstance(token, ApiToken):
            return Response(
                {"detail": _("Only a token can revoke itself."), "code": TOKEN_REQUIRED_CODE},
                status=status.HTTP_403_FORBIDDEN,
            )
        api_token_revoke(actor=cast(User, request.user), token=token)
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
        api_token_revoke(actor=cast(User, request.user), token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)
