from __future__ import annotations

from django.contrib import admin

from keyhouse.core.admin import ReadOnlyModelAdmin
from keyhouse.delivery.models import Delivery


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyModelAdmin):
    list_display = ("created_at", "channel", "template", "recipient", "status", "attempts")
    list_filter = ("channel", "status", "template", "created_at")
    search_fields = ("recipient",)
    date_hierarchy = "created_at"
