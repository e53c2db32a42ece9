from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization, User


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
    fieldsets = (
        *BaseUserAdmin.fieldsets,  # type: ignore[misc]
        (_("Role and organisation"), {"fields": ("role", "organization", "phone")}),
    )
    add_fieldsets = (
        *BaseUserAdmin.add_fieldsets,
        (_("Role and organisation"), {"fields": ("role", "organization")}),
    )
