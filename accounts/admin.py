from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts.credentials import api_key_issue, api_key_revoke
from accounts.mfa import mfa_reset
from accounts.models import ApiKey, Organization, SecurityEvent, User


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin[Organization]):
    list_display = ["code", "name", "kind", "level", "parent"]
    list_filter = ["kind", "level"]
    search_fields = ["code", "name"]
    autocomplete_fields = ["parent"]
    ordering = ["path"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "get_full_name", "role", "organization", "is_active"]
    list_filter = ["role", "is_active", "organization__kind"]
    search_fields = [
        "username",
        "first_name",
        "last_name",
        "organization__name",
        "organization__code",
    ]
    autocomplete_fields = ["organization"]
    list_select_related = ["organization"]
    actions = ["reset_second_factor"]
    fieldsets = (
        *BaseUserAdmin.fieldsets,  # type: ignore[misc]
        (_("Role and organisation"), {"fields": ("role", "organization", "phone")}),
    )
    add_fieldsets = (
        *BaseUserAdmin.add_fieldsets,
        (_("Role and organisation"), {"fields": ("role", "organization")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        # The service accounts of banks' API keys are no persons: they are managed there.
        return super().get_queryset(request).filter(api_key__isnull=True)

    @admin.action(description=_("Reset second factor"))
    def reset_second_factor(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        """Delete the TOTP device and recovery codes and end the API tokens (a lost phone)."""
        assert isinstance(request.user, User)
        reset = sum(
            mfa_reset(actor=request.user, user=user, ip_address=request.META.get("REMOTE_ADDR"))
            for user in queryset.order_by("pk")
        )
        self.message_user(
            request,
            ngettext(
                "The second factor of %(n)d user was reset; they set it up again at sign-in.",
                "The second factors of %(n)d users were reset; they set them up again at sign-in.",
                reset,
            )
            % {"n": reset},
            messages.SUCCESS if reset else messages.WARNING,
        )


class ApiKeyAddForm(forms.ModelForm[ApiKey]):
    class Meta:
        model = ApiKey
        fields = ["institution", "name", "expires_at"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["institution"].queryset = Organization.objects.institutions()  # type: ignore[attr-defined]
        self.fields["expires_at"].initial = lambda: timezone.now() + settings.API_KEY_TTL
        self.fields["expires_at"].help_text = _("Required. Default: API_KEY_TTL from now.")

    def clean_expires_at(self) -> Any:
        expires_at = self.cleaned_data["expires_at"]
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError(_("An API key must expire in the future."))
        return expires_at


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin[ApiKey]):
    """Banks' API keys: issued here (the key is shown once, on the answer), revoked here."""

    list_display = [
        "name",
        "institution",
        "prefix",
        "status",
        "created_at",
        "expires_at",
        "first_used_at",
        "last_used_at",
    ]
    list_filter = ["institution", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "institution__code", "institution__name"]
    list_select_related = ["institution"]
    actions = ["revoke"]
    readonly_fields = [
        "institution",
        "name",
        "prefix",
        "user",
        "created_by",
        "created_at",
        "expires_at",
        "first_used_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    ]

    def get_form(
        self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        return self.readonly_fields if obj is not None else ApiKeyAddForm.Meta.fields

    @admin.display(description=_("status"))
    def status(self, obj: ApiKey) -> str:
        if obj.revoked_at is not None:
            return gettext("Revoked")
        return gettext("Live") if obj.is_live else gettext("Expired")

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        assert isinstance(request.user, User) and not change
        issued = api_key_issue(
            actor=request.user,
            institution=form.cleaned_data["institution"],
            name=form.cleaned_data["name"],
            expires_at=form.cleaned_data["expires_at"],
            ip_address=request.META.get("REMOTE_ADDR"),
        )
        obj.pk = issued.row.pk
        obj.refresh_from_db()
        obj._state.adding = False
        # Kept on the request only, for response_add: never in the session or a cookie.
        request._issued_api_key = issued.secret  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: Any = None) -> Any:
        """Show the key on this answer, the only time it is ever shown."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("API key issued"),
            "key": obj,
            "secret": request._issued_api_key,  # type: ignore[attr-defined]
        }
        # The admin's views are never cached (Cache-Control: no-store, private).
        return TemplateResponse(request, "admin/accounts/apikey/issued.html", context)

    @admin.action(description=_("Revoke the selected API keys"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        assert isinstance(request.user, User)
        revoked = sum(
            api_key_revoke(actor=request.user, key=key, ip_address=request.META.get("REMOTE_ADDR"))
            for key in queryset.select_related("institution").order_by("pk")
        )
        self.message_user(
            request,
            ngettext("%(n)d API key revoked.", "%(n)d API keys revoked.", revoked) % {"n": revoked},
            messages.SUCCESS if revoked else messages.WARNING,
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Viewable, never edited: a key is issued, then only revoked (the action).
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SecurityEvent)
class SecurityEventAdmin(admin.ModelAdmin[SecurityEvent]):
    """Sign-ins, credentials, users and organisations, read-only (append-only and chained
    in the database too)."""

    list_display = ["chain_seq", "at", "type", "user", "api_key", "actor", "ip_address", "hash"]
    search_fields = ["hash", "user__username"]
    # Set by PostgreSQL, so not in the model's form: shown besides it.
    readonly_fields = ["chain_seq", "prev_hash", "hash"]
    list_filter = ["type"]
    list_select_related = ["api_key", "actor", "user"]
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
