from __future__ import annotations

from django.contrib import admin

from keyhouse.audit.models import AuditEvent
from keyhouse.core.admin import ReadOnlyModelAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyModelAdmin):
    list_display = ("created_at", "type", "user", "ip")
    list_filter = ("type", "created_at")
    search_fields = ("user__email", "ip")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
