"""Passkeys in the admin: listed without their keys, removed through the service."""

from __future__ import annotations

from itertools import groupby

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from keyhouse.core.admin import ReadOnlyModelAdmin
from keyhouse.core.http import client_info
from keyhouse.mfa.models import Passkey
from keyhouse.mfa.services.passkeys import passkeys_remove_by_admin


@admin.register(Passkey)
class PasskeyAdmin(ReadOnlyModelAdmin):
    """Staff see each passkey (never its key) and delete those a user lost; the user is
    told by email, and the removal recorded with the acting admin."""

    list_display = ("name", "user", "created_at", "last_used_at", "backed_up", "sign_count")
    list_select_related = ("user",)
    search_fields = ("user__email", "name")
    exclude = ("public_key",)
    date_hierarchy = "created_at"

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return admin.ModelAdmin.has_delete_permission(self, request, obj)

    def delete_model(self, request: HttpRequest, obj: Passkey) -> None:
        self.delete_queryset(request, Passkey.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Passkey]) -> None:
        client = client_info(request)
        passkeys = queryset.select_related("user").order_by("user_id")
        for _user_id, owned in groupby(passkeys, key=lambda passkey: passkey.user_id):
            owned = list(owned)
            passkeys_remove_by_admin(
                user=owned[0].user,
                client=client,
                by=request.user.pk,
                passkey_ids=[passkey.pk for passkey in owned],
            )
