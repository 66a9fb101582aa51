from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from keyhouse.users.models import User


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserChangeForm(DjangoUserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class VerifiedFilter(admin.SimpleListFilter):
    """Filter on whether a ``<field>`` timestamp is set."""

    field: str

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("yes", "no"):
            return queryset.filter(**{f"{self.field}__isnull": self.value() == "no"})
        return queryset


class EmailVerifiedFilter(VerifiedFilter):
    title = _("email verified")
    parameter_name = "email_verified"
    field = "email_verified_at"


class PhoneVerifiedFilter(VerifiedFilter):
    title = _("phone verified")
    parameter_name = "phone_verified"
    field = "phone_verified_at"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    list_display = ("email", "phone", "display_name", "is_active", "is_staff", "date_joined")
    list_filter = (EmailVerifiedFilter, PhoneVerifiedFilter, "is_active", "is_staff")
    search_fields = ("email", "phone", "display_name")
    ordering = ("-date_joined",)
    readonly_fields = (
        "id",
        "date_joined",
        "last_login",
        "email_verified_at",
        "phone_verified_at",
    )
    fieldsets = (
        (None, {"fields": ("id", "email", "password")}),
        (_("Profile"), {"fields": ("display_name", "phone")}),
        (_("Verification"), {"fields": ("email_verified_at", "phone_verified_at")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "usable_password", "password1", "password2"),
            },
        ),
    )
