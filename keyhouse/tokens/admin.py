from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from keyhouse.core.admin import ReadOnlyModelAdmin
from keyhouse.core.http import client_info
from keyhouse.tokens.models import LoginSession, SigningKey
from keyhouse.tokens.services import session_revoke


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyModelAdmin):
    list_display = ("kid", "algorithm", "created_at", "activates_at", "retired_at")
    fields = ("kid", "algorithm", "public_jwk", "created_at", "activates_at", "retired_at")


@admin.register(LoginSession)
class LoginSessionAdmin(ReadOnlyModelAdmin):
    list_display = ("id", "user", "ip", "created_at", "last_refreshed_at", "revoked_at")
    list_filter = ("revoked_at", "created_at")
    search_fields = ("user__email", "ip", "id")
    list_select_related = ("user",)
    actions = ("revoke_sessions",)

    @admin.action(description=_("Sign out the selected sessions"))
    def revoke_sessions(self, request: HttpRequest, queryset: QuerySet[LoginSession]) -> None:
        client = client_info(request)
        ended = sum(
            session_revoke(session=session, reason="admin", client=client, by=request.user.pk)
            for session in queryset
        )
        self.message_user(request, _("%(count)d sessions signed out.") % {"count": ended})
