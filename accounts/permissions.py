"""The API's side of MFA_REQUIRED_ROLES: 403 mfa_enrolment_required until enrolled.

A DRF permission, not a Django middleware: DRF authenticates tokens and API keys inside the
view, so a middleware would see those requests as anonymous.
"""

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, permissions
from rest_framework.request import Request

from accounts.mfa import ENROLMENT_REQUIRED, has_second_factor, must_enrol_role
from accounts.models import ApiKey, User

# Views that a user who must enrol still reaches (enrolment itself, ending one's token).
EXEMPT_ATTRIBUTE = "mfa_enrolment_exempt"


class EnrolmentRequired(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not isinstance(user, User) or not user.is_authenticated:
            return True  # IsAuthenticated answers for the anonymous
        # Banks' systems sign in with an API key: never subject to TOTP, though its service
        # user is a liaison.
        if isinstance(request.auth, ApiKey) or getattr(view, EXEMPT_ATTRIBUTE, False):
            return True
        if not must_enrol_role(user) or has_second_factor(user):
            return True
        raise exceptions.PermissionDenied(
            {
                "detail": _("Set up the second factor first (POST /api/v1/auth/mfa/totp/)."),
                "code": ENROLMENT_REQUIRED,
            },
            code=ENROLMENT_REQUIRED,
        )
