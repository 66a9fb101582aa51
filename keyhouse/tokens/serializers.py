from __future__ import annotations

from typing import Any

from rest_framework import serializers

from keyhouse.tokens.models import LoginSession
from keyhouse.users.serializers import UserOutputSerializer

TRANSPORTS = ("body", "cookie")


class TokenTransportInputSerializer(serializers.Serializer):
    """Lets a browser ask for its refresh token in an HttpOnly cookie instead of JSON."""

    refresh_token_transport = serializers.ChoiceField(
        choices=TRANSPORTS,
        required=False,
        help_text="'cookie' sets the refresh token in an HttpOnly cookie (Secure and "
        "SameSite=Strict unless the server says otherwise) scoped to the refresh endpoint "
        "instead of returning it. Defaults to the server's KEYHOUSE_REFRESH_TOKEN_TRANSPORT.",
    )


class TokenRefreshInputSerializer(TokenTransportInputSerializer):
    refresh_token = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Required unless the refresh token travels in the cookie.",
    )


_TOKEN_REFRESH_INPUT = TokenRefreshInputSerializer()


def token_refresh_input(data: Any) -> dict[str, Any]:
    """Validate a refresh request's JSON body, or raise ValidationError as ``is_valid`` does.

    One serializer bound at import does it: binding a serializer's fields costs more than
    validating them, and this runs on every refresh. Validating keeps no state on the
    serializer, so threads can share it.
    """
    return _TOKEN_REFRESH_INPUT.run_validation(data)


class OAuthRefreshInputSerializer(serializers.Serializer):
    """The OAuth form of a refresh (RFC 6749 section 6), for the schema.

    keyhouse.tokens.oauth reads the form itself, to answer in OAuth's error shape and to
    refuse repeated parameters, which a serializer cannot see. A parameter sent without a
    value counts as left out (RFC 6749 section 3.2): an optional one may be empty.
    """

    grant_type = serializers.ChoiceField(choices=["refresh_token"])
    refresh_token = serializers.CharField()
    client_id = serializers.CharField(required=False, allow_blank=True)


class OAuthCodeInputSerializer(serializers.Serializer):
    """The OAuth form that redeems a sign-in's one-time code (RFC 7636 section 4.5)."""

    grant_type = serializers.ChoiceField(choices=["authorization_code"])
    code = serializers.CharField(help_text="The code the sign-in sent the app back with.")
    code_verifier = serializers.CharField(help_text="The PKCE verifier of its code_challenge.")
    redirect_uri = serializers.CharField(
        required=False, allow_blank=True, help_text="If sent, the sign-in's redirect_to."
    )
    refresh_token_transport = serializers.ChoiceField(
        choices=TRANSPORTS,
        required=False,
        help_text="'cookie' sets the refresh token in the HttpOnly cookie, as the JSON "
        "sign-ins do; the body by default.",
    )
    client_id = serializers.CharField(required=False, allow_blank=True)


class OAuthRevokeInputSerializer(serializers.Serializer):
    """A revocation request (RFC 7009 section 2.1), for the schema, read as above."""

    token = serializers.CharField()
    token_type_hint = serializers.CharField(required=False, allow_blank=True)
    client_id = serializers.CharField(required=False, allow_blank=True)


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
