"""The user admin, extended with what the other apps know about a user."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from keyhouse.accounts.forms import AdminLoginForm
from keyhouse.accounts.models import PendingSignup
from keyhouse.accounts.services.account import password_set_by_admin, user_set_active
from keyhouse.core.admin import ReadOnlyModelAdmin
from keyhouse.core.http import client_info
from keyhouse.mfa.models import Passkey, TotpFactor
from keyhouse.mfa.services.factors import totp_factors_remove_by_admin
from keyhouse.mfa.services.passkeys import passkeys_remove_by_admin
from keyhouse.tokens.models import LoginSession
from keyhouse.tokens.services import session_revoke_all
from keyhouse.users.admin import UserAdmin
from keyhouse.users.models import User


class LoginSessionInline(admin.TabularInline):
    model = LoginSession
    fields = (
        "id",
        "amr",
        "aal",
        "ip",
        "user_agent",
        "created_at",
        "last_refreshed_at",
        "revoked_at",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-last_refreshed_at",)
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class AccountUserAdmin(UserAdmin):
    inlines = (LoginSessionInline,)
    actions = ("sign_out_everywhere", "deactivate", "reactivate", "remove_second_factors")

    def get_inlines(self, request: HttpRequest, obj: User | None) -> tuple:
        return self.inlines if obj is not None else ()

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> tuple:
        return (*super().get_readonly_fields(request, obj), "second_factors")

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> tuple:
        fieldsets = tuple(super().get_fieldsets(request, obj))
        if obj is None:
            return fieldsets
        return (*fieldsets, (_("Second factors"), {"fields": ("second_factors",)}))

    @admin.display(description=_("Authenticator apps and passkeys"))
    def second_factors(self, user: User) -> str:
        """The user's apps and passkeys, never their seeds or keys; removed with the action
        on the user list (passkeys one by one on the passkey list too)."""
        factors = TotpFactor.objects.filter(user=user)
        passkeys = Passkey.objects.filter(user=user)
        if not factors and not passkeys:
            return _("None")
        lines = [
            (
                factor.name,
                _("confirmed %(when)s") % {"when": f"{factor.confirmed_at:%Y-%m-%d %H:%M}"}
                if factor.confirmed_at
                else _("pending"),
            )
            for factor in factors
        ] + [
            (
                passkey.name,
                _("passkey, added %(when)s") % {"when": f"{passkey.created_at:%Y-%m-%d %H:%M}"},
            )
            for passkey in passkeys
        ]
        return format_html_join(mark_safe("<br>"), "{} ({})", lines)

    @admin.action(description=_("Sign out everywhere"))
    def sign_out_everywhere(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        client = client_info(request)
        ended = sum(
            session_revoke_all(user_id=user.pk, reason="admin", client=client, by=request.user.pk)
            for user in queryset.only("pk")
        )
        self.message_user(request, _("%(count)d sessions signed out.") % {"count": ended})

    @admin.action(description=_("Deactivate (and sign out everywhere)"))
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        client = client_info(request)
        for user in queryset:
            user_set_active(user=user, active=False, client=client, by=request.user.pk)
        self.message_user(request, _("The selected users were deactivated."))

    @admin.action(description=_("Reactivate"))
    def reactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        client = client_info(request)
        for user in queryset:
            user_set_active(user=user, active=True, client=client, by=request.user.pk)
        self.message_user(request, _("The selected users were reactivated."))

    @admin.action(description=_("Remove second factors (the user is told by email)"))
    def remove_second_factors(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        client = client_info(request)
        removed = sum(
            totp_factors_remove_by_admin(user=user, client=client, by=request.user.pk)
            + passkeys_remove_by_admin(
                user=user, client=client, by=request.user.pk, passkey_ids=None
            )
            for user in queryset
        )
        self.message_user(request, _("%(count)d second factors removed.") % {"count": removed})

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        """Setting a password here ends the user's sessions and is recorded, as a reset is."""
        with transaction.atomic():
            user = self.get_object(request, unquote(id))
            response = super().user_change_password(request, id, form_url)
            if (
                user is not None
                and request.method == "POST"
                and User.objects.filter(pk=user.pk).exclude(password=user.password).exists()
            ):
                password_set_by_admin(user=user, client=client_info(request), by=request.user.pk)
        return response

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        """Unticking "active" on the user page signs the user out everywhere too."""
        active = obj.is_active
        if change and "is_active" in form.changed_data:
            obj.is_active = not active
            super().save_model(request, obj, form, change)
            user_set_active(
                user=obj, active=active, client=client_info(request), by=request.user.pk
            )
        else:
            super().save_model(request, obj, form, change)


@admin.register(PendingSignup)
class PendingSignupAdmin(ReadOnlyModelAdmin):
    """Sign-ups waiting for their code: no account exists for them yet."""

    list_display = ("email", "display_name", "created_at", "updated_at")
    search_fields = ("email",)
    date_hierarchy = "created_at"
    exclude = ("password",)


admin.site.login_form = AdminLoginForm
admin.site.login_template = "accounts/admin_login.html"
admin.site.unregister(User)
admin.site.register(User, AccountUserAdmin)
