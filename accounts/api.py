"""Identity endpoints of API v1: token, me, institutions."""

from typing import cast

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.lockout import LOCKED_OUT_CODE, lockout_message
from accounts.models import Organization, User
from accounts.serializers import InstitutionSerializer, MeSerializer


class TokenView(ObtainAuthToken):
    """Exchange a username and password for an API token (``Authorization: Token <token>``)."""

    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        serializer = self.get_serializer(data=request.data)
        if serializer.is_valid():
            token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
            return Response({"token": token.key})
        # django-axes marks a locked-out attempt on the request it was given (DRF's), and
        # Django's authenticate() turns its refusal into a plain failure: answer 429 here,
        # not "wrong password".
        if getattr(request, "axes_locked_out", False):
            return Response({"detail": lockout_message(), "code": LOCKED_OUT_CODE}, status=429)
        raise ValidationError(serializer.errors)


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
