from __future__ import annotations

from django.contrib import admin

from keyhouse.codes.models import OneTimeCode
from keyhouse.core.admin import ReadOnlyModelAdmin


@admin.register(OneTimeCode)
class OneTimeCodeAdmin(ReadOnlyModelAdmin):
    list_display = (
        "purpose",
        "target",
        "created_at",
        "expires_at",
        "attempts",
        "consumed_at",
        "invalidated_at",
    )
    list_filter = ("purpose", "provider", "created_at")
    search_fields = ("target", "user__email")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    exclude = ("code_hash",)
