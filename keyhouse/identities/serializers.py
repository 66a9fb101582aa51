from __future__ import annotations

from typing import Any

from rest_framework import serializers

from keyhouse.accounts.serializers import PasswordField
from keyhouse.core.fields import OneTimeCodeField, StrictCharField
from keyhouse.identities.models import Identity
from keyhouse.identities.services import EmailCodeProof, LinkProof, PasswordProof
from keyhouse.tokens.serializers import TokenTransportInputSerializer

ID_TOKEN_MAX_LENGTH = 16384


class ProviderOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    display_name = serializers.CharField()
    id_tokens = serializers.BooleanField(
        help_text="Whether the native flow (an ID token from a platform SDK) works."
    )


class OAuthAuthorizeQuerySerializer(serializers.Serializer):
    redirect_to = StrictCharField(
        max_length=2048, help_text="Where the browser goes back to: an allowed origin's URL."
    )
    code_challenge = serializers.RegexField(
        r"^[A-Za-z0-9_-]{43}$",
        help_text="The app's PKCE S256 challenge (RFC 7636) for the Keyhouse code.",
    )
    code_challenge_method = serializers.ChoiceField(choices=["S256"], required=False)
    state = StrictCharField(
        max_length=512, required=False, allow_blank=True, help_text="Given back to the app."
    )


class IdentityAuthorizeInputSerializer(OAuthAuthorizeQuerySerializer):
    provider = StrictCharField(max_length=32)


class AuthorizationUrlOutputSerializer(serializers.Serializer):
    authorization_url = serializers.URLField(help_text="Send the browser there.")


class IdTokenInputSerializer(TokenTransportInputSerializer):
    id_token = StrictCharField(max_length=ID_TOKEN_MAX_LENGTH)
    nonce = StrictCharField(
        max_length=512,
        required=False,
        allow_blank=True,
        help_text="The raw nonce the app gave the provider's SDK; the ID token may hold it "
        "as it is or as its SHA-256 in hex (Sign in with Apple).",
    )


class LinkInputSerializer(TokenTransportInputSerializer):
    link_token = StrictCharField(max_length=256)
    password = PasswordField(required=False)
    code = OneTimeCodeField(
        required=False, help_text="From POST /api/v1/auth/oauth/link/send-code."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("password" in attrs) == ("code" in attrs):
            raise serializers.ValidationError("Send either password or code.")
        return attrs

    def proof(self) -> LinkProof:
        data = self.validated_data
        if "password" in data:
            return PasswordProof(password=data["password"])
        return EmailCodeProof(code=data["code"])


class LinkTokenInputSerializer(serializers.Serializer):
    link_token = StrictCharField(max_length=256)


class LinkRequiredOutputSerializer(serializers.Serializer):
    """What a 409 link_required carries besides the problem's own fields (for the docs)."""

    link_token = serializers.CharField()
    provider = serializers.CharField()
    email = serializers.EmailField()
    proofs = serializers.ListField(child=serializers.CharField())
    expires_in = serializers.IntegerField()


class IdentityAddInputSerializer(serializers.Serializer):
    """Either an ID token (native) or the code and verifier of a browser flow."""

    provider = StrictCharField(max_length=32, required=False)
    id_token = StrictCharField(max_length=ID_TOKEN_MAX_LENGTH, required=False)
    nonce = StrictCharField(max_length=512, required=False, allow_blank=True)
    code = StrictCharField(max_length=256, required=False)
    code_verifier = StrictCharField(max_length=128, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        sent = set(attrs)
        native, browser = {"provider", "id_token"}, {"code", "code_verifier"}
        if not ((native <= sent and not browser & sent) or (browser <= sent and not native & sent)):
            raise serializers.ValidationError(
                "Send provider and id_token, or code and code_verifier."
            )
        return attrs


class IdentityOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Identity
        fields = ("id", "provider", "email", "email_verified", "created_at", "last_sign_in_at")
        read_only_fields = fields
