from __future__ import annotations

from rest_framework import serializers

from keyhouse.tokens.models import LoginSession
from keyhouse.users.serializers import UserOutputSerializer

TRANSPORTS = ("body", "cookie")


class TokenTransportInputSerializer(serializers.Serializer):
    """Lets a browser ask for its refresh token in an HttpOnly cookie instead of JSON."""

    refresh_token_transport = serializers.ChoiceField(
        choices=TRANSPORTS,
        required=False,
        help_text="'cookie' sets the refresh token in an HttpOnly, Secure, SameSite=Strict "
        "cookie scoped to the refresh endpoint instead of returning it. Defaults to the "
        "server's KEYHOUSE_REFRESH_TOKEN_TRANSPORT.",
    )


class TokenRefreshInputSerializer(TokenTransportInputSerializer):
    refresh_token = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Required unless the refresh token travels in the cookie.",
    )


class TokenPairOutputSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField(default="Bearer")
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")
    refresh_token = serializers.CharField(
        required=False, help_text="Absent when the refresh token travels in the cookie."
    )
    user = UserOutputSerializer()


class LogoutInputSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(
        choices=("current", "others", "all"),
        default="current",
        help_text="current: this session; others: every other session; all: every session.",
    )


class SessionOutputSerializer(serializers.ModelSerializer):
    last_used_at = serializers.DateTimeField(source="last_refreshed_at")
    current = serializers.SerializerMethodField()

    class Meta:
        model = LoginSession
        fields = ("id", "created_at", "last_used_at", "ip", "user_agent", "amr", "aal", "current")
        read_only_fields = fields

    def get_current(self, session: LoginSession) -> bool:
        return session.pk == self.context["current_session_id"]


class JwksOutputSerializer(serializers.Serializer):
    keys = serializers.ListField(child=serializers.DictField())
