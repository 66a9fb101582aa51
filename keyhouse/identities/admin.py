from __future__ import annotations

from django.contrib import admin

from keyhouse.core.admin import ReadOnlyModelAdmin
from keyhouse.identities.models import Identity


@admin.register(Identity)
class IdentityAdmin(ReadOnlyModelAdmin):
    """Identities change through their owners' API alone, which keeps the audit trail and
    never removes an account's last way to sign in; admins look them up here."""

    list_display = ("user", "provider", "email", "email_verified", "created_at", "last_sign_in_at")
    list_filter = ("provider", "email_verified", "created_at")
    search_fields = ("user__email", "email", "subject")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
